"""Backprop, step by step: one mini-batch through the main run's network, every number the
library's own, in the lecture's notation (columns are examples)::

    forward   Z[l] = W[l] A[l-1] + b[l],   A[l] = g(Z[l])                  l = 1 … L
    backward  dZ[L] = A[L] − Y  (sigmoid/softmax with cross-entropy; else dA[L] ⊙ g'(Z[L]))
              dW[l] = dZ[l] A[l-1]ᵀ / m,  db[l] = Σ dZ[l] / m,  dA[l-1] = W[l]ᵀ dZ[l]
              dZ[l-1] = dA[l-1] ⊙ g'(Z[l-1])
    update    W[l] ← W[l] − α dW[l],  b[l] ← b[l] − α db[l]   (plain gradient descent)

The layers' own ``forward``/``backward`` run on a copy of the model (training goes on
untouched); a test checks the numbers against ``model.forward`` and ``loss_and_grad``.
The page asks for them as the export ``backprop:<example>`` (a JSON file it shows on the
drawing instead of saving).
"""

from __future__ import annotations

import copy
import json

import numpy as np

import neuralab as nl

from .protocol import ProtocolError


def step(session, example: int = 0) -> dict:
    """The numbers of one mini-batch step of the main run: the batch is training point
    ``example`` and the next ``batchSize − 1`` ones (wrapping around); per-example vectors
    are those of ``example`` (column 0)."""
    m_all = len(session.y)
    if not 0 <= example < m_all:
        raise ProtocolError(f"backprop: the example must be between 0 and {m_all - 1} (a "
                            f"training point), got {example}", "kind")
    run = session.runs[0]
    model = copy.deepcopy(run.model)
    m = min(session.state["batchSize"], m_all)
    idx = [(example + k) % m_all for k in range(m)]
    X, y = session.X[idx], session.y[idx]
    A = model._check_X(X).T                         # A[0]: the switched-on input features
    loss = session.loss
    Y = loss.prepare_targets(y, session.n_out, m, model.dtype)
    if len(model.layers) % 2 or not all(
            isinstance(d, nl.Dense) and isinstance(a, nl.activations.Activation)
            for d, a in zip(model.layers[::2], model.layers[1::2], strict=True)):
        raise ProtocolError("backprop step by step shows Dense and activation layers, as on "
                            "the slides: switch batch norm and dropout off to use it",
                            "kind")
    layers = []
    for dense, act in zip(model.layers[::2], model.layers[1::2], strict=True):
        A_prev = A
        Z = dense.forward(A_prev, True)
        A = act.forward(Z, True)
        layers.append({"activation": type(act).__name__, "A_prev": A_prev, "Z": Z, "A": A,
                       "W": dense.W.copy(), "b": dense.b[:, 0].copy()})
    last = model.layers[-1]
    fused = loss.fuses(last)
    value = loss._value_from_logits(last._Z, A, Y) if fused else loss._value(A, Y)
    dZ = loss._dZ(A, Y) if fused else last.backward(loss._dA(A, Y))
    dA = None                                       # dA[l] of the layer above, once known
    for k in range(len(layers) - 1, -1, -1):
        dense, act = model.layers[2 * k], model.layers[2 * k + 1]
        if dA is not None:
            dZ = act.backward(dA)
        dA = dense.backward(dZ, need_input_grad=k > 0)
        layers[k].update(dZ=dZ, dA_prev=dA, dW=dense.dW.copy(), db=dense.db[:, 0].copy())
    lr = run.lr()
    out = {"example": example, "batch": idx, "m": m, "x": X[0].tolist(),
           "y": np.asarray(y[0]).tolist(), "loss": float(value), "lr": float(lr),
           "optimizer": session.state["optimizer"], "fused": bool(fused),
           "regularization": session.state["regularization"] if session.state["regRate"] else
           "none", "features": list(session.state["features"]), "layers": []}
    for layer in layers:
        out["layers"].append({
            "activation": layer["activation"], "W": layer["W"].tolist(), "b": layer["b"].tolist(),
            "a_prev": layer["A_prev"][:, 0].tolist(), "z": layer["Z"][:, 0].tolist(),
            "a": layer["A"][:, 0].tolist(), "dz": layer["dZ"][:, 0].tolist(),
            "da_prev": None if layer["dA_prev"] is None else layer["dA_prev"][:, 0].tolist(),
            "dW": layer["dW"].tolist(), "db": layer["db"].tolist(),
            "W_new": (layer["W"] - lr * layer["dW"]).tolist(),
            "b_new": (layer["b"] - lr * layer["db"]).tolist()})
    return out


def step_json(session, example: int = 0) -> str:
    """:func:`step` as JSON text (refused while the weights are not finite: reset first)."""
    with np.errstate(over="ignore", invalid="ignore"):
        numbers = step(session, example)
    try:
        return json.dumps(numbers, allow_nan=False)
    except ValueError:
        raise ProtocolError("backprop: the network's numbers are not finite (training "
                            "diverged); reset it first", "kind") from None

