// The network drawing, spread over its whole panel: a column per layer (all seven inputs,
// the hidden layers, the output), each node a picture of its output over the plane; curved
// links whose width and colour show the weight; a small square per neuron for its bias.
// Inputs that are off are drawn grey: click one (or its box) to switch it. Hover a node: the
// main heatmap shows it; hover a link or a bias: its value; click it to edit it.

import {paint} from "./heatmap.js";

const SVG = "http://www.w3.org/2000/svg";
const LABEL_W = 74;
export const FEATURE_NAMES = {"x1": "x₁", "x2": "x₂", "x1^2": "x₁²", "x2^2": "x₂²", "x1*x2": "x₁x₂",
  "sin(x1)": "sin x₁", "sin(x2)": "sin x₂"};

/** Node size, column spacing and height for ``shape`` in a panel ``width`` px wide. */
export function layout(shape, nInputs, width, height = Infinity, button = 26) {
  const columns = shape.length;
  const rows = Math.max(nInputs, ...shape.slice(1));
  const spacingFor = (node) => (columns > 1 ? (width - LABEL_W - node - 8) / (columns - 1) : 0);
  // the +/− buttons of a layer side by side, or one above the other where columns are narrow
  const stacked = spacingFor(40) < 2 * button + 6;
  const labelTop = (stacked ? 2 * button + 4 : button) + 4, top = labelTop + 20;
  const byWidth = (width - LABEL_W) / (columns * 1.6), byHeight = (height - top) / (rows * 1.3);
  const node = Math.round(Math.max(28, Math.min(56, byWidth, Math.max(40, byHeight))));
  const gap = Math.max(8, Math.round(node * 0.3));
  return {node, gap, spacing: spacingFor(node), rows, stacked, button, labelTop, top,
    height: top + rows * (node + gap) + 6};
}

export class NetworkView {
  constructor(root, {onFocus, onEdit, onNeurons, onFeatures, tooltip, editor, allFeatures, maxNeurons}) {
    Object.assign(this, {root, onFocus, onEdit, onNeurons, onFeatures, tooltip, editor, allFeatures, maxNeurons});
    this.shape = null; this.links = []; this.nodes = []; this.biases = [];
    this.weights = null; this.hovered = null;
  }

  /** Rebuild the drawing for layer sizes ``shape`` = [n_in, h1, ..., n_out] and the
   * switched-on ``features`` (in the canonical order of ``allFeatures``). */
  build(shape, features) {
    this.shape = Array.from(shape); this.features = [...features]; this.inputsDrawn = null;
    const root = this.root, all = this.allFeatures;
    root.replaceChildren();
    const width = Math.max(280, root.clientWidth || 600);
    // as large as the panel's width allows, and within the window's height (≥ 40 px nodes)
    const top = root.getBoundingClientRect().top + window.scrollY;
    const button = window.matchMedia("(max-width: 700px)").matches ? 40 : 26;   // style.css
    const L = layout(this.shape, all.length, width, Math.max(300, window.innerHeight - top - 60), button);
    this.layoutInfo = L;
    const N = L.node;
    root.style.height = `${L.height}px`;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", width); svg.setAttribute("height", L.height);
    svg.classList.add("links");
    root.appendChild(svg);
    // the node's centre: inputs in their fixed slots; other columns centred vertically
    const rowY = (i, n) => L.top + (i + (L.rows - n) / 2) * (N + L.gap) + N / 2;
    const slot = (j) => all.indexOf(this.features[j]);
    const at = (c, i) => {
      const x = LABEL_W + c * L.spacing + N / 2;
      return c === 0 ? [x, rowY(slot(i), all.length)] : [x, rowY(i, this.shape[c])];
    };
    this.links = [];
    for (let l = 0; l < this.shape.length - 1; l++) {
      for (let i = 0; i < this.shape[l + 1]; i++) {
        for (let j = 0; j < this.shape[l]; j++) {
          const [x1, y1] = at(l, j), [x2, y2] = at(l + 1, i);
          const a = x1 + N / 2, b = x2 - N / 2, mid = (a + b) / 2;
          const path = document.createElementNS(SVG, "path");
          path.setAttribute("d", `M${a},${y1} C${mid},${y1} ${mid},${y2} ${b},${y2}`);
          path.classList.add("link");
          path.setAttribute("role", "button");
          path.setAttribute("aria-label", `Weight from ${this.nodeName(l, j)} to ${this.nodeName(l + 1, i)}`);
          path.dataset.layer = l; path.dataset.i = i; path.dataset.j = j;
          path.addEventListener("mouseenter", (e) => this.showWeight(e, l, i, j));
          path.addEventListener("mouseleave", () => this.hideTip());
          path.addEventListener("click", (e) => this.edit(e, l, i, j));
          svg.appendChild(path);
          this.links.push(path);
        }
      }
    }
    this.nodes = []; this.biases = []; this.marks = [];
    this.centers = this.shape.map((n, c) => Array.from({length: n}, (_, i) => at(c, i)));
    // every input, on or off: off ones grey, a click switches them
    all.forEach((name, s) => {
      const on = this.features.indexOf(name);
      const x = LABEL_W + N / 2, y = rowY(s, all.length);
      const label = document.createElement("label");
      label.className = "feature-label"; label.dataset.hide = "features";
      label.style.right = `${width - LABEL_W + 6}px`; label.style.top = `${y - 10}px`;
      const box = document.createElement("input");
      box.type = "checkbox"; box.checked = on >= 0; box.className = "feature-toggle"; box.value = name;
      box.setAttribute("aria-label", `Input ${name}`);
      box.addEventListener("change", () => this.toggle(name, box.checked));
      label.append(box, ` ${FEATURE_NAMES[name] ?? name}`);
      root.appendChild(label);
      if (on < 0) {
        const off = this.nodeCanvas(x, y, N, `Input ${name} (off)`);
        off.classList.add("input-off");
        off.title = `${name} is off: click to use it`;
        off.addEventListener("click", () => this.toggle(name, true));
        root.appendChild(off);
      }
    });
    this.shape.forEach((n, c) => {
      const column = [];
      for (let i = 0; i < n; i++) {
        const [x, y] = at(c, i);
        const canvas = this.nodeCanvas(x, y, N, this.nodeName(c, i));
        canvas.tabIndex = 0;
        canvas.addEventListener("mouseenter", () => this.onFocus(c, i));
        canvas.addEventListener("focus", () => this.onFocus(c, i));
        canvas.addEventListener("mouseleave", () => this.onFocus(null, 0));
        canvas.addEventListener("blur", () => this.onFocus(null, 0));
        if (c === 0) canvas.addEventListener("click", () => this.toggle(this.features[i], false));
        else canvas.addEventListener("click", (e) => this.edit(e, c - 1, i, this.shape[c - 1]));
        root.appendChild(canvas);
        column.push(canvas);
        if (c > 0) this.biasMark(c, i, x - N / 2 - 6, y + N / 2 - 6);
      }
      this.nodes.push(column);
      const [x] = at(c, 0);
      this.layerLabel(c, x);
      if (c > 0 && c < this.shape.length - 1) this.layerButtons(c, x);
    });
  }

