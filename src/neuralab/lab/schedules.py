"""schedules: step, exponential and cosine decay, and what decaying the rate buys."""

from __future__ import annotations

import math

import numpy as np

from .. import Dense, Identity, Sequential, fit, optim
from ..optim import schedules as S
from ._common import Measured, experiment, fmt


def _problem():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, (y - y.mean()) / y.std()


def _slide_formula(name, t, lr0, T, gamma, k_step, k_exp):
    """The slide's closed forms, written independently of the library."""
    if name == "constant":
        return lr0
    if name == "step decay":
        return lr0 * gamma ** math.floor(t / k_step)
    if name == "exponential decay":
        return lr0 * math.exp(-k_exp * t)
    return 0.5 * lr0 * (1 + math.cos(min(t, T) / T * math.pi))        # η_min = 0


@experiment(
    "schedules", "Learning-rate schedules",
    "With a constant rate, stochastic gradient descent never settles: the noise of the "
    "mini-batches keeps it bouncing around the minimum at a distance set by α. Decaying α — "
    "in steps, exponentially or along a cosine — lets the same run start fast and finish "
    "close to the minimum.")
def run(quick=False, seed=0):
    """``nl.schedules`` curves checked against the slide's formulas, then linear least squares
    on the 10 diabetes features by SGD (batch 8, α₀ = 0.1) with each schedule; the distance to
    the exact minimum (from ``numpy.linalg.lstsq``) is measured every epoch."""
    T = 20 if quick else 40
    lr0, gamma, k_step, k_exp = 0.1, 0.3, T // 4, 4.0 / T
    scheds = {"constant": S.Constant(lr0), "step decay": S.StepDecay(lr0, gamma, k_step),
              "exponential decay": S.ExponentialDecay(lr0, k_exp),
              "cosine annealing": S.CosineAnnealing(lr0, T)}
    ts = np.arange(T + 1)
    formula_err = max(abs(s(int(t)) - _slide_formula(n, int(t), lr0, T, gamma, k_step, k_exp))
                      for n, s in scheds.items() for t in ts)

    X, y = _problem()
    Xb = np.hstack([X, np.ones((len(X), 1))])
    loss_min = float(np.mean((Xb @ np.linalg.lstsq(Xb, y, rcond=None)[0] - y) ** 2))
    seeds = [seed, seed + 1, seed + 2]
    runs = {}
    for name, sched in scheds.items():
        curves = []
        for s in seeds:
            model = Sequential([Dense(X.shape[1], 1, init="zeros"), Identity()], seed=s,
                               dtype="float64")
            hist = fit(model, X, y, loss="mse", optimizer=optim.SGD(lr=lr0), schedule=sched,
                       epochs=T, batch_size=8, seed=s, validation_data=(X, y))
            curves.append(np.array(hist["val_loss"]) - loss_min)
        runs[name] = np.array(curves)
    final = {n: float(np.median(c[:, -1])) for n, c in runs.items()}
    numbers = {"max |library − slide formula|": formula_err, "minimum loss (lstsq)": loss_min,
               "settings": f"α0 = {lr0}, step: γ = {gamma} every {k_step} epochs, "
                           f"exponential: k = {k_exp:g}, cosine: T_max = {T}, η_min = 0",
               f"excess loss after {T} epochs (median of {len(seeds)} seeds)":
                   {n: float(f"{v:.3g}") for n, v in final.items()}}
    decayed = [final[n] for n in scheds if n != "constant"]
    passed = formula_err < 1e-12 and max(decayed) < final["constant"] / 10
    conclusion = (
        f"The schedules equal the slide's formulas to {formula_err:.0e}; after {T} epochs of "
        f"SGD the loss sits {fmt(final['constant'])} above the minimum with a constant α, "
        f"but only {fmt(final['step decay'])} (step), {fmt(final['exponential decay'])} "
        f"(exponential) and {fmt(final['cosine annealing'])} (cosine) with a decaying one.")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(1, 3, width=5.0, height=4.4,
                                 title="Learning-rate schedules: start fast, finish close")
        colors = {"constant": "#7f7f7f", "step decay": "#1f77b4",
                  "exponential decay": "#ff7f0e", "cosine annealing": "#2ca02c"}
        ax = axes[0, 0]
        formulas = {"constant": r"$\alpha_0$",
                    "step decay": r"$\alpha_0\gamma^{\lfloor t/k\rfloor}$",
                    "exponential decay": r"$\alpha_0 e^{-kt}$",
                    "cosine annealing": r"$\frac{\eta_{max}}{2}(1+\cos\frac{\pi t}{T})$"}
        for name, s in scheds.items():
            ax.plot(ts, [s(int(t)) for t in ts], color=colors[name],
                    drawstyle="steps-post" if name == "step decay" else "default",
                    label=f"{name}: {formulas[name]}")
        ax.set(xlabel="epoch t", ylabel="learning rate α_t", title="The schedules")
        ax.legend(fontsize=8.5)
        ax = axes[0, 1]
        for name, c in runs.items():
            ax.plot(np.arange(1, T + 1), np.median(c, axis=0), color=colors[name], label=name)
            ax.fill_between(np.arange(1, T + 1), c.min(axis=0), c.max(axis=0),
                            color=colors[name], alpha=0.15)
        ax.set(yscale="log", xlabel="epoch", ylabel="loss − minimum (log)",
               title="SGD (batch 8) on diabetes least squares")
        ax.legend(fontsize=9)
        ax = axes[0, 2]
        bars = ax.bar(range(len(final)), list(final.values()),
                      color=[colors[n] for n in final])
        ax.bar_label(bars, labels=[f"{v:.1e}" for v in final.values()], fontsize=9)
        ax.set_xticks(range(len(final)), [n.replace(" ", "\n") for n in final])
        ax.set(yscale="log", ylabel=f"loss − minimum after {T} epochs (log)",
               title="Where each run ends")
        return fig

    return Measured(numbers, conclusion, passed, plot)
