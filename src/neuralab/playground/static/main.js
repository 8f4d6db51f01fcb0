// The page: one transport to its session (a WebSocket to the server, or the notebook widget's
// comm: transport.js), the state object, and the views it feeds.
// Frames are drawn as they arrive and acknowledged, which paces the server: a slow page gets
// fewer frames, never a queue of them.

import {state, init, fromHash, saveToUrl} from "./state.js";
import {decode, KIND, SECTION} from "./frames.js";
import {paint, drawPoints} from "./heatmap.js";
import {NetworkView} from "./network.js";
import {LineChart} from "./linechart.js";
import {Controls} from "./controls.js";
import {stages as backpropStages} from "./backprop.js";
import {page, $} from "./page.js";
import {webSocketTransport} from "./transport.js";

function serverSocketUrl() {
  const token = new URLSearchParams(location.search).get("token");
  const query = token ? `?token=${encodeURIComponent(token)}` : "";
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${query}`;
}
const transport = page.transport ?? webSocketTransport(serverSocketUrl());

const view = {hello: null, points: null, domain: [-6, 6], inputs: null, shape: null, features: null,
  pending: null, lastStep: -1, classroom: false, playing: false, frames: 0};
const charts = {loss: new LineChart($("loss-chart")), grad: new LineChart($("grad-chart"), {log: true}),
  race: new LineChart($("race-chart")), lr: new LineChart($("lr-chart"))};
view.charts = charts;
window.playground = view;   // for tests and the curious: frames drawn, last scalars, charts

let controls = null, net = null;
function makeNetworkView(fields) {
  return new NetworkView($("network"), {
    onFocus: (layer, i) => send({type: "focus", layer, i}),
    onEdit: (layer, i, j, value) => send({type: "edit", layer, i, j, value}),
    onNeurons: (k, sign) => {
      const hidden = [...state.hidden];
      hidden[k] = hidden[k] + sign;
      change({hidden});
    },
    onFeatures: (features) => change({features}),
    tooltip: $("tooltip"), editor: $("weight-editor"),
    allFeatures: fields.features[2], maxNeurons: fields.hidden[2][1],
  });
}

// Change messages sent; frames made before the server handled them are stale: acknowledged
// but not drawn, so a change shows in the first frame that has it (a few skipped at most).
const CHANGES = new Set(["set", "reset", "regenerate", "edit", "upload"]);
let changesSent = 0, staleSkipped = 0;

function send(message) {
  if (!transport.open) return;
  if (CHANGES.has(message.type)) changesSent++;
  transport.send(JSON.stringify(message));
}
function change(fields) { send({type: "set", state: fields}); }

function showError(text) {
  const p = document.createElement("p");
  p.textContent = text;
  $("errors").replaceChildren(p);
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => $("errors").replaceChildren(), 8000);
}

// A notice stays until the user closes it or the next change of the setup (it is about the
// setup it came with: a new state message clears it; the notices of that change follow it).
function showNotice(text) {
  const p = document.createElement("p");
  const close = document.createElement("button");
  close.type = "button"; close.textContent = "×"; close.setAttribute("aria-label", "Close the notice");
  close.addEventListener("click", () => p.remove());
  p.append(text, close);
  $("notices").append(p);
  while ($("notices").children.length > 3) $("notices").firstChild.remove();
}

// One activation per hidden layer: a select each ("as Activation" = the Activation field's);
// the field keeps only what differs, so a link stays short.
function layerActivations() {
  const box = $("layer-activations"), choices = view.hello.fields.activation[2];
  if (!state.hidden.length) { box.replaceChildren(); return; }
  const selects = state.hidden.map((_, k) => {
    const label = document.createElement("label"), select = document.createElement("select");
    select.setAttribute("aria-label", `Activation of layer ${k + 1}`);
    for (const name of ["", ...choices]) {
      const option = document.createElement("option");
      option.value = name; option.textContent = name ? name : "as Activation";
      select.append(option);
    }
    select.value = state.layerActivations[k] || "";
    select.addEventListener("change", () => {
      const own = state.hidden.map((__, j) => (j === k ? select.value : state.layerActivations[j] || ""));
      while (own.length && own[own.length - 1] === "") own.pop();
      change({layerActivations: own});
    });
    label.append(`L${k + 1} `, select);
    return label;
  });
  box.replaceChildren("Per layer: ", ...selects);
}

function accept(s) {
  Object.assign(state, s);
  $("notices").replaceChildren();
  controls.update(state, view.hello.datasets, state.dataset === "upload" ? view.points : null);
  layerActivations();
  if (!view.classroom) page.root.querySelectorAll(".classroom-hidden").forEach((el) => el.classList.remove("classroom-hidden"));
  if (page.hash === null) {     // the server's page: its address is the link to this setup
    saveToUrl();
    $("classroom-link").href = location.href;
  }
  $("init-note").textContent = state.init === "zeros" && state.hidden.length
    ? "Zero initialization: every neuron of a layer starts identical, receives the same update and stays identical — the symmetry is never broken."
    : "";
}

transport.onopen = () => { $("connection").textContent = "connected"; };
transport.onclose = (reason) => {
  $("connection").textContent = "disconnected";
  showError(`The connection to the playground closed${reason ? ": " + reason : ""}; ${page.hash === null ? "reload the page" : "run the cell again"}.`);
};
transport.onmessage = (data) => {
  if (typeof data !== "string") return onBinary(data);
  const msg = JSON.parse(data);
  if (msg.type === "hello") onHello(msg);
  else if (msg.type === "state") {
    // the echo of an earlier change while a newer one is on its way is not drawn over the
    // controls (a box just ticked would flip back): the newer change's echo follows
    if (msg.changes === undefined || msg.changes >= changesSent) accept(msg.state);
    setPlaying(msg.playing);
  }
  else if (msg.type === "error") { showError(msg.message); drawSkipped(); }
  else if (msg.type === "notice") showNotice(msg.message);
};

function onHello(msg) {
  view.hello = msg;
  init(msg.fields, msg.state);
  controls = new Controls(msg.fields, change);
  net = makeNetworkView(msg.fields);
  for (const [name, preset] of Object.entries(msg.presets)) $("preset").add(new Option(preset.title, name));
  const fromUrl = fromHash(page.hash ?? location.hash);
  view.classroom = (fromUrl.hide || []).length > 0;
  page.body.classList.toggle("classroom", view.classroom);
  accept(msg.state);
  if (Object.keys(fromUrl).length) change(fromUrl);
  for (const kind of ["model", "data", "toml", "python"]) $(`export-${kind}`).href = "#";
}

function setPlaying(on) {
  view.playing = on;
  $("play").setAttribute("aria-label", on ? "Pause" : "Play");
  $("play").textContent = on ? "Pause" : "Play";
}

function onBinary(buffer) {
  const message = decode(buffer);
  const s = message.sections;
  if (message.kind === KIND.DATA) {
    view.points = s.get(SECTION.POINTS); view.domain = Array.from(s.get(SECTION.DOMAIN));
    view.inputs = s.get(SECTION.INPUTS);
    view.shape = Array.from(s.get(SECTION.SHAPE)); view.features = [...state.features];
    net.build(view.shape, view.features);
    stopBackprop();
    controls.visibility(state);
    drawTicks();
    addPointChoices();
    if (state.dataset === "upload") controls.update(state, view.hello.datasets, view.points);
    charts.loss.reset(["train", "test"]); charts.grad.reset(view.shape.slice(1).map((_, k) => `layer ${k + 1}`));
    charts.race.reset([]); view.lastStep = -1;
    const params = view.shape.slice(1).reduce((sum, n, k) => sum + n * (view.shape[k] + 1), 0);
    $("newton-note").textContent = `Newton's method: networks up to ${view.hello.limits.newton_max_params} parameters (this one has ${params}).`;
  } else if (message.kind === KIND.EXPORT) {
    if (new TextDecoder().decode(s.get(SECTION.FILE_NAME)) === "backprop.json") {
      startBackprop(JSON.parse(new TextDecoder().decode(s.get(SECTION.FILE))));
    } else download(message.sections);
  } else if (message.kind === KIND.CURVE) {
    charts.lr.set([s.get(SECTION.LR_CURVE)], ["αₜ per epoch"]);
  } else {
    view.pending = message;   // drawn at once (the browser shows it at its next paint), then
    draw();                   // acknowledged: the server sends the next one only after that
  }
}

