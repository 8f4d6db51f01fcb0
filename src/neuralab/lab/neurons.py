"""one-to-many-neurons: one neuron draws one line; a hidden layer of neurons solves XOR."""

from __future__ import annotations

import numpy as np

from .. import MLP, LogisticRegression, fit, optim
from . import _data
from ._common import Measured, experiment, pct


@experiment(
    "one-to-many-neurons", "From one neuron to many: XOR",
    "A single neuron y = σ(wᵀx + b) can only split the plane with a straight line, so it "
    "cannot learn XOR; a hidden layer of a few neurons, each drawing its own line, combines "
    "them into the right regions.")
def run(quick=False, seed=0):
    """Train ``nl.LogisticRegression(2)`` and ``nl.MLP([2, 4, 1])`` (tanh hidden, sigmoid out)
    on noisy XOR points with the same optimizer; compare test accuracies."""
    Xtr, ytr, Xte, yte = _data.load("xor", seed=seed, n=400 if quick else 800, noise=0.05,
                                    standardize=False)
    epochs = 150 if quick else 400
    single = LogisticRegression(2, init="xavier_uniform", seed=seed, dtype="float64")
    h1 = fit(single, Xtr, ytr, optimizer=optim.SGD(lr=0.5), epochs=epochs, batch_size=None)
    hidden = MLP([2, 4, 1], activation="tanh", output="sigmoid", init="xavier_uniform",
                 seed=seed, dtype="float64")
    h2 = fit(hidden, Xtr, ytr, optimizer=optim.SGD(lr=0.5), epochs=epochs, batch_size=32,
             seed=seed)
    acc1 = float(np.mean(single.predict(Xte) == yte))
    acc2 = float(np.mean(hidden.predict(Xte) == yte))
    numbers = {"one_neuron_test_accuracy": acc1, "hidden_layer_test_accuracy": acc2,
               "one_neuron_final_loss": float(h1["loss"][-1]),
               "hidden_layer_final_loss": float(h2["loss"][-1]), "hidden_units": 4,
               "epochs": epochs}
    passed = acc1 < 0.8 and acc2 > 0.95
    conclusion = (f"On XOR one neuron reaches only {pct(acc1)} test accuracy (a line cannot "
                  f"separate it), while 4 hidden tanh neurons reach {pct(acc2)}.")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(1, 3, width=4.9, height=4.4,
                                 title="One neuron vs a hidden layer on XOR")
        _plot.decision_regions(axes[0, 0], lambda P: single.predict_proba(P)[:, 1], Xte, yte,
                               f"One neuron σ(wᵀx+b): {pct(acc1)}", colorbar=False)
        _plot.decision_regions(axes[0, 1], lambda P: hidden.predict_proba(P)[:, 1], Xte, yte,
                               f"2-4-1 network: {pct(acc2)}")
        axes[0, 0].legend(loc="lower right", fontsize=9, framealpha=0.9)
        ax = axes[0, 2]
        ax.plot(np.arange(1, len(h1["loss"]) + 1), h1["loss"], label="one neuron")
        ax.plot(np.arange(1, len(h2["loss"]) + 1), h2["loss"], label="hidden layer (4 units)")
        ax.axhline(np.log(2), color="gray", ls=":", lw=1)
        ax.annotate("ln 2: chance", (1, np.log(2)), textcoords="offset points", xytext=(60, 6),
                    fontsize=9)
        ax.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="Training loss")
        ax.legend()
        return fig

    return Measured(numbers, conclusion, passed, plot)
