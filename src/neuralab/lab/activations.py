"""activations: the four non-linearities, vanishing gradients with sigmoid, dead ReLU units."""

from __future__ import annotations

import numpy as np

from .. import Dense, Sequential, Softmax, fit, functional, optim
from ..nn.activations import ACTIVATIONS
from ..nn.losses import CrossEntropy
from . import _data
from ._common import Measured, experiment, fmt, pct

_ACTS = {name: ACTIVATIONS[name] for name in ("sigmoid", "tanh", "relu", "leaky_relu")}
_LABELS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "LeakyReLU"}
_SIZES = [64, 32, 32, 32, 32, 32, 32, 10]   # 6 hidden layers


def _network(act, seed):
    """The same deep network with hidden activation ``act`` (Xavier for sigmoid/tanh, He else)."""
    init = "xavier_normal" if act in ("sigmoid", "tanh") else "he_normal"
    layers = []
    for i, (a, b) in enumerate(zip(_SIZES[:-1], _SIZES[1:], strict=True)):
        layers.append(Dense(a, b, init=init))
        if i < len(_SIZES) - 2:
            layers.append(_ACTS[act]())
    return Sequential([*layers, Softmax()], seed=seed, dtype="float64")


def _layer_grad_norms(model, X, y):
    """‖dW^{[l]}‖ of every Dense layer on one batch."""
    loss = CrossEntropy()
    model.loss_and_grad(X.T, loss.prepare_targets(y, model.n_out, len(y), model.dtype), loss)
    return [float(np.linalg.norm(layer.dW)) for layer in model.layers if isinstance(layer, Dense)]


def _silent_fraction(model, X):
    """Per hidden layer: the fraction of units with g′(Z) = 0 on every example (no gradient)."""
    A, out = X.T, []
    for layer in model.layers[:-1]:
        Z = A
        A = layer.forward(A, training=False)
        if not isinstance(layer, Dense):
            g_prime = layer.g_prime(Z, A)
            out.append(float(np.mean(np.all(g_prime == 0, axis=1))))
    return out


def _kill_experiment(act, Xtr, ytr, epochs, seed):
    """Push half the first-layer units below zero for every input, train, see if they move."""
    model = _network(act, seed)
    first = model.layers[0]
    kill = np.arange(0, first.n_out, 2)
    Z = first.W @ Xtr.T
    first.b[kill, 0] = -Z[kill].max(axis=1) - 0.1      # z < 0 on every training example
    W0 = first.W[kill].copy()
    fit(model, Xtr, ytr, optimizer=optim.SGD(lr=0.05), epochs=epochs, batch_size=32, seed=seed)
    moved = float(np.abs(first.W[kill] - W0).max())
    revived = int(((first.W[kill] @ Xtr.T + first.b[kill]) > 0).any(axis=1).sum())
    return {"killed_units": len(kill), "max_weight_change": moved, "revived_units": revived}


@experiment(
    "activations", "Activation functions: sigmoid, tanh, ReLU, LeakyReLU",
    "The activation decides how gradients flow: the sigmoid's derivative is at most 1/4, so "
    "gradients shrink layer after layer (vanishing gradients) and a deep sigmoid network "
    "barely trains; ReLU keeps them but a unit pushed below zero for every input gets no "
    "gradient ever again (dead), while LeakyReLU's small slope keeps such units learning.")
