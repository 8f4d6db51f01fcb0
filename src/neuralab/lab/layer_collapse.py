"""layer-collapse: without a non-linearity, a deep network is one linear model."""

from __future__ import annotations

import numpy as np

from .. import MLP, Dense, fit, optim
from . import _data
from ._common import Measured, experiment, pct


def collapse(model):
    r"""The single linear map ``(W_c, b_c)`` that a stack of Dense layers (no activation) computes.

    .. math::

        W_c = W^{[L]} \cdots W^{[2]} W^{[1]}, \qquad
        b_c = W^{[L]} \cdots W^{[2]} b^{[1]} + \dots + W^{[L]} b^{[L-1]} + b^{[L]}
    """
    W_c, b_c = None, None
    for layer in model.layers:
        if isinstance(layer, Dense):
            if W_c is None:
                W_c, b_c = layer.W.copy(), layer.b.copy()
            else:
                W_c, b_c = layer.W @ W_c, layer.W @ b_c + layer.b
    return W_c, b_c


def _logits(model, X):
    """The network's output before its final activation, samples as rows."""
    A = X.T
    for layer in model.layers[:-1]:
        A = layer.forward(A, training=False)
    return A.T


@experiment(
    "layer-collapse", "Layer collapse: depth needs a non-linearity",
    "Stacking linear layers gives a linear function again, y = x·w₀w₁w₂w₃ = x·w_c, however "
    "deep the network; only a non-linear activation between the layers (tanh, ReLU) lets depth "
    "draw a curved boundary.")
def run(quick=False, seed=0):
    """Train the same 2-16-16-16-1 network on circles with identity, tanh and ReLU hidden
    activations; check numerically that the identity network equals the product of its weight
    matrices, before and after training."""
    Xtr, ytr, Xte, yte = _data.load("circles", seed=seed, n=400 if quick else 800,
                                    standardize=False)
    epochs = 80 if quick else 250
    models, hists, acc = {}, {}, {}
    err_init = None
    for act in ("identity", "tanh", "relu"):
        model = MLP([2, 16, 16, 16, 1], activation=act, output="sigmoid",
                    init="xavier_normal" if act != "relu" else "he_normal", seed=seed,
                    dtype="float64")
        if act == "identity":
            W_c, b_c = collapse(model)
            err_init = float(np.abs(_logits(model, Xte) - (Xte @ W_c.T + b_c.T)).max())
        hists[act] = fit(model, Xtr, ytr, optimizer=optim.SGD(lr=0.1), epochs=epochs,
                         batch_size=32, seed=seed)
        models[act] = model
        acc[act] = float(np.mean(model.predict(Xte) == yte))
    W_c, b_c = collapse(models["identity"])
    err_trained = float(np.abs(_logits(models["identity"], Xte) - (Xte @ W_c.T + b_c.T)).max())
    numbers = {"collapse_error_at_init": err_init, "collapse_error_after_training": err_trained,
               "W_c": [round(float(v), 4) for v in W_c[0]], "b_c": round(float(b_c[0, 0]), 4),
               **{f"test_accuracy_{a}": v for a, v in acc.items()}}
    passed = (max(err_init, err_trained) < 1e-10 and acc["identity"] < 0.7
              and acc["tanh"] > 0.95 and acc["relu"] > 0.95)
    conclusion = (
        f"The 3-hidden-layer network without activation equals x·W_c + b_c to "
        f"{max(err_init, err_trained):.1e} and stays at {pct(acc['identity'])} on circles; "
        f"with tanh it reaches {pct(acc['tanh'])}, with ReLU {pct(acc['relu'])}.")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(1, 3, width=4.8, height=4.4,
                                 title="Same 2-16-16-16-1 network, three hidden activations")
        for k, act in enumerate(("identity", "tanh", "relu")):
            label = {"identity": "no activation (identity)", "tanh": "tanh",
                     "relu": "ReLU"}[act]
            _plot.decision_regions(axes[0, k], lambda P, a=act: models[a].predict_proba(P)[:, 1],
                                   Xte, yte, f"{label}: {pct(acc[act])}", colorbar=k == 2)
        axes[0, 0].text(0.02, 0.02, f"= one linear model:\n|f(x) − (W_c x + b_c)| ≤ "
                        f"{max(err_init, err_trained):.0e}", transform=axes[0, 0].transAxes,
                        fontsize=9, bbox={"facecolor": "white", "alpha": 0.85})
        return fig

    return Measured(numbers, conclusion, passed, plot)
