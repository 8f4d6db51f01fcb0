"""minibatch: gradient noise shrinks as 1/B; small batches make more progress per epoch."""

from __future__ import annotations

import numpy as np

from .. import MLP, Callback, fit, losses, optim
from . import _data
from ._common import Measured, experiment, fmt


def gradient_noise(model, X, y, batch_sizes, draws, rng):
    r"""Mean squared distance of mini-batch gradients from the full gradient, per batch size.

    .. math::

        \mathbb{E}\,\lVert g_B - g \rVert^2 = \frac{\sigma^2}{B}\,\frac{N - B}{N - 1},
        \qquad \sigma^2 = \frac1N \sum_i \lVert g_i - g \rVert^2

    (batches drawn without replacement from N examples). Returns (measured, theory, σ²).
    """
    loss = losses.CrossEntropy()
    N = len(y)
    A0, Y = X.T, loss.prepare_targets(y, model.n_out, N, model.dtype)
    model.loss_and_grad(A0, Y, loss)
    g = model.grads.copy()
    sigma2 = 0.0
    for i in range(N):
        model.loss_and_grad(A0[:, i:i + 1], loss.select(Y, slice(i, i + 1)), loss)
        sigma2 += float(np.sum((model.grads - g) ** 2)) / N
    measured, theory = {}, {}
    for B in batch_sizes:
        acc, k = 0.0, max(draws, int(40 * draws / B))   # small batches are cheap: draw more
        for _ in range(k):
            idx = rng.choice(N, B, replace=False)
            model.loss_and_grad(A0[:, idx], loss.select(Y, idx), loss)
            acc += float(np.sum((model.grads - g) ** 2))
        measured[B] = acc / k
        theory[B] = sigma2 / B * (N - B) / (N - 1)
    return measured, theory, sigma2


class _StepLosses(Callback):
    """Records the mini-batch loss of every step."""

    def __init__(self):
        self.losses = []

    def on_batch_end(self, step, logs=None):
        self.losses.append(logs["loss"])


@experiment(
    "minibatch", "Mini-batch gradient descent",
    "A mini-batch gradient is a noisy estimate of the full gradient whose variance falls as "
    "1/B; small batches take many cheap noisy steps per epoch and still make good progress "
    "on average, so mini-batches of 32–128 train fastest in wall time.")
