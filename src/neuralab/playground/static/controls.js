// The controls: every element with data-field="name" edits state[name]; changes go to
// ``onChange({name: value})``. Also the lists built from the server's tables (data sets,
// inputs, learning rates, racers, hideable controls) and which controls are visible.

import {page} from "./page.js";

export const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const DATASET_NAMES = {circle: "Circle", xor: "XOR", gauss: "Gaussian", spiral: "Spiral", sine: "Sine",
  "reg-plane": "Plane", "reg-gauss": "Multi-Gaussian", gaussians: "Gaussians",
  spirals: "Spirals", upload: "Uploaded CSV"};
const FEATURE_LABELS = {"x1": "x₁", "x2": "x₂", "x1^2": "x₁²", "x2^2": "x₂²", "x1*x2": "x₁x₂",
  "sin(x1)": "sin x₁", "sin(x2)": "sin x₂"};
const OPTIMIZER_NAMES = {sgd: "SGD", momentum: "Momentum", nesterov: "Nesterov", adagrad: "AdaGrad",
  rmsprop: "RMSProp", adam: "Adam", adamw: "AdamW", newton: "Newton"};
//: The words shown for a choice field's values (the values themselves come from the schema,
//: protocol.STATE, which the server sends in its hello).
const CHOICE_NAMES = {
  optimizer: OPTIMIZER_NAMES,
  activation: {relu: "ReLU", tanh: "Tanh", sigmoid: "Sigmoid", linear: "Linear", leaky_relu: "LeakyReLU"},
  init: {zeros: "Zeros", normal: "N(0, ε)", xavier_uniform: "Xavier (uniform)", xavier_normal: "Xavier (normal)",
    he_uniform: "He (uniform)", he_normal: "He (normal)"},
  schedule: {constant: "Constant", step: "Step decay", exponential: "Exponential decay", cosine: "Cosine annealing"},
};
const words = (field, value) => CHOICE_NAMES[field]?.[value] ?? value;

function lrOptions(select, value) {
  const values = LEARNING_RATES.includes(value) ? LEARNING_RATES : [...LEARNING_RATES, value].sort((a, b) => a - b);
  select.replaceChildren(...values.map((v) => new Option(String(v), String(v))));
  select.value = String(value);
}

export class Controls {
  constructor(fields, onChange) {
    this.fields = fields; this.onChange = onChange;
    this.fromSchema();
    this.elements = [...page.root.querySelectorAll("[data-field]")];
    for (const el of this.elements) {
      // the accessible name is the label's own words (not the options inside the label)
      const words = el.closest("label")?.firstChild?.textContent.trim();
      if (words && !el.hasAttribute("aria-label")) el.setAttribute("aria-label", words);
      const event = el.type === "range" ? "input" : "change";
      // typing in a box marks it "being edited" until committed (Enter, leaving it): a state
      // message from the server meanwhile does not overwrite what the user is typing
      if (el.type !== "range") el.addEventListener("input", () => { el.dataset.editing = "1"; });
      el.addEventListener(event, () => {
        delete el.dataset.editing;
        const value = this.read(el);
        if (el.type === "range") this.showValue(el.dataset.field, value);
        onChange({[el.dataset.field]: value});
      });
    }
    this.buildHideList();
    this.buildThumbnails();
  }

  /** The controls from the schema (protocol.STATE: kind, default, allowed, label, rebuilds,
   * when): a field without an element in the page gets a labelled box in the container of its
   * group (``data-group``) and condition (``data-when``); every control gets its label, its
   * choice list or range, and is shown only when its condition holds. */
  fromSchema() {
    const hideable = this.fields.hide[2];
    for (const [name, [kind, , allowed, label, group, when]] of Object.entries(this.fields)) {
      if (page.root.querySelector(`[data-field="${name}"]`) || !(kind === "int" || kind === "float")) continue;
      // its group's box for its condition, else a box for its condition, its group, any box
      const w = when ? when[0] : "";
      const box = page.root.querySelector(`.generated[data-group="${group}"][data-when="${w}"]`)
        ?? page.root.querySelector(`.generated[data-when="${w}"]`)
        ?? page.root.querySelector(`.generated[data-group="${group}"]`)
        ?? page.root.querySelector(".generated");
      const wrap = document.createElement("label"), input = document.createElement("input");
      input.type = "number"; input.dataset.field = name; input.step = kind === "int" ? "1" : "any";
      wrap.append(`${label} `, input);
      const hide = hideable.includes(name) ? name : when && hideable.includes(when[0]) ? when[0] : null;
      if (hide) wrap.dataset.hide = hide;
      box.append(wrap);
    }
    for (const el of page.root.querySelectorAll("[data-field]")) {
      const [, , , label, , when] = this.fields[el.dataset.field];
      const wrap = el.closest("label");
      if (wrap && when && !wrap.dataset.when) wrap.dataset.when = `${when[0]}:${when[1].join(" ")}`;
      const first = wrap?.firstChild;
      if (first && first.nodeType === Node.TEXT_NODE && first.textContent.trim() && el.type !== "checkbox") {
        first.textContent = `${label} `;     // the schema's words
      }
    }
    for (const el of page.root.querySelectorAll("select[data-field]")) {
      const [kind, , allowed] = this.fields[el.dataset.field];
      if (kind === "choice" && !el.options.length) {
        el.replaceChildren(...allowed.map((v) => new Option(words(el.dataset.field, v), v)));
      }
    }
    for (const el of page.root.querySelectorAll("input[type=number][data-field], input[type=range][data-field]")) {
      const [kind, , allowed] = this.fields[el.dataset.field];
      if (kind === "int" || kind === "float") { el.min = allowed[0]; el.max = allowed[1]; }
    }
  }

