// Backprop, step by step: the numbers of one mini-batch (the server's, from the library's own
// forward and backward: export "backprop:<example>") shown stage by stage on the drawing, in
// the lecture's notation — forward Z = W A + b, A = g(Z) layer by layer, the loss, then
// dZ, dW = dZ Aᵀ/m, db, dA_prev = Wᵀ dZ backwards, then the update W ← W − α dW.

const f3 = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(3));
const vec = (v) => `[${v.map(f3).join(", ")}]`;
const G = {Tanh: "tanh", ReLU: "ReLU", Sigmoid: "σ", Identity: "identity", LeakyReLU: "LeakyReLU", Softmax: "softmax"};

/** The stages of one step: {title, text, annotate: column -> labels, active: layer or null}. */
export function stages(d) {
  const L = d.layers.length, out = [];
  out.push({title: "The mini-batch", active: null,
    text: `m = ${d.m} training points (numbers ${d.batch.slice(0, 6).join(", ")}${d.m > 6 ? ", …" : ""}); `
      + `the numbers shown are example ${d.example}'s: x = ${vec(d.x)}, y = ${JSON.stringify(d.y)}. `
      + `A[0] = its inputs ${vec(d.layers[0].a_prev)} (${d.features.join(", ")}).`,
    annotate: {0: d.layers[0].a_prev.map((v) => `a=${f3(v)}`)}});
  d.layers.forEach((layer, k) => {
    const l = k + 1, g = G[layer.activation] ?? layer.activation;
    out.push({title: `Forward, layer ${l}`, active: k,
      text: `Z[${l}] = W[${l}] A[${l - 1}] + b[${l}] = ${vec(layer.z)};  A[${l}] = ${g}(Z[${l}]) = ${vec(layer.a)}`,
      annotate: {[l]: layer.z.map((z, i) => `z=${f3(z)} a=${f3(layer.a[i])}`)}});
  });
  const last = d.layers[L - 1];
  out.push({title: "The loss", active: null,
    text: `J = ${f3(d.loss)} (the batch mean); the output for this example is ${vec(last.a)}, its target ${JSON.stringify(d.y)}. `
      + (d.fused ? `With ${G[last.activation]} and cross-entropy, dZ[${L}] = A[${L}] − Y.` : `dZ[${L}] = dA[${L}] ⊙ g'(Z[${L}]), dA[${L}] = ∂J/∂A[${L}].`),
    annotate: {[L]: last.a.map((a) => `a=${f3(a)}`)}});
  for (let k = L - 1; k >= 0; k--) {
    const l = k + 1, layer = d.layers[k];
    const dW = layer.dW.flat(), shown = dW.slice(0, 4).map(f3).join(", ");
    const text = (l < L ? `dZ[${l}] = dA[${l}] ⊙ g'(Z[${l}]) = ${vec(layer.dz)}; ` : `dZ[${l}] = ${vec(layer.dz)}; `)
      + `dW[${l}] = dZ[${l}] A[${l - 1}]ᵀ / m = [${shown}${dW.length > 4 ? ", …" : ""}] (the batch's); db[${l}] = Σ dZ[${l}] / m = ${vec(layer.db)}`
      + (layer.da_prev ? `; dA[${l - 1}] = W[${l}]ᵀ dZ[${l}] = ${vec(layer.da_prev)}` : "");
    const annotate = {[l]: layer.dz.map((v) => `dz=${f3(v)}`)};
    if (layer.da_prev) annotate[l - 1] = layer.da_prev.map((v) => `dA=${f3(v)}`);
    out.push({title: `Backward, layer ${l}`, active: k, text, annotate, links: "dW"});
  }
  const first = d.layers[0].W.flat(), after = d.layers[0].W_new.flat();
  out.push({title: "The update", active: null, links: "W_new",
    text: `W[l] ← W[l] − α dW[l], b[l] ← b[l] − α db[l] with α = ${f3(d.lr)}: e.g. W[1] ${first.slice(0, 3).map(f3).join(", ")} → ${after.slice(0, 3).map(f3).join(", ")}`
      + (d.optimizer === "sgd" ? "." : ` (plain gradient descent; ${d.optimizer} applies its own rule to the same gradient).`)
      + (d.regularization !== "none" ? ` The ${d.regularization} penalty adds its own term to dW.` : "")});
  return out;
}
