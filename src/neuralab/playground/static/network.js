// The network drawing: a column of nodes per layer (inputs, hidden layers, output), each
// node a thumbnail of its output over the plane; links drawn with width and colour by weight.
// Hover a node: it is shown large (the server sends its full image); hover a link: its value;
// click a link (or a node, for its bias) to edit it while training goes on.

import {paint} from "./heatmap.js";

const NODE = 36, GAP = 12, COL = 100, TOP = 28;
const SVG = "http://www.w3.org/2000/svg";
const FEATURE_NAMES = {"x1": "x₁", "x2": "x₂", "x1^2": "x₁²", "x2^2": "x₂²", "x1*x2": "x₁x₂",
  "sin(x1)": "sin x₁", "sin(x2)": "sin x₂"};

export class NetworkView {
  constructor(root, {onFocus, onEdit, onNeurons, tooltip, editor}) {
    Object.assign(this, {root, onFocus, onEdit, onNeurons, tooltip, editor});
    this.shape = null; this.links = []; this.nodes = [];
    this.weights = null;
  }

  /** Rebuild the drawing for layer sizes ``shape`` = [n_in, h1, ..., n_out]. */
  build(shape, features) {
    this.shape = Array.from(shape); this.features = features; this.inputsDrawn = null;
    const root = this.root;
    root.replaceChildren();
    const tallest = Math.max(...this.shape);
    const height = TOP + tallest * (NODE + GAP) + 10, width = (this.shape.length - 1) * COL + NODE + 20;
    root.style.height = `${height}px`; root.style.width = `${width}px`;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", width); svg.setAttribute("height", height);
    svg.classList.add("links");
    root.appendChild(svg);
    const at = (c, i) => [10 + c * COL + NODE / 2, TOP + i * (NODE + GAP) + NODE / 2];
    this.links = [];
    for (let l = 0; l < this.shape.length - 1; l++) {
      for (let i = 0; i < this.shape[l + 1]; i++) {
        for (let j = 0; j < this.shape[l]; j++) {
          const [x1, y1] = at(l, j), [x2, y2] = at(l + 1, i);
          const line = document.createElementNS(SVG, "line");
          Object.entries({x1: x1 + NODE / 2, y1, x2: x2 - NODE / 2, y2}).forEach(([k, v]) => line.setAttribute(k, v));
          line.setAttribute("role", "button");
          line.setAttribute("aria-label", `Weight from ${this.nodeName(l, j)} to ${this.nodeName(l + 1, i)}`);
          line.dataset.layer = l; line.dataset.i = i; line.dataset.j = j;
          line.addEventListener("mouseenter", (e) => this.showWeight(e, line));
          line.addEventListener("mouseleave", () => { this.tooltip.hidden = true; });
          line.addEventListener("click", (e) => this.edit(e, l, i, j));
          svg.appendChild(line);
          this.links.push(line);
        }
      }
    }
    this.nodes = [];
    this.shape.forEach((n, c) => {
      const column = [];
      for (let i = 0; i < n; i++) {
        const [x, y] = at(c, i);
        const canvas = document.createElement("canvas");
        canvas.width = 20; canvas.height = 20;
        canvas.className = "node";
        canvas.style.left = `${x - NODE / 2}px`; canvas.style.top = `${y - NODE / 2}px`;
        canvas.setAttribute("aria-label", this.nodeName(c, i));
        canvas.tabIndex = 0;
        canvas.addEventListener("mouseenter", () => this.onFocus(c, i));
        canvas.addEventListener("focus", () => this.onFocus(c, i));
        canvas.addEventListener("mouseleave", () => this.onFocus(null, 0));
        if (c > 0) canvas.addEventListener("click", (e) => this.edit(e, c - 1, i, this.shape[c - 1]));
        root.appendChild(canvas);
        column.push(canvas);
        if (c === 0) {
          const label = document.createElement("span");
          label.className = "feature-label"; label.textContent = FEATURE_NAMES[features[i]] ?? features[i];
          label.style.left = "0px"; label.style.top = `${y + NODE / 2}px`;
          root.appendChild(label);
        }
      }
      this.nodes.push(column);
      if (c > 0 && c < this.shape.length - 1) this.layerButtons(c, at(c, 0)[0]);
    });
  }

