"""optimizer-race: every optimizer from the same weights on the same data."""

from __future__ import annotations

import numpy as np

from .. import MLP, evaluate, fit, optim
from . import _data
from ._common import Measured, experiment, fmt, pct

#: name -> (class name, extra arguments); lr is tuned on a grid
_RACERS = {
    "SGD": ("SGD", {}), "Momentum": ("Momentum", {"beta": 0.9}),
    "Nesterov": ("Nesterov", {"beta": 0.9}), "AdaGrad": ("AdaGrad", {}),
    "RMSProp": ("RMSProp", {"rho": 0.9}), "Adam": ("Adam", {}),
    "AdamW": ("AdamW", {"weight_decay": 1e-2}),
}
_GRID = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
#: the grid's winners on digits (seed 0, full mode), used as is in quick mode
_QUICK_LR = {"SGD": 1.0, "Momentum": 0.1, "Nesterov": 0.1, "AdaGrad": 1.0,
             "RMSProp": 0.01, "Adam": 0.01, "AdamW": 0.01}


def _train(name, lr, start, data, epochs, seed):
    Xtr, ytr, Xva, yva = data
    cls, kwargs = _RACERS[name]
    model = MLP([64, 64, 10], activation="relu", seed=seed, dtype="float64")
    model.params[...] = start
    hist = fit(model, Xtr, ytr, optimizer=getattr(optim, cls)(lr=lr, **kwargs), epochs=epochs,
               batch_size=32, seed=seed, validation_data=(Xva, yva))
    return model, hist


@experiment(
    "optimizer-race", "The optimizer race",
    "Optimizers are the algorithms that drive the loss down, and different ones converge "
    "differently: from the same weights, on the same mini-batches, each with its own best "
    "learning rate, they end at training losses orders of magnitude apart, even where their "
    "accuracies end up close; momentum and the adaptive methods (AdaGrad, RMSProp, Adam) "
    "go further than plain SGD.")
def run(quick=False, seed=0):
    """Digits, MLP 64-64-10 ReLU, batch 32, the same initial θ and batch order for every
    optimizer of ``nl.optim``; each learning rate picked from a grid by the final training
    loss, the quantity an optimizer minimizes (quick mode reuses the full run's choices);
    loss and accuracy per epoch and per second, test accuracy at the end.
    Newton is left out (4,810 parameters: see newton-cost)."""
    Xtr, ytr, Xte, yte = _data.load("digits", seed=seed)
    from sklearn.model_selection import train_test_split

    Xtr, Xva, ytr, yva = train_test_split(Xtr, ytr, test_size=0.2, random_state=seed,
                                          stratify=ytr)
    data = (Xtr, ytr, Xva, yva)
    start = MLP([64, 64, 10], activation="relu", seed=seed, dtype="float64").params.copy()
    epochs = 8 if quick else 25
    chosen, tuning = {}, {}
    for name in _RACERS:
        if quick:
            chosen[name] = _QUICK_LR[name]
            continue
        scores = {}
        for lr in _GRID:
            _, hist = _train(name, lr, start, data, epochs, seed)
            v = hist["loss"][-1]
            scores[lr] = v if np.isfinite(v) else np.inf
        chosen[name] = min(scores, key=scores.get)
        tuning[name] = {f"lr={lr:g}": float(f"{v:.3g}") for lr, v in scores.items()}
    runs = {}
    for name in _RACERS:
        model, hist = _train(name, chosen[name], start, data, epochs, seed)
        runs[name] = {"loss": np.array(hist["loss"]), "val_acc": np.array(hist["val_accuracy"]),
                      "time": np.cumsum(hist["time"]),
                      "test_acc": evaluate(model, Xte, yte)["accuracy"]}
    table = {name: {"lr": chosen[name], "final train loss": float(f"{r['loss'][-1]:.3g}"),
                    "val accuracy": round(float(r["val_acc"][-1]), 4),
                    "test accuracy": round(float(r["test_acc"]), 4),
                    "seconds": float(f"{r['time'][-1]:.3g}"),
                    "ms per epoch": float(f"{1e3 * r['time'][-1] / epochs:.3g}")}
             for name, r in runs.items()}
    numbers = {"race": table}
    if tuning:
        numbers["training loss per learning rate (tuning)"] = tuning
    loss = {n: r["loss"][-1] for n, r in runs.items()}
    best, worst = min(loss, key=loss.get), max(loss, key=loss.get)
    spread = loss[worst] / max(loss[best], 1e-300)
    numbers["spread of final training loss (worst / best)"] = float(f"{spread:.3g}")
    passed = (all(r["test_acc"] > 0.9 for r in runs.values()) and spread > 10
              and max(loss[n] for n in ("Momentum", "AdaGrad", "RMSProp", "Adam")) < loss["SGD"])
    conclusion = (
        f"From the same weights, after {epochs} epochs the training loss is "
        + ", ".join(f"{n} {fmt(v, 2)}" for n, v in sorted(loss.items(), key=lambda kv: kv[1]))
        + f" (a {spread:.0f}x spread); test accuracies range from "
        f"{pct(min(r['test_acc'] for r in runs.values()))} to "
        f"{pct(max(r['test_acc'] for r in runs.values()))}.")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(1, 3, width=5.0, height=4.6,
                                 title="The optimizer race: digits, MLP 64-64-10, same start, "
                                       "tuned learning rates")
        for name, r in runs.items():
            c = _plot.COLORS[name]
            ep = np.arange(1, epochs + 1)
            lab = f"{name} (α = {chosen[name]:g})"
            axes[0, 0].plot(ep, r["loss"], "o-", ms=3, color=c, label=lab)
            axes[0, 1].plot(r["time"], r["loss"], "o-", ms=3, color=c, label=name)
            axes[0, 2].plot(ep, 100 * r["val_acc"], "o-", ms=3, color=c,
                            label=f"{name}: test {pct(r['test_acc'])}")
        axes[0, 0].set(yscale="log", xlabel="epoch", ylabel="training loss (log)",
                       title="Loss per epoch")
        axes[0, 1].set(yscale="log", xlabel="wall time (s)", ylabel="training loss (log)",
                       title="Loss per second")
        axes[0, 2].set(xlabel="epoch", ylabel="validation accuracy (%)",
                       title="Validation accuracy", ylim=(85, 100))
        for ax in axes[0]:
            ax.legend(fontsize=8.5)
        return fig

    return Measured(numbers, conclusion, passed, plot)
