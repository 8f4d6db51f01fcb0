"""backprop: backpropagation checked against finite differences, the slide's formulas and
the mean of per-example gradients."""

from __future__ import annotations

import numpy as np

from .. import MLP, functional, gradcheck, losses
from ._common import Measured, experiment

_CASES = {  # name: (hidden activation, output, loss)
    "sigmoid + softmax/CE": ("sigmoid", "softmax", losses.CrossEntropy()),
    "tanh + softmax/CE": ("tanh", "softmax", losses.CrossEntropy()),
    "ReLU + softmax/CE": ("relu", "softmax", losses.CrossEntropy()),
    "LeakyReLU + sigmoid/BCE": ("leaky_relu", "sigmoid", losses.BinaryCrossEntropy()),
    "tanh + identity/MSE": ("tanh", "identity", losses.MSE()),
}


def slide_gradients(W1, b1, W2, b2, X, Y):
    r"""The lecture's vectorized backpropagation for a tanh hidden layer and a sigmoid output.

    Columns are examples; ``X`` is (n_x, m), ``Y`` is (1, m).

    .. math::

        dZ^{[2]} = A^{[2]} - Y, \quad dW^{[2]} = \tfrac1m dZ^{[2]} A^{[1]T}, \quad
        db^{[2]} = \tfrac1m \textstyle\sum_i dZ^{[2]}_{:,i}, \\
        dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]}), \quad
        dW^{[1]} = \tfrac1m dZ^{[1]} X^T, \quad db^{[1]} = \tfrac1m \textstyle\sum_i dZ^{[1]}_{:,i}
    """
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = np.tanh(Z1)
    A2 = functional.sigmoid(W2 @ A1 + b2)
    dZ2 = A2 - Y
    dW2, db2 = dZ2 @ A1.T / m, dZ2.sum(axis=1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * functional.tanh_grad(Z1)
    dW1, db1 = dZ1 @ X.T / m, dZ1.sum(axis=1, keepdims=True) / m
    return np.concatenate([dW1.ravel(), db1.ravel(), dW2.ravel(), db2.ravel()])


def _targets(rng, output, m, k):
    if output == "softmax":
        return rng.integers(0, k, m)
    if output == "sigmoid":
        return rng.integers(0, 2, m)
    return rng.normal(size=(m, k))


@experiment(
    "backprop", "Backpropagation",
    "Backpropagation computes the exact gradient: the error starts at the output "
    "(dZ = A − Y) and flows backward layer by layer; the vectorized version over m examples, "
    "with its 1/m, is the average of the per-example gradients.")
def run(quick=False, seed=0):
    """Gradient check (``nl.gradcheck.gradient_check``, float64 central differences) per layer
    for five activation/loss pairs; the slide's six formulas written out by hand against
    ``model.grads``; the batch gradient against the mean of m single-example gradients."""
    rng = np.random.default_rng(seed)
    m, sizes = (16, [4, 6, 5, 3]) if quick else (64, [6, 10, 8, 4])
    X = rng.normal(size=(m, sizes[0]))
    table, worst = {}, 0.0
    for name, (act, out, loss) in _CASES.items():
        k = 1 if out == "sigmoid" else sizes[-1]
        model = MLP([*sizes[:-1], k], activation=act, output=out, init="xavier_normal",
                    seed=seed, dtype="float64")
        report = gradcheck.gradient_check(model, X, _targets(rng, out, m, k), loss)
        table[name] = {f"Dense {j + 1}": row[3] for j, row in enumerate(report["layers"])}
        table[name]["all θ"] = report["total"]
        worst = max(worst, *table[name].values())

    # the slide's formulas, by hand, for a tanh / sigmoid two-layer network
    model = MLP([sizes[0], sizes[1], 1], activation="tanh", output="sigmoid",
                init="xavier_normal", seed=seed, dtype="float64")
    y = rng.integers(0, 2, m)
    loss = losses.BinaryCrossEntropy()
    Y = loss.prepare_targets(y, 1, m, model.dtype)
    model.loss_and_grad(X.T, Y, loss)
    batch = model.grads.copy()
    d1, d2 = model.layers[0], model.layers[2]
    slide = slide_gradients(d1.W, d1.b, d2.W, d2.b, X.T, Y.reshape(1, -1))
    slide_err = float(np.abs(slide - batch).max())
    # the mean of per-example gradients
    per_example = np.zeros_like(batch)
    for i in range(m):
        model.loss_and_grad(X[i:i + 1].T, loss.select(Y, slice(i, i + 1)), loss)
        per_example += model.grads / m
    mean_err = float(np.abs(per_example - batch).max())

    numbers = {"relative_error_per_layer": {k: {c: float(f"{v:.3g}") for c, v in r.items()}
                                            for k, r in table.items()},
               "worst_relative_error": worst, "slide_formulas_vs_library_max_abs": slide_err,
               "mean_per_example_vs_batch_max_abs": mean_err, "m": m, "n_params": batch.size}
    passed = worst < 1e-6 and slide_err < 1e-12 and mean_err < 1e-12
    conclusion = (
        f"Backprop matches central differences to a relative error of at most {worst:.1e} in "
        f"every layer of 5 networks; the slide's six formulas give the library's gradient to "
        f"{slide_err:.1e}, and the 1/m-averaged batch gradient equals the mean of {m} "
        f"per-example gradients to {mean_err:.1e}.")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(1, 2, width=6.2, height=4.6, title="Backpropagation, checked")
        ax = axes[0, 0]
        names = list(table)
        n_layers = len(sizes) - 1
        w = 0.8 / n_layers
        for j in range(n_layers):
            vals = [list(table[n].values())[j] for n in names]
            ax.bar(np.arange(len(names)) + (j - (n_layers - 1) / 2) * w, vals, w,
                   label=f"Dense layer {j + 1}")
        ax.axhline(1e-7, color="k", ls=":", lw=1)
        ax.annotate("1e-7", (-0.45, 1e-7), textcoords="offset points", xytext=(0, 3),
                    fontsize=9)
        ax.set_xticks(np.arange(len(names)), [n.replace(" + ", "\n") for n in names],
                      fontsize=9)
        ax.set(yscale="log", ylabel="relative error vs finite differences (log)",
               title="Gradient check per layer (float64)")
        ax.legend(fontsize=9, loc="upper right")
        ax = axes[0, 1]
        ax.plot(batch, per_example, "o", ms=7, mfc="none", label="mean of per-example gradients")
        ax.plot(batch, slide, "x", ms=5, label="slide's formulas, by hand")
        lim = np.abs(batch).max() * 1.1
        ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.8, label="y = x")
        ax.set(xlabel="library's vectorized gradient ∇θ (batch, 1/m)",
               ylabel="other computation of the same entry",
               title=f"{batch.size} gradient entries, m = {m}: all on y = x")
        ax.legend(fontsize=9)
        ax.text(0.98, 0.03, f"max |difference|:\n{mean_err:.1e} (per-example mean)\n"
                f"{slide_err:.1e} (slide formulas)", transform=ax.transAxes, ha="right",
                fontsize=9, bbox={"facecolor": "white", "alpha": 0.85})
        return fig

    return Measured(numbers, conclusion, passed, plot)