def run(quick=False, seed=0):
    """Same 6-hidden-layer network on digits, with each activation: per-layer gradient norms
    at initialization, training curves, silent units; then half the first layer killed."""
    Xtr, ytr, Xte, yte = _data.load("digits", seed=seed)
    epochs = 10 if quick else 30
    norms, hists, acc, silent = {}, {}, {}, {}
    for act in _ACTS:
        model = _network(act, seed)
        norms[act] = _layer_grad_norms(model, Xtr[:512], ytr[:512])
        hists[act] = fit(model, Xtr, ytr, optimizer=optim.SGD(lr=0.1), epochs=epochs,
                         batch_size=32, seed=seed)
        acc[act] = float(np.mean(model.predict(Xte) == yte))
        silent[act] = _silent_fraction(model, Xtr)
    ratio = {a: n[0] / n[-2] for a, n in norms.items()}   # first vs last hidden layer
    kill = {act: _kill_experiment(act, Xtr, ytr, epochs, seed) for act in ("relu", "leaky_relu")}
    numbers = {
        "grad_norm_ratio_layer1_vs_layer6": {a: round(v, 6) for a, v in ratio.items()},
        "test_accuracy": {a: round(v, 4) for a, v in acc.items()},
        "final_train_loss": {a: round(float(h["loss"][-1]), 4) for a, h in hists.items()},
        "silent_unit_fraction_after_training": {a: round(float(np.mean(s)), 4)
                                                for a, s in silent.items()},
        "killed_first_layer_units": kill,
    }
    passed = (ratio["sigmoid"] < 0.01 and min(ratio["tanh"], ratio["relu"]) > 0.1
              and acc["sigmoid"] < 0.5 and min(acc[a] for a in ("tanh", "relu", "leaky_relu"))
              > 0.9 and kill["relu"]["max_weight_change"] == 0.0
              and kill["leaky_relu"]["max_weight_change"] > 0.0
              and max(silent["leaky_relu"]) == 0.0)
    conclusion = (
        f"Layer-1 gradients are {fmt(ratio['sigmoid'], 2)}x those of layer 6 with sigmoid "
        f"(tanh {fmt(ratio['tanh'], 2)}x, ReLU {fmt(ratio['relu'], 2)}x), so after {epochs} "
        f"epochs the sigmoid network is at {pct(acc['sigmoid'])} vs tanh {pct(acc['tanh'])}, "
        f"ReLU {pct(acc['relu'])}, LeakyReLU {pct(acc['leaky_relu'])}; dead ReLU units never "
        f"move (weight change {kill['relu']['max_weight_change']:.0f}) while the same "
        f"LeakyReLU units keep learning (change {fmt(kill['leaky_relu']['max_weight_change'], 2)}"
        ").")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(2, 3, width=5.0, height=4.0,
                                 title="Activation functions and how gradients flow")
        z = np.linspace(-4, 4, 401)
        fns = {"sigmoid": (functional.sigmoid, functional.sigmoid_grad),
               "tanh": (functional.tanh, functional.tanh_grad),
               "relu": (functional.relu, functional.relu_grad),
               "leaky_relu": (lambda v: functional.leaky_relu(v, 0.1),
                              lambda v: functional.leaky_relu_grad(v, 0.1))}
        for act, (g, gp) in fns.items():
            lab = _LABELS[act] + (" (α = 0.1 for visibility)" if act == "leaky_relu" else "")
            axes[0, 0].plot(z, g(z), color=_plot.COLORS[act], label=lab)
            axes[0, 1].plot(z, gp(z), color=_plot.COLORS[act], label=_LABELS[act])
        axes[0, 0].set(xlabel="z", ylabel="g(z)", title="Activations g(z)", ylim=(-1.5, 4))
        axes[0, 0].legend(fontsize=9)
        axes[0, 1].set(xlabel="z", ylabel="g′(z)", title="Derivatives g′(z)", ylim=(-0.1, 1.15))
        axes[0, 1].legend(fontsize=9)
        ax = axes[0, 2]
        layers = np.arange(1, len(_SIZES))
        for act, n in norms.items():
            ax.plot(layers, n, "o--" if act == "leaky_relu" else "o-", color=_plot.COLORS[act],
                    label=_LABELS[act])
        ax.set(yscale="log", xlabel="layer l (1 = input side, 7 = output)",
               ylabel=r"$\|dW^{[l]}\|$ at initialization (log)", title="Gradient size per layer")
        ax.legend(fontsize=9)
        ax = axes[1, 0]
        for act, h in hists.items():
            ax.plot(np.arange(1, len(h["loss"]) + 1), h["loss"], color=_plot.COLORS[act],
                    label=f"{_LABELS[act]}: test {pct(acc[act])}")
        ax.set(yscale="log", xlabel="epoch", ylabel="training loss (log)",
               title="Same network, 6 hidden layers, SGD α = 0.1")
        ax.legend(fontsize=9)
        ax = axes[1, 1]
        hid = np.arange(1, len(_SIZES) - 1)
        w = 0.2
        for k, (act, s) in enumerate(silent.items()):
            ax.bar(hid + (k - 1.5) * w, 100 * np.array(s), w, color=_plot.COLORS[act],
                   label=_LABELS[act])
        ax.set(xlabel="hidden layer", ylabel="units with g′ = 0 on all data (%)",
               title="Dead units (no gradient) after training")
        ax.legend(fontsize=9)
        ax = axes[1, 2]
        names = ["ReLU", "LeakyReLU"]
        vals = [kill["relu"]["max_weight_change"], kill["leaky_relu"]["max_weight_change"]]
        bars = ax.bar(names, vals, color=[_plot.COLORS["relu"], _plot.COLORS["leaky_relu"]])
        ax.bar_label(bars, labels=[f"{v:.3g}" for v in vals])
        ax.set(ylabel="largest change of their weights",
               title=f"{kill['relu']['killed_units']} first-layer units pushed\n"
                     "below zero for every input, then trained")
        return fig

    return Measured(numbers, conclusion, passed, plot)
