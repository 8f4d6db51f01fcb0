// The controls: every element with data-field="name" edits state[name]; changes go to
// ``onChange({name: value})``. Also the lists built from the server's tables (data sets,
// inputs, learning rates, racers, hideable controls) and which controls are visible.

export const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const DATASET_NAMES = {circle: "Circle", xor: "XOR", gauss: "Gaussian", spiral: "Spiral",
  "reg-plane": "Plane", "reg-gauss": "Multi-Gaussian", gaussians: "Gaussians",
  spirals: "Spirals", upload: "Uploaded CSV"};
const FEATURE_LABELS = {"x1": "x₁", "x2": "x₂", "x1^2": "x₁²", "x2^2": "x₂²", "x1*x2": "x₁x₂",
  "sin(x1)": "sin x₁", "sin(x2)": "sin x₂"};
const OPTIMIZER_NAMES = {sgd: "SGD", momentum: "Momentum", nesterov: "Nesterov", adagrad: "AdaGrad",
  rmsprop: "RMSProp", adam: "Adam", adamw: "AdamW", newton: "Newton"};

function lrOptions(select, value) {
  const values = LEARNING_RATES.includes(value) ? LEARNING_RATES : [...LEARNING_RATES, value].sort((a, b) => a - b);
  select.replaceChildren(...values.map((v) => new Option(String(v), String(v))));
  select.value = String(value);
}

export class Controls {
  constructor(fields, onChange) {
    this.fields = fields; this.onChange = onChange;
    this.elements = [...document.querySelectorAll("[data-field]")];
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
    this.buildFeatures();
    this.buildHideList();
  }

  read(el) {
    const kind = this.fields[el.dataset.field][0];
    if (el.type === "checkbox") return el.checked;
    if (kind === "int" || kind === "float") return el.value.trim() === "" ? null : Number(el.value);
    return el.value;
  }

  showValue(field, value) {
    document.querySelectorAll(`[data-show="${field}"]`).forEach((o) => { o.textContent = value; });
  }

  buildFeatures() {
    const box = document.getElementById("features");
    for (const name of this.fields.features[2]) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox"; input.value = name;
      input.setAttribute("aria-label", `Input ${name}`);
      input.addEventListener("change", () => {
        const on = [...box.querySelectorAll("input:checked")].map((i) => i.value);
        this.onChange({features: on});
      });
      label.append(input, ` ${FEATURE_LABELS[name]}`);
      box.appendChild(label);
    }
  }

  buildHideList() {
    const box = document.getElementById("hide-list");
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
  update(s, datasets) {
    const dataset = document.querySelector('[data-field="dataset"]');
    const names = [...datasets[s.problem], ...(s.dataset === "upload" ? ["upload"] : [])];
    dataset.replaceChildren(...names.map((d) => new Option(DATASET_NAMES[d] ?? d, d)));
    lrOptions(document.querySelector('[data-field="lr"]'), s.lr);
    for (const el of this.elements) {
      if (el.dataset.editing && el === document.activeElement) continue;   // the user is typing
      const value = s[el.dataset.field];
      if (el.type === "checkbox") el.checked = Boolean(value);
      else el.value = String(value);   // the server's value, also after a refused one
      if (el.type === "range") this.showValue(el.dataset.field, value);
    }
    document.querySelectorAll("#features input").forEach((i) => { i.checked = s.features.includes(i.value); });
    document.querySelectorAll("#hide-list input").forEach((i) => { i.checked = s.hide.includes(i.value); });
    const n = s.hidden.length;
    document.getElementById("layer-count").textContent = `${n} hidden layer${n === 1 ? "" : "s"}`;
    this.visibility(s);
    this.buildRacers(s);
  }

  visibility(s) {
    const show = (el, on) => { el.classList.toggle("off", !on); };
    document.querySelectorAll(".if-opt").forEach((el) => show(el, el.dataset.opts.split(" ").includes(s.optimizer)));
    document.querySelectorAll(".if-sched").forEach((el) => show(el, el.dataset.scheds.split(" ").includes(s.schedule)));
    document.querySelectorAll(".if-leaky").forEach((el) => show(el, s.activation === "leaky_relu"));
    document.querySelectorAll(".if-normal").forEach((el) => show(el, s.init === "normal"));
    document.querySelectorAll(".if-multiclass").forEach((el) => show(el, s.problem === "multiclass"));
    document.querySelectorAll("[data-hide]").forEach((el) => {
      el.classList.toggle("classroom-hidden", s.hide.includes(el.dataset.hide));
    });
  }

  buildRacers(s) {
    const box = document.getElementById("racers");
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
      const change = (entry) => {
        const race = s.race.map((r) => ({...r}));
        if (entry === null) race.splice(k, 1); else race[k] = entry;
        this.onChange({race});
      };
      opt.addEventListener("change", () => change({optimizer: opt.value, lr: racer.lr}));
      lr.addEventListener("change", () => change({optimizer: racer.optimizer, lr: Number(lr.value)}));
      remove.addEventListener("click", () => change(null));
      row.append(`Racer ${k + 2} `, opt, lr, remove);
      box.appendChild(row);
    });
    document.getElementById("add-racer").disabled = s.race.length >= 3;
  }
}