function fmt(v, digits = 3) { return Number.isFinite(v) ? v.toFixed(digits) : "–"; }

// A refused change makes no newer frame: the frame skipped while waiting for it is drawn.
function drawSkipped() {
  if (!view.skipped) return;
  view.pending = view.skipped;
  draw(true);
}

function draw(force = false) {
  const message = view.pending;
  if (!message || !view.hello) return;
  const s = message.sections;
  const names = view.hello.scalars, values = s.get(SECTION.SCALARS);
  const sc = Object.fromEntries(names.map((n, k) => [n, values[k]]));
  if (sc.changes < changesSent && staleSkipped < 4 && !force) {
    staleSkipped++;
    view.skipped = message;
    send({type: "ack", seq: message.seq});
    return;
  }
  view.skipped = null;
  if (sc.changes < changesSent) changesSent = sc.changes;   // a dropped message: resync
  staleSkipped = 0;
  view.scalars = sc;
  $("epoch").textContent = Math.floor(sc.epoch);
  $("stepcount").textContent = sc.step;
  $("train-loss").textContent = fmt(sc.train_loss); $("test-loss").textContent = fmt(sc.test_loss);
  $("train-acc").textContent = Number.isFinite(sc.train_accuracy) ? `${(100 * sc.train_accuracy).toFixed(1)}%` : "–";
  $("test-acc").textContent = Number.isFinite(sc.test_accuracy) ? `${(100 * sc.test_accuracy).toFixed(1)}%` : "–";
  showScores(sc, s.get(SECTION.CONFUSION));
  $("dead-relu").textContent = Number.isFinite(sc.dead_relu) ? `${(100 * sc.dead_relu).toFixed(0)}%` : "– (no ReLU)";
  setPlaying(sc.playing > 0.5);
  $("play-cue").classList.toggle("gone", sc.step > 0 || sc.playing > 0.5);
  const shape = Array.from(s.get(SECTION.SHAPE));
  if (!view.shape || shape.join() !== view.shape.join() || state.features.join() !== net.features.join()) {
    view.shape = shape; net.build(shape, state.features); controls.visibility(state); stopBackprop();
  }
  if (sc.step !== view.lastStep) {
    if (sc.step < view.lastStep) { charts.loss.reset(["train", "test"]); charts.race.reset([]); }
    view.lastStep = sc.step;
    charts.loss.push([sc.train_loss, sc.test_loss]); charts.loss.draw();
    if (sc.steps_per_frame_done > 0) { charts.grad.push(Array.from(s.get(SECTION.GRADS))); charts.grad.draw(); }
    const race = s.get(SECTION.RACE);
    if (race) {   // per run: train loss, test loss, train acc, test acc, ms per epoch
      const runs = race.length / 5;
      if (charts.race.series.length !== runs) {
        charts.race.reset(raceNames());
      }
      charts.race.push(Array.from({length: runs}, (_, k) => race[k * 5 + 1])); charts.race.draw();
      showRaceTimes(Array.from({length: runs}, (_, k) => race[k * 5 + 4]));
    }
  }
  // the main heatmap: the output, or the neuron under the pointer (pale: the points stay readable)
  const out = $("heatmap"), focus = s.get(SECTION.FOCUS);
  if (focus) paint(out, focus, 100, {alpha: 160});
  else paint(out, s.get(SECTION.OUTPUT), 100, {discretize: state.discretize, classes: s.get(SECTION.CLASSES) || null, alpha: 160});
  drawPoints(out, view.points, view.domain, {showTest: state.showTest, task: taskOf(state)});
  $("heatmap-caption").textContent = focus && sc.focus_layer >= 0
    ? (sc.focus_layer === 0 ? `input ${state.features[sc.focus_i]} (hover)` : sc.focus_layer === view.shape.length - 1 ? "the output" : `neuron ${sc.focus_i + 1} of layer ${sc.focus_layer} (hover)`)
    : "the network's output";
  net.update(s.get(SECTION.WEIGHTS), s.get(SECTION.NEURONS), view.inputs, s.get(SECTION.OUTPUT));
  view.frames++;
  send({type: "ack", seq: message.seq});
}

