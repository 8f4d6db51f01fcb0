"""sigmoid: σ, its derivative σ(1 − σ), its limits, and logistic regression's boundary."""

from __future__ import annotations

import numpy as np

from .. import LogisticRegression, fit, functional, optim
from . import _data
from ._common import Measured, experiment, fmt, pct


@experiment(
    "sigmoid", "The sigmoid and logistic regression",
    "The sigmoid squashes any real z into a probability between 0 and 1 (its limits), its "
    "derivative is the cheap product σ(z)(1 − σ(z)), at most 1/4, and one sigmoid unit on "
    "wᵀx + b — logistic regression — separates two classes with a straight line.")
def run(quick=False, seed=0):
    """Check σ′ = σ(1 − σ) against central differences, evaluate the limits, and train
    ``nl.LogisticRegression`` by full-batch gradient descent on two Gaussian blobs; compare its
    accuracy with scikit-learn's LogisticRegression (an independent reference)."""
    from sklearn.linear_model import LogisticRegression as SkLogReg

    z = np.linspace(-8, 8, 1601)
    h = 1e-5
    numeric = (functional.sigmoid(z + h) - functional.sigmoid(z - h)) / (2 * h)
    s = functional.sigmoid(z)
    deriv_err = float(np.abs(functional.sigmoid_grad(z) - s * (1 - s)).max())
    fd_err = float(np.abs(functional.sigmoid_grad(z) - numeric).max())
    limits = {"sigma(-40)": float(functional.sigmoid(-40.0)),
              "sigma(0)": float(functional.sigmoid(0.0)),
              "sigma(40)": float(functional.sigmoid(40.0)),
              "sigma(-1e4)": float(functional.sigmoid(-1e4)),
              "sigma(1e4)": float(functional.sigmoid(1e4))}
    max_grad = float(functional.sigmoid_grad(z).max())

    Xtr, ytr, Xte, yte = _data.load("blobs", seed=seed, n=300 if quick else 600,
                                    standardize=False)
    model = LogisticRegression(2, seed=seed, dtype="float64")
    hist = fit(model, Xtr, ytr, optimizer=optim.GD(lr=0.5), epochs=100 if quick else 300,
               batch_size=None)
    acc = float(np.mean(model.predict(Xte) == yte))
    ref = float(SkLogReg().fit(Xtr, ytr).score(Xte, yte))
    w, b = model.layers[0].W[0].copy(), float(model.layers[0].b[0, 0])
    numbers = {"max |sigma' - sigma(1-sigma)|": deriv_err,
               "max |sigma' - finite difference|": fd_err, "max sigma'": max_grad, **limits,
               "logreg_test_accuracy": acc, "sklearn_test_accuracy": ref,
               "w": [round(float(v), 4) for v in w], "b": round(b, 4),
               "final_train_loss": float(hist["loss"][-1])}
    passed = (deriv_err < 1e-12 and fd_err < 1e-8 and abs(max_grad - 0.25) < 1e-6
              and limits["sigma(-40)"] < 1e-15 and 1 - limits["sigma(40)"] < 1e-15
              and np.isfinite(limits["sigma(-1e4)"]) and acc > 0.85 and abs(acc - ref) <= 0.02)
    conclusion = (
        f"σ′ matches σ(1 − σ) and finite differences to {fmt(fd_err, 2)}, peaks at "
        f"{fmt(max_grad)} at z = 0, and σ(±40) = {limits['sigma(-40)']:.1e} / "
        f"{limits['sigma(40)']:.0f}; logistic regression reaches {pct(acc)} test accuracy on "
        f"two blobs (scikit-learn: {pct(ref)}).")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(1, 2, width=5.8, height=4.4,
                                 title="The sigmoid and logistic regression")
        ax = axes[0, 0]
        ax.plot(z, s, label=r"$\sigma(z) = 1/(1+e^{-z})$", color="#1f77b4")
        ax.plot(z, functional.sigmoid_grad(z), label=r"$\sigma'(z) = \sigma(z)(1-\sigma(z))$",
                color="#d62728")
        ax.plot(z[::80], numeric[::80], "k.", ms=6, label="finite differences")
        for level in (0.0, 1.0):
            ax.axhline(level, color="gray", ls=":", lw=1)
        ax.annotate(r"$\sigma \to 1$ as $z \to +\infty$", (3.2, 0.92), fontsize=10)
        ax.annotate(r"$\sigma \to 0$ as $z \to -\infty$", (-7.8, 0.05), fontsize=10)
        ax.annotate("max 1/4", (0, 0.25), xytext=(1.5, 0.35), fontsize=10,
                    arrowprops={"arrowstyle": "->"})
        ax.set(xlabel="z", ylabel="value", title="σ and its derivative", ylim=(-0.05, 1.1))
        ax.legend(loc="center right", fontsize=9)
        ax = axes[0, 1]
        _plot.decision_regions(ax, lambda P: model.predict_proba(P)[:, 1], Xte, yte,
                               f"Logistic regression: test accuracy {pct(acc)}")
        ax.legend(loc="lower right", fontsize=9,
                  title=rf"$w^Tx+b=0$: $w$=({w[0]:.2f}, {w[1]:.2f}), $b$={b:.2f}",
                  title_fontsize=9)
        return fig

    return Measured(numbers, conclusion, passed, plot)