  nodeCanvas(x, y, size, name) {
    const canvas = document.createElement("canvas");
    canvas.width = 20; canvas.height = 20;
    canvas.className = "node";
    Object.assign(canvas.style, {left: `${x - size / 2}px`, top: `${y - size / 2}px`, width: `${size}px`, height: `${size}px`});
    canvas.setAttribute("aria-label", name);
    return canvas;
  }

  biasMark(c, i, left, top) {
    const mark = document.createElement("div");
    mark.className = "bias";
    mark.style.left = `${left}px`; mark.style.top = `${top}px`;
    mark.setAttribute("role", "button");
    mark.setAttribute("aria-label", `Bias of ${this.nodeName(c, i)}`);
    mark.dataset.layer = c - 1; mark.dataset.i = i;
    const j = this.shape[c - 1];
    mark.addEventListener("mouseenter", (e) => this.showWeight(e, c - 1, i, j));
    mark.addEventListener("mouseleave", () => this.hideTip());
    mark.addEventListener("click", (e) => { e.stopPropagation(); this.edit(e, c - 1, i, j); });
    this.root.appendChild(mark);
    this.biases.push(mark);
  }

  layerLabel(c, x) {
    const last = this.shape.length - 1;
    const span = document.createElement("span");
    span.className = "layer-label";
    const short = this.layoutInfo.spacing < 70;       // a narrow panel: the short form
    span.textContent = c === 0 ? (short ? "in" : "inputs") : c === last ? (short ? "out" : "output")
      : short ? `${this.shape[c]}` : `layer ${c}: ${this.shape[c]}`;
    span.title = c === 0 ? "inputs" : c === last ? "output" : `layer ${c}: ${this.shape[c]} neurons`;
    span.style.left = `${x - 40}px`; span.style.width = "80px"; span.style.top = `${this.layoutInfo.labelTop}px`;
    this.root.appendChild(span);
  }

  toggle(name, on) {
    const next = this.allFeatures.filter((f) => (f === name ? on : this.features.includes(f)));
    this.onFeatures(next);
  }

  nodeName(c, i) {
    if (c === 0) return `Network input ${this.features[i]}`;
    if (c === this.shape.length - 1) return `Output ${i + 1}`;
    return `Neuron ${i + 1} of layer ${c}`;
  }

  layerButtons(c, x) {
    const n = this.shape[c];
    for (const [sign, label] of [[1, `Add a neuron to layer ${c}`], [-1, `Remove a neuron from layer ${c}`]]) {
      const b = document.createElement("button");
      b.type = "button"; b.className = "neuron-button"; b.textContent = sign > 0 ? "+" : "−";
      b.setAttribute("aria-label", label);
      b.disabled = sign > 0 ? n >= this.maxNeurons : n <= 1;     // the limits: no refused request
      b.title = b.disabled ? (sign > 0 ? `at most ${this.maxNeurons} neurons` : "at least 1 neuron") : label;
      const {stacked, button} = this.layoutInfo;
      b.style.left = `${stacked ? x - button / 2 : x + (sign > 0 ? -button - 2 : 2)}px`;
      b.style.top = `${stacked && sign < 0 ? button + 4 : 0}px`;
      b.addEventListener("click", () => this.onNeurons(c - 1, sign));
      this.root.appendChild(b);
    }
  }