  nodeName(c, i) {
    if (c === 0) return `Network input ${this.features[i]}`;
    if (c === this.shape.length - 1) return `Output ${i + 1}`;
    return `Neuron ${i + 1} of layer ${c}`;
  }

  layerButtons(c, x) {
    for (const [sign, label] of [[1, `Add a neuron to layer ${c}`], [-1, `Remove a neuron from layer ${c}`]]) {
      const b = document.createElement("button");
      b.type = "button"; b.className = "neuron-button"; b.textContent = sign > 0 ? "+" : "−";
      b.setAttribute("aria-label", label);
      b.style.left = `${x - (sign > 0 ? 20 : -2)}px`; b.style.top = "2px";
      b.addEventListener("click", () => this.onNeurons(c - 1, sign));
      this.root.appendChild(b);
    }
  }

  /** New weights θ (float32, layer by layer: W row-major then b) and node images. */
  update(weights, neurons, inputs, output) {
    this.weights = weights;
    let offset = 0, k = 0;
    const offsets = [];
    for (let l = 0; l < this.shape.length - 1; l++) {
      offsets.push(offset);
      offset += this.shape[l + 1] * (this.shape[l] + 1);
    }
    this.offsets = offsets;
    for (const line of this.links) {
      const w = this.weight(+line.dataset.layer, +line.dataset.i, +line.dataset.j);
      line.setAttribute("stroke", w >= 0 ? "#0877bd" : "#f59322");
      line.setAttribute("stroke-width", Math.min(8, 0.4 + Math.abs(w) * 2).toFixed(2));
      k++;
    }
    const T = 20 * 20;
    if (inputs && inputs !== this.inputsDrawn) {      // the inputs' pictures change with the data only
      this.nodes[0].forEach((cv, i) => paint(cv, inputs.subarray(i * T, (i + 1) * T), 20));
      this.inputsDrawn = inputs;
    }
    let n = 0;
    for (let c = 1; c < this.shape.length - 1; c++) {
      this.nodes[c].forEach((cv) => { if (neurons) paint(cv, neurons.subarray(n * T, (n + 1) * T), 20); n++; });
    }
    const last = this.nodes[this.nodes.length - 1];
    if (output && last.length === 1) paint(last[0], output, 100);
    else if (neurons) last.forEach((cv) => { paint(cv, neurons.subarray(n * T, (n + 1) * T), 20); n++; });
  }

  weight(l, i, j) {
    const n_in = this.shape[l];
    if (!this.weights) return 0;
    return j === n_in ? this.weights[this.offsets[l] + this.shape[l + 1] * n_in + i]
      : this.weights[this.offsets[l] + i * n_in + j];
  }

  showWeight(event, line) {
    const w = this.weight(+line.dataset.layer, +line.dataset.i, +line.dataset.j);
    this.tooltip.textContent = `weight ${w.toPrecision(4)}`;
    this.tooltip.hidden = false;
    this.tooltip.style.left = `${event.pageX + 12}px`; this.tooltip.style.top = `${event.pageY + 8}px`;
  }

  edit(event, layer, i, j) {
    const input = this.editor.querySelector("input");
    const isBias = j === this.shape[layer];
    this.editor.querySelector("label").firstChild.textContent = isBias ? "Bias value " : "Weight value ";
    input.value = this.weight(layer, i, j).toPrecision(4);
    this.editor.hidden = false;
    this.editor.style.left = `${event.pageX}px`; this.editor.style.top = `${event.pageY}px`;
    input.focus(); input.select();
    input.onkeydown = (e) => {
      if (e.key === "Enter") {
        const value = Number(input.value);
        this.editor.hidden = true;
        this.onEdit(layer, i, j, value);
      } else if (e.key === "Escape") this.editor.hidden = true;
    };
  }
}