function taskOf(s) { return s.problem === "classification" ? "binary" : s.problem; }

// The race's names; racers with the same settings get "(same as ...)": their curves coincide
// (drawn dashed over each other: both stay visible).
function raceNames() {
  const runs = [{optimizer: state.optimizer, lr: state.lr}, ...state.race];
  return runs.map((r, k) => {
    const name = `${k ? `racer ${k + 1}` : "main"}: ${r.optimizer} ${r.lr}`;
    const twin = runs.findIndex((o) => o.optimizer === r.optimizer && o.lr === r.lr);
    return twin < k ? `${name} (= ${twin ? `racer ${twin + 1}` : "main"})` : name;
  });
}

// Time per epoch beside the race's curves: an optimizer that wins by steps can lose by time
// (Newton's steps are far dearer than Adam's).
function showRaceTimes(ms) {
  const names = raceNames();
  $("race-times").textContent = ms.map((t, k) =>
    `${names[k].split(" (=")[0]}: ${Number.isFinite(t) ? `${t < 10 ? t.toFixed(2) : t.toFixed(1)} ms/epoch` : "–"}`).join("   ·   ");
}

// The heatmap's axes: ticks of the domain (−6…6 for the built-in sets).
function drawTicks() {
  const [lo, hi] = view.domain, step = (hi - lo) > 8 ? 2 : (hi - lo) > 4 ? 1 : 0.5;
  const xs = [], ys = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) {
    const f = (v - lo) / (hi - lo);
    const text = Number(v.toFixed(2)).toString().replace("-", "−");
    const x = document.createElement("span"); x.textContent = text; x.style.left = `${100 * f}%`; xs.push(x);
    const y = document.createElement("span"); y.textContent = text; y.style.top = `${100 * (1 - f)}%`; ys.push(y);
  }
  $("xticks").replaceChildren(...xs); $("yticks").replaceChildren(...ys);
  const task = taskOf(state);
  $("color-legend").classList.toggle("classes", task === "multiclass");   // no −1…+1 bar then
  $("legend-text").textContent = task === "regression" ? "colour: the predicted value (−1 orange … +1 blue); dots: the data"
    : task === "multiclass" ? "colour: the predicted class, paler where the network is unsure; dots: the data"
      : "colour: the output (orange class 0, blue class 1), paler where unsure; dots: the data";
}