  /** The data sets as pictures: a click chooses one (the uploaded set too). */
  buildThumbnails() {
    this.thumbs = page.root.getElementById("dataset-thumbs");
  }

  drawThumbnails(s, datasets, uploaded) {
    const names = [...datasets[s.problem], ...(s.dataset === "upload" ? ["upload"] : [])];
    const key = names.join() + (uploaded ? uploaded.length : "");
    if (this.thumbKey !== key) {
      this.thumbKey = key;
      this.thumbs.replaceChildren(...names.map((name) => {
        const b = document.createElement("button");
        b.type = "button"; b.dataset.dataset = name;
        b.setAttribute("aria-label", `Data set ${DATASET_NAMES[name] ?? name}`);
        b.title = DATASET_NAMES[name] ?? name;
        const cv = document.createElement("canvas");
        cv.width = 48; cv.height = 48;
        drawThumbnail(cv, name, s.classes, uploaded);
        b.append(cv);
        b.addEventListener("click", () => { if (name !== "upload") this.onChange({dataset: name}); });
        return b;
      }));
    }
    for (const b of this.thumbs.children) b.setAttribute("aria-pressed", String(b.dataset.dataset === s.dataset));
  }

  read(el) {
    const kind = this.fields[el.dataset.field][0];
    if (el.type === "checkbox") return el.checked;
    if (kind === "int" || kind === "float") return el.value.trim() === "" ? null : Number(el.value);
    return el.value;
  }

  showValue(field, value) {
    page.root.querySelectorAll(`[data-show="${field}"]`).forEach((o) => { o.textContent = value; });
  }

  buildHideList() {
    const box = page.root.getElementById("hide-list");
    for (const name of this.fields.hide[2]) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox"; input.value = name;
      input.setAttribute("aria-label", `Hide ${name}`);
      input.addEventListener("change", () => {
        const hidden = [...box.querySelectorAll("input:checked")].map((i) => i.value);
        this.onChange({hide: hidden}, {keepVisible: true});
      });
      label.append(input, ` ${name}`);
      box.appendChild(label);
    }
  }

  /** Show ``s`` in every control (after the server accepted it). */
  update(s, datasets, uploaded = null) {
    this.drawThumbnails(s, datasets, uploaded);
    const dataset = page.root.querySelector('[data-field="dataset"]');
    const names = [...datasets[s.problem], ...(s.dataset === "upload" ? ["upload"] : [])];
    dataset.replaceChildren(...names.map((d) => new Option(DATASET_NAMES[d] ?? d, d)));
    lrOptions(page.root.querySelector('[data-field="lr"]'), s.lr);
    for (const el of this.elements) {
      if (el.dataset.editing && el === page.root.activeElement) continue;   // the user is typing
      const value = s[el.dataset.field];
      if (el.type === "checkbox") el.checked = Boolean(value);
      else el.value = String(value);   // the server's value, also after a refused one
      if (el.type === "range") this.showValue(el.dataset.field, value);
    }
    page.root.querySelectorAll("input.feature-toggle").forEach((i) => { i.checked = s.features.includes(i.value); });
    page.root.querySelectorAll("#hide-list input").forEach((i) => { i.checked = s.hide.includes(i.value); });
    const n = s.hidden.length, [most] = this.fields.hidden[2];
    page.root.getElementById("layer-count").textContent = `${n} hidden layer${n === 1 ? "" : "s"}`;
    page.root.getElementById("add-layer").disabled = n >= most;      // the limits, not an error
    page.root.getElementById("remove-layer").disabled = n === 0;
    // an upload has its own number of points: the box shows it and is not an input then
    const points = page.root.querySelector('[data-field="points"]');
    points.disabled = s.dataset === "upload";
    if (s.dataset === "upload" && uploaded) points.value = String(uploaded.length / 4);
    this.visibility(s);
    this.buildRacers(s);
  }

  visibility(s) {
    // data-when="field:v1 v2": shown while state[field] is one of the values (the schema's when)
    page.root.querySelectorAll("[data-when]:not(.generated)").forEach((el) => {
      const [field, values] = el.dataset.when.split(":");
      el.classList.toggle("off", !values.split(" ").includes(String(s[field])));
    });
    page.root.querySelectorAll("[data-hide]").forEach((el) => {
      el.classList.toggle("classroom-hidden", s.hide.includes(el.dataset.hide));
    });
  }

  buildRacers(s) {
    this.lastRace = s.race.map((r) => ({...r}));
    const box = page.root.getElementById("racers");
    box.replaceChildren();
    s.race.forEach((racer, k) => {
      const row = document.createElement("div");
      row.className = "racer";
      const opt = document.createElement("select");
      opt.setAttribute("aria-label", `Racer ${k + 2} optimizer`);
      Object.entries(OPTIMIZER_NAMES).forEach(([v, t]) => opt.add(new Option(t, v)));
      opt.value = racer.optimizer;
      const lr = document.createElement("select");
      lr.setAttribute("aria-label", `Racer ${k + 2} learning rate`);
      lrOptions(lr, racer.lr);
      const remove = document.createElement("button");
      remove.type = "button"; remove.textContent = "×";
      remove.setAttribute("aria-label", `Remove racer ${k + 2}`);
      // the row's own boxes and the latest state (not this row's first values): two quick
      // changes in a row both count, even before the server's answer rebuilds the row
      const change = (entry) => {
        const race = this.lastRace.map((r) => ({...r}));
        if (entry === null) race.splice(k, 1); else race[k] = entry;
        this.lastRace = race;
        this.onChange({race});
      };
      opt.addEventListener("change", () => change({optimizer: opt.value, lr: Number(lr.value)}));
      lr.addEventListener("change", () => change({optimizer: opt.value, lr: Number(lr.value)}));
      remove.addEventListener("click", () => change(null));
      row.append(`Racer ${k + 2} `, opt, lr, remove);
      box.appendChild(row);
    });
    page.root.getElementById("add-racer").disabled = s.race.length >= 3;
  }
}