  /** New weights θ (float32, layer by layer: W row-major then b) and node images. */
  update(weights, neurons, inputs, output) {
    this.weights = weights;
    let offset = 0;
    const offsets = [];
    for (let l = 0; l < this.shape.length - 1; l++) {
      offsets.push(offset);
      offset += this.shape[l + 1] * (this.shape[l] + 1);
    }
    this.offsets = offsets;
    for (const path of this.links) {
      const w = this.weight(+path.dataset.layer, +path.dataset.i, +path.dataset.j);
      path.setAttribute("stroke", w >= 0 ? "#0877bd" : "#f59322");
      path.setAttribute("stroke-width", Math.min(9, 0.6 + Math.abs(w) * 2.2).toFixed(2));
      path.setAttribute("stroke-opacity", Math.min(1, 0.35 + Math.abs(w) * 0.5).toFixed(2));
    }
    for (const mark of this.biases) {
      const l = +mark.dataset.layer, b = this.weight(l, +mark.dataset.i, this.shape[l]);
      const t = Math.min(1, Math.abs(b));
      mark.style.background = b >= 0 ? `rgba(8,119,189,${0.2 + 0.8 * t})` : `rgba(245,147,34,${0.2 + 0.8 * t})`;
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
    if (this.hovered) this.tipText(...this.hovered);    // the tooltip follows training
  }

  weight(l, i, j) {
    const n_in = this.shape[l];
    if (!this.weights) return 0;
    return j === n_in ? this.weights[this.offsets[l] + this.shape[l + 1] * n_in + i]
      : this.weights[this.offsets[l] + i * n_in + j];
  }

  /** Backprop step by step: ``labels`` {column: [text per node]} under the nodes, the links
   * into Dense layer ``active`` highlighted, ``extra(l, i, j)`` added to a link's tooltip. */
  annotate(labels, active = null, extra = null) {
    this.marks.forEach((m) => m.remove());
    this.marks = [];
    this.extra = extra;
    this.root.classList.toggle("bp-on", labels !== null);
    for (const path of this.links) path.classList.toggle("bp-active", active !== null && +path.dataset.layer === active);
    if (!labels) return;
    const N = this.layoutInfo.node;
    for (const [c, texts] of Object.entries(labels)) {
      texts.forEach((text, i) => {
        const at = this.centers[+c]?.[i];
        if (!at) return;
        const span = document.createElement("span");
        span.className = "bp-value"; span.textContent = text;
        span.style.left = `${at[0] + N / 2 + 3}px`; span.style.top = `${at[1] - 9}px`;   // right of the node
        this.root.appendChild(span);
        this.marks.push(span);
      });
    }
  }

  tipText(l, i, j) {
    const w = this.weight(l, i, j), to = this.nodeName(l + 1, i);
    const k = l + 1;
    this.tooltip.textContent = (this.extra ? this.extra(l, i, j) ?? "" : "") + (j === this.shape[l]
      ? `bias ${w.toPrecision(4)} — b${k}[${i + 1}] of ${to}: Z${k} = W${k} A${l} + b${k}`
      : `weight ${w.toPrecision(4)} — W${k}[${i + 1},${j + 1}], ${this.nodeName(l, j)} → ${to}: Z${k} = W${k} A${l} + b${k}`);
  }

  showWeight(event, l, i, j) {
    this.hovered = [l, i, j];
    this.tipText(l, i, j);
    this.tooltip.hidden = false;
    placeNear(this.tooltip, event, 12, 10, 320);
  }

  hideTip() { this.hovered = null; this.tooltip.hidden = true; }

  edit(event, layer, i, j) {
    const input = this.editor.querySelector("input");
    const isBias = j === this.shape[layer];
    this.editor.querySelector("label").firstChild.textContent = isBias ? "Bias value " : "Weight value ";
    input.value = this.weight(layer, i, j).toPrecision(4);
    this.editor.hidden = false;
    placeNear(this.editor, event, 0, 0, 220);
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

// A floating box (position: absolute, shown) next to the pointer, at most `width` from the
// window's right edge, in the coordinates of the box it is placed in: the document for the
// server's page, the widget's own element in a notebook (which scrolls inside JupyterLab).
function placeNear(box, event, dx, dy, width) {
  const origin = box.offsetParent && getComputedStyle(box.offsetParent).position !== "static"
    ? box.offsetParent.getBoundingClientRect() : {left: -window.scrollX, top: -window.scrollY};
  const x = Math.min(event.clientX + dx, document.documentElement.clientWidth - width);
  box.style.left = `${x - origin.left}px`;
  box.style.top = `${event.clientY + dy - origin.top}px`;
}