// The drawing fills its panel: a new width lays it out again.
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (!net || !view.shape) return;
    net.build(view.shape, state.features); controls.visibility(state);
    if (view.pending) draw(true);
    if (bp.stages.length) showStage();
  }, 150);
});

// Exports come back over the WebSocket (any worker process holding this page's session can
// answer) as a file: saved through a temporary link to its bytes.
for (const kind of ["model", "data", "toml", "python"]) {
  $(`export-${kind}`).addEventListener("click", (e) => { e.preventDefault(); send({type: "export", kind}); });
}

function download(sections) {
  const text = (bytes) => new TextDecoder().decode(bytes);
  const blob = new Blob([sections.get(SECTION.FILE)], {type: text(sections.get(SECTION.FILE_TYPE))});
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = text(sections.get(SECTION.FILE_NAME));
  page.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

$("play").addEventListener("click", () => { if (!view.playing) stopBackprop(); send({type: view.playing ? "pause" : "play"}); });
$("step").addEventListener("click", () => send({type: "step"}));
$("reset").addEventListener("click", () => send({type: "reset"}));
$("regenerate").addEventListener("click", () => send({type: "regenerate"}));
$("add-layer").addEventListener("click", () => change({hidden: [...state.hidden, 2]}));
$("remove-layer").addEventListener("click", () => change({hidden: state.hidden.slice(0, -1)}));
$("add-racer").addEventListener("click", () => change({race: [...state.race, {optimizer: "adam", lr: 0.01}]}));
$("preset").addEventListener("change", () => {
  const preset = view.hello.presets[$("preset").value];
  if (!preset) return;
  $("preset-text").textContent = `${preset.title} (lab: ${preset.lab}). ${preset.text}`;
  send({type: "pause"});
  change(preset.state);
});
$("upload").addEventListener("change", async () => {
  const file = $("upload").files[0];
  if (!file) return;
  const limit = view.hello.limits.max_upload;
  if (file.size > limit) { showError(`${file.name} is ${file.size.toLocaleString()} bytes, over the limit of ${limit.toLocaleString()}`); return; }
  send({type: "upload", csv: await file.text()});
  $("upload").value = "";
});
page.root.addEventListener("click", (e) => {
  const editor = $("weight-editor");
  if (!editor.hidden && !editor.contains(e.target) && e.target.tagName !== "path" && !e.target.classList.contains("bias") && !e.target.classList.contains("node")) editor.hidden = true;
});

// Backprop, step by step: training pauses, the server sends one mini-batch's numbers, the
// stages are shown one at a time on the drawing (Next / Back, or slowly by themselves).
const bp = {stages: [], at: 0, timer: null, data: null};
function showStage() {
  const stage = bp.stages[bp.at];
  $("bp-title").textContent = `${bp.at + 1}/${bp.stages.length}: ${stage.title}`;
  $("bp-text").textContent = stage.text;
  const d = bp.data;
  const extra = stage.links ? (l, i, j) => {
    const layer = d.layers[l], bias = j === layer.W[0].length;
    const v = stage.links === "dW" ? (bias ? layer.db[i] : layer.dW[i][j]) : (bias ? layer.b_new[i] : layer.W_new[i][j]);
    return `${stage.links === "dW" ? (bias ? "db" : "dW") : (bias ? "new b" : "new W")} ${v.toPrecision(4)}; `;
  } : null;
  net.annotate(stage.annotate ?? {}, stage.active, extra);
  $("bp-back").disabled = bp.at === 0;
  $("bp-next").disabled = bp.at === bp.stages.length - 1;
}
function startBackprop(data) {
  bp.data = data; bp.stages = backpropStages(data); bp.at = 0;
  ["bp-next", "bp-auto"].forEach((id) => { $(id).disabled = false; });
  showStage();
}
function stopBackprop() {
  clearInterval(bp.timer); bp.timer = null; $("bp-auto").textContent = "Play slowly";
  if (net) net.annotate(null);
  bp.stages = [];
  $("bp-title").textContent = ""; $("bp-text").textContent = "";
  ["bp-back", "bp-next", "bp-auto"].forEach((id) => { $(id).disabled = true; });
}
$("bp-start").addEventListener("click", () => {
  stopBackprop();
  send({type: "pause"});
  const n = Math.max(0, Math.floor(Number($("bp-example").value) || 0));
  send({type: "export", kind: `backprop:${n}`});
});
$("bp-next").addEventListener("click", () => { if (bp.at < bp.stages.length - 1) { bp.at++; showStage(); } });
$("bp-back").addEventListener("click", () => { if (bp.at > 0) { bp.at--; showStage(); } });
$("bp-auto").addEventListener("click", () => {
  if (bp.timer) { clearInterval(bp.timer); bp.timer = null; $("bp-auto").textContent = "Play slowly"; return; }
  $("bp-auto").textContent = "Stop";
  bp.timer = setInterval(() => {
    if (bp.at >= bp.stages.length - 1) { clearInterval(bp.timer); bp.timer = null; $("bp-auto").textContent = "Play slowly"; return; }
    bp.at++; showStage();
  }, 1800);
});
$("backprop").addEventListener("toggle", () => { if (!$("backprop").open) stopBackprop(); });

// R² and RMSE (regression) or the confusion matrix (classes) of the test points: the table is
// built once per number of classes, then only its numbers change (no layout shift).
function showScores(sc, confusion) {
  const regression = taskOf(state) === "regression";
  $("regression-scores").classList.toggle("off", !regression);
  $("confusion-box").classList.toggle("off", regression || !confusion);
  if (regression) {
    $("test-r2").textContent = fmt(sc.test_r2); $("test-rmse").textContent = fmt(sc.test_rmse);
    return;
  }
  if (!confusion) return;
  const k = Math.round(Math.sqrt(confusion.length)), table = $("confusion");
  if (table.dataset.k !== String(k)) {
    table.dataset.k = String(k);
    const head = document.createElement("tr");
    head.append(document.createElement("th"), ...Array.from({length: k}, (_, j) => {
      const th = document.createElement("th"); th.textContent = `→${j}`; return th;
    }));
    const rows = Array.from({length: k}, (_, i) => {
      const tr = document.createElement("tr"), th = document.createElement("th");
      th.textContent = `${i}`;
      tr.append(th, ...Array.from({length: k}, (_, j) => {
        const td = document.createElement("td"); if (i === j) td.className = "diagonal"; return td;
      }));
      return tr;
    });
    table.replaceChildren(head, ...rows);
  }
  const cells = table.querySelectorAll("td");
  confusion.forEach((n, c) => { cells[c].textContent = String(n); });
}

// Points added by a click on the plane (either class): the set becomes the user's own, sent
// as an upload of the points shown plus the new one (then split again, like any upload).
const ADD_NAMES = ["orange", "blue", "green", "purple", "violet", "red", "teal", "olive"];
function addPointChoices() {
  const task = taskOf(state);
  $("add-points").classList.toggle("off", task === "regression");
  const k = task === "multiclass" ? view.shape[view.shape.length - 1] : 2;
  const box = $("add-classes");
  if (box.dataset.k === String(k)) return;
  box.dataset.k = String(k);
  const choice = (value, text) => {
    const label = document.createElement("label"), input = document.createElement("input");
    input.type = "radio"; input.name = "add-class"; input.value = value; input.checked = value === "";
    input.addEventListener("change", () => $("heatmap").classList.toggle("adding", value !== ""));
    label.append(input, ` ${text}`);
    return label;
  };
  box.replaceChildren(choice("", "nothing"), ...Array.from({length: k}, (_, c) => choice(String(c), `class ${c} (${ADD_NAMES[c]})`)));
  $("heatmap").classList.remove("adding");
}
$("heatmap").addEventListener("click", (e) => {
  const picked = page.root.querySelector('input[name="add-class"]:checked');
  if (!picked || picked.value === "" || !view.points) return;
  const rect = $("heatmap").getBoundingClientRect(), [lo, hi] = view.domain;
  const x1 = lo + ((e.clientX - rect.left) / rect.width) * (hi - lo);
  const x2 = hi - ((e.clientY - rect.top) / rect.height) * (hi - lo);
  const rows = ["x1,x2,label"];
  for (let k = 0; k < view.points.length; k += 4) rows.push(`${view.points[k]},${view.points[k + 1]},${Math.round(view.points[k + 2])}`);
  if (rows.length > view.hello.limits.max_upload_rows) { showError(`at most ${view.hello.limits.max_upload_rows} points`); return; }
  rows.push(`${x1.toFixed(4)},${x2.toFixed(4)},${picked.value}`);
  send({type: "upload", csv: rows.join("\n")});
});

transport.start();     // the handlers are set: the session may say hello