def run(quick=False, seed=0):
    """On digits (64-64-10 ReLU MLP): the variance of B-example gradients after one epoch of
    training, against the sampling formula; then ``nl.fit`` with batch sizes 1, 32, 128 and
    the full batch, same SGD rate, loss per epoch and per second."""
    rng = np.random.default_rng(seed)
    Xtr, ytr, _, _ = _data.load("digits", seed=seed)
    model = MLP([64, 64, 10], activation="relu", seed=seed, dtype="float64")
    fit(model, Xtr, ytr, optimizer=optim.SGD(lr=0.05), epochs=1, batch_size=32, seed=seed)
    sizes = [1, 8, 64, 512] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    measured, theory, sigma2 = gradient_noise(model, Xtr, ytr, sizes, 30 if quick else 100, rng)
    small = [B for B in sizes if B <= 128]
    slope = float(np.polyfit(np.log(small), np.log([measured[B] for B in small]), 1)[0])
    worst_ratio = max(abs(measured[B] / theory[B] - 1) for B in sizes)

    epochs = 4 if quick else 20
    lr = 0.02
    runs = {}
    for label, bs in (("B = 1", 1), ("B = 32", 32), ("B = 128", 128), ("full batch", None)):
        net = MLP([64, 64, 10], activation="relu", seed=seed, dtype="float64")
        steps = _StepLosses()
        hist = fit(net, Xtr, ytr, optimizer=optim.SGD(lr=lr), epochs=epochs, batch_size=bs,
                   seed=seed, validation_data=(Xtr, ytr), callbacks=[steps])
        step_loss = np.array(steps.losses)
        runs[label] = {"loss": np.array(hist["val_loss"]), "time": np.cumsum(hist["time"]),
                       "steps": step_loss,
                       "uphill": float(np.mean(np.diff(step_loss) > 0)) if len(step_loss) > 1
                       else 0.0}
    target = 0.3
    reach = {}
    for label, r in runs.items():
        hit = np.flatnonzero(r["loss"] < target)
        reach[label] = float(r["time"][hit[0]]) if hit.size else None
    numbers = {
        "sigma^2 (per-example gradient variance)": sigma2,
        "fitted slope of log variance vs log B (B <= 128)": slope,
        "largest |measured/theory - 1|": worst_ratio,
        "gradient variance": {f"B={B}": {"measured": float(f"{measured[B]:.4g}"),
                                         "theory": float(f"{theory[B]:.4g}")} for B in sizes},
        "training": {label: {f"loss after {epochs} epochs": float(f"{r['loss'][-1]:.4g}"),
                             "steps": len(r["steps"]),
                             "share of steps where the batch loss rose": round(r["uphill"], 3),
                             "seconds": float(f"{r['time'][-1]:.3g}"),
                             f"seconds to loss < {target}": (float(f"{reach[label]:.3g}")
                                                             if reach[label] else "never")}
                     for label, r in runs.items()},
    }
    final = {k: r["loss"][-1] for k, r in runs.items()}
    b32 = runs["B = 32"]
    passed = (-1.15 < slope < -0.85 and worst_ratio < 0.25
              and final["B = 1"] < final["B = 32"] < final["B = 128"] < final["full batch"]
              and b32["uphill"] > 0.2 and bool(np.all(np.diff(b32["loss"]) < 0))
              and runs["full batch"]["uphill"] == 0.0)
    reached = [(v, k) for k, v in reach.items() if v is not None]
    fastest = (f"{min(reached)[1]} reaches loss {target} first, in {fmt(min(reached)[0], 2)} s"
               if reached else f"none reaches loss {target}")
    conclusion = (
        f"The variance of a B-example gradient falls with slope {fmt(slope)} in log-log "
        f"(theory −1; within {fmt(100 * worst_ratio, 2)} % of σ²/B·(N−B)/(N−1)); with B = 32 "
        f"the batch loss rises on {fmt(100 * b32['uphill'], 2)} % of the steps yet falls every "
        f"epoch; after {epochs} epochs at α = {lr} the loss is {fmt(final['B = 1'])} (B = 1), "
        f"{fmt(final['B = 32'])} (32), {fmt(final['B = 128'])} (128) and "
        f"{fmt(final['full batch'])} (full batch); {fastest}.")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(1, 3, width=5.0, height=4.4,
                                 title="Mini-batches: noisy gradients, fast progress (digits)")
        ax = axes[0, 0]
        ax.plot(sizes, [measured[B] for B in sizes], "o", ms=7, label="measured")
        Bs = np.arange(1, len(Xtr) + 1)
        ax.plot(Bs, sigma2 / Bs * (len(Xtr) - Bs) / (len(Xtr) - 1), "k-", lw=1.2,
                label=r"$\frac{\sigma^2}{B}\,\frac{N-B}{N-1}$")
        ax.set(xscale="log", yscale="log", xlabel="batch size B (log)",
               ylabel=r"$E\,\|g_B - g\|^2$ (log)", title="Gradient noise vs batch size",
               ylim=(min(measured.values()) / 5, None))
        ax.legend()
        colors = ["#d62728", "#1f77b4", "#2ca02c", "#7f7f7f"]
        for ax, key, xlabel in ((axes[0, 1], "epoch", "epoch"),
                                (axes[0, 2], "time", "wall time (s)")):
            for (label, r), c in zip(runs.items(), colors, strict=True):
                x = np.arange(1, epochs + 1) if key == "epoch" else r["time"]
                ax.plot(x, r["loss"], "o-", ms=3, color=c, label=label)
            ax.axhline(target, color="k", ls=":", lw=1)
            ax.set(yscale="log", xscale="log" if key == "time" else "linear",
                   xlabel=xlabel + (" (log)" if key == "time" else ""),
                   ylabel="training loss (log)",
                   title=f"Loss per {'epoch' if key == 'epoch' else 'second'} (SGD α = {lr})")
            ax.legend(fontsize=9)
        return fig

    return Measured(numbers, conclusion, passed, plot)
