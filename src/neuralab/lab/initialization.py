"""initialization: zeros keep hidden units identical; the scale of random weights matters."""

from __future__ import annotations

import numpy as np

from .. import MLP, fit, optim
from . import _data
from ._common import Measured, experiment, fmt, pct

_INITS = {  # label: initializer spec for the one-hidden-layer sigmoid network
    "zeros": "zeros",
    "small N(0, 0.01)": {"name": "normal", "std": 0.01},
    "large N(0, 1)": {"name": "normal", "std": 1.0},
    "Xavier": "xavier_normal",
}


def distinct_units(W, b, decimals: int = 10) -> int:
    """Number of different hidden units: distinct rows of ``[W | b]`` (rounded)."""
    rows = np.hstack([W, b])
    scale = max(np.abs(rows).max(), 1e-300)
    return int(len(np.unique(np.round(rows / scale, decimals), axis=0)))


def _hidden(model, X):
    """Hidden pre-activations Z^{[1]} and activations A^{[1]} (units × examples)."""
    Z = model.layers[0].forward(X.T, training=False)
    return Z, model.layers[1].forward(Z, training=False)


def _depth_profile(act, init, depth, width, X, seed):
    """Standard deviation of the activations after each of ``depth`` hidden layers."""
    model = MLP([X.shape[1]] + [width] * depth + [2], activation=act, output="identity",
                init=init, seed=seed, dtype="float64")
    A, stds = X.T, []
    for layer in model.layers[:-2]:
        A = layer.forward(A, training=False)
        if not hasattr(layer, "W"):
            stds.append(float(A.std()))
    return stds


@experiment(
    "initialization", "Weight initialization",
    "With all weights at zero every hidden unit computes the same thing and receives the same "
    "update, forever: symmetry is never broken. Small random weights break it; too large ones "
    "saturate the units; Xavier (tanh/sigmoid) and He (ReLU) scale the weights by the fan-in "
    "so activations keep their size through many layers.")