// Small pictures of the data sets (the points of the same kind of set, drawn here: the
// icons of the buttons, not the data; an upload shows its own points).
function drawThumbnail(canvas, name, classes, uploaded) {
  const ctx = canvas.getContext("2d"), w = canvas.width;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, w);
  let seed = 7;
  const rand = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-9)) * Math.cos(2 * Math.PI * rand());
  const dots = [];    // [x, y, colour] in -6..6
  const C = ["rgb(245,147,34)", "rgb(8,119,189)", "rgb(64,160,64)", "rgb(200,60,160)", "rgb(120,90,200)"];
  const reg = (v) => (v > 0 ? C[1] : C[0]);
  if (name === "upload" && uploaded) {
    let lo = Infinity, hi = -Infinity;
    for (let k = 0; k < uploaded.length; k += 4) { lo = Math.min(lo, uploaded[k], uploaded[k + 1]); hi = Math.max(hi, uploaded[k], uploaded[k + 1]); }
    const scale = (v) => ((v - lo) / (hi - lo || 1)) * 12 - 6;
    for (let k = 0; k < uploaded.length; k += 4) dots.push([scale(uploaded[k]), scale(uploaded[k + 1]), C[Math.round(uploaded[k + 2]) > 0 ? 1 : 0]]);
  }
  for (let k = 0; k < 90 && name !== "upload"; k++) {
    const t = rand();
    if (name === "circle") { const r = t < 0.5 ? rand() * 2.5 : 3.5 + rand() * 1.5, a = rand() * 6.28; dots.push([r * Math.cos(a), r * Math.sin(a), C[t < 0.5 ? 1 : 0]]); }
    else if (name === "xor") { const x = rand() * 10 - 5, y = rand() * 10 - 5; dots.push([x, y, C[x * y > 0 ? 1 : 0]]); }
    else if (name === "gauss") { const s = t < 0.5 ? 2 : -2; dots.push([s + gauss(), s + gauss(), C[t < 0.5 ? 1 : 0]]); }
    else if (name === "spiral" || name === "spirals") {
      const n = name === "spiral" ? 2 : Math.min(classes, 5), c = Math.floor(t * n), r = rand() * 5.5, a = r * 1.2 + (c * 2 * Math.PI) / n;
      dots.push([r * Math.sin(a), r * Math.cos(a), C[c]]);
    } else if (name === "gaussians") {
      const n = Math.min(classes, 5), c = Math.floor(t * n), a = (c * 2 * Math.PI) / n;
      dots.push([3.5 * Math.cos(a) + gauss() * 0.9, 3.5 * Math.sin(a) + gauss() * 0.9, C[c]]);
    } else if (name === "sine") { const x = rand() * 12 - 6, y = rand() * 12 - 6; dots.push([x, y, C[y >= 3 * Math.sin(Math.PI * x / 4) ? 1 : 0]]); }
    else if (name === "reg-plane") { const x = rand() * 12 - 6, y = rand() * 12 - 6; dots.push([x, y, reg(x + y)]); }
    else { const x = rand() * 12 - 6, y = rand() * 12 - 6; dots.push([x, y, reg(Math.exp(-((x - 2) ** 2 + (y - 2) ** 2) / 6) - Math.exp(-((x + 2) ** 2 + (y + 2) ** 2) / 6))]); }
  }
  for (const [x, y, c] of dots) {
    ctx.fillStyle = c;
    ctx.beginPath(); ctx.arc(((x + 6) / 12) * w, ((6 - y) / 12) * w, 1.7, 0, 6.29); ctx.fill();
  }
}