def run(quick=False, seed=0):
    """Train a 64-16-10 sigmoid network on digits from four initializations (count distinct
    hidden units and the rank of the hidden activations), then push random data through a deep
    tanh and a deep ReLU stack and record the activation scale per layer."""
    Xtr, ytr, Xte, yte = _data.load("digits", seed=seed)
    epochs = 10 if quick else 40
    res, models = {}, {}
    for label, init in _INITS.items():
        model = MLP([64, 16, 10], activation="sigmoid", init=init, seed=seed, dtype="float64")
        Z0, _ = _hidden(model, Xtr)
        hist = fit(model, Xtr, ytr, optimizer=optim.SGD(lr=0.5), epochs=epochs, batch_size=32,
                   seed=seed)
        _, A1 = _hidden(model, Xtr)
        first = model.layers[0]
        res[label] = {"distinct_hidden_units": distinct_units(first.W, first.b),
                      "rank_hidden_activations": int(np.linalg.matrix_rank(A1)),
                      "saturated_at_init": float(np.mean(np.abs(Z0) > 4)),
                      "test_accuracy": float(np.mean(model.predict(Xte) == yte)),
                      "loss_curve": [float(v) for v in hist["loss"]], "Z0": Z0}
        models[label] = model
    depth = 10 if quick else 20
    Xr = np.random.default_rng(seed).normal(size=(500, 256))
    profiles = {
        "tanh": {lab: _depth_profile("tanh", init, depth, 256, Xr, seed) for lab, init in
                 [("N(0, 0.01)", {"name": "normal", "std": 0.01}),
                  ("N(0, 1): saturated", {"name": "normal", "std": 1.0}),
                  ("Xavier", "xavier_normal")]},
        "relu": {lab: _depth_profile("relu", init, depth, 256, Xr, seed) for lab, init in
                 [("Xavier", "xavier_normal"), ("He", "he_normal")]},
    }
    numbers = {label: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()
                       if k not in ("loss_curve", "Z0")} for label, r in res.items()}
    numbers["activation_std_at_last_layer"] = {
        f"{act} {lab}": float(f"{p[-1]:.3g}") for act, d in profiles.items()
        for lab, p in d.items()}
    z, s, big, xav = (res[k] for k in _INITS)
    tanh_x, relu_he = profiles["tanh"]["Xavier"], profiles["relu"]["He"]
    passed = (z["distinct_hidden_units"] == 1 and z["rank_hidden_activations"] == 1
              and s["distinct_hidden_units"] == 16 and s["rank_hidden_activations"] == 16
              and big["saturated_at_init"] > 0.5 and xav["saturated_at_init"] < 0.05
              and profiles["tanh"]["N(0, 0.01)"][-1] < 1e-6
              and profiles["tanh"]["N(0, 1): saturated"][-1] > 0.9
              and 0.05 < tanh_x[-1] and 0.5 < relu_he[-1] / relu_he[0] < 2
              and profiles["relu"]["Xavier"][-1] < 0.1 * profiles["relu"]["Xavier"][0])
    conclusion = (
        f"After {epochs} epochs from zeros the 16 hidden units are still "
        f"{z['distinct_hidden_units']} distinct unit (hidden activations of rank "
        f"{z['rank_hidden_activations']}, test "
        f"{pct(z['test_accuracy'])}); N(0, 0.01) gives {s['distinct_hidden_units']} distinct "
        f"units "
        f"(rank {s['rank_hidden_activations']}, {pct(s['test_accuracy'])}); N(0, 1) saturates "
        f"{pct(big['saturated_at_init'])} of the units; through {depth} layers tanh activations "
        f"keep a scale of {fmt(tanh_x[-1], 2)} with Xavier and ReLU "
        f"{fmt(relu_he[-1], 2)} with He, vs {profiles['tanh']['N(0, 0.01)'][-1]:.0e} for "
        f"N(0, 0.01).")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(2, 3, width=5.0, height=4.0, title="Weight initialization")
        for ax, label in zip(axes[0, :2], ("zeros", "small N(0, 0.01)"), strict=True):
            W = models[label].layers[0].W
            lim = max(np.abs(W).max(), 1e-12)
            im = ax.imshow(W, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
            fig.colorbar(im, ax=ax, shrink=0.85, label="weight")
            r = res[label]
            ax.set(xlabel="input pixel j", ylabel="hidden unit i",
                   title=f"$W^{{[1]}}$ after training from {label}:\n"
                         f"{r['distinct_hidden_units']} distinct unit(s), rank "
                         f"{r['rank_hidden_activations']}")
            ax.grid(False)
        ax = axes[0, 2]
        for label, r in res.items():
            ax.plot(np.arange(1, epochs + 1), r["loss_curve"],
                    label=f"{label}: test {pct(r['test_accuracy'])}")
        ax.set(yscale="log", xlabel="epoch", ylabel="training loss (log)",
               title="64-16-10 sigmoid network, SGD")
        ax.legend(fontsize=9)
        ax = axes[1, 0]
        bins = np.linspace(-25, 25, 101)
        for label in ("small N(0, 0.01)", "Xavier", "large N(0, 1)"):
            ax.hist(res[label]["Z0"].ravel(), bins=bins, histtype="step", lw=2, density=True,
                    label=f"{label}: {pct(res[label]['saturated_at_init'])} saturated")
        ax.axvspan(-25, -4, color="gray", alpha=0.15)
        ax.axvspan(4, 25, color="gray", alpha=0.15, label="|z| > 4: σ′(z) < 0.018")
        ax.set(yscale="log", xlabel="hidden pre-activation z at initialization",
               ylabel="density (log)", title="Too large: units saturate", ylim=(1e-4, 60))
        ax.legend(fontsize=8.5, loc="upper left")
        for ax, act in zip(axes[1, 1:], ("tanh", "relu"), strict=True):
            for lab, p in profiles[act].items():
                ax.plot(np.arange(1, depth + 1), p, "o-", ms=4, label=lab)
            ax.set(yscale="log", xlabel="hidden layer (width 256)",
                   ylabel="std of activations (log)",
                   title=f"{'tanh' if act == 'tanh' else 'ReLU'}: activation scale with depth")
            ax.legend(fontsize=9)
        return fig

    return Measured(numbers, conclusion, passed, plot)
