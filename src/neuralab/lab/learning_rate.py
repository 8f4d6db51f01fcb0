"""learning-rate: too small, good, too large, divergent — on one least-squares problem."""

from __future__ import annotations

import numpy as np

from .. import Dense, Identity, Sequential, evaluate, fit, losses, optim
from ._common import Measured, experiment, fmt

_FEATURES = [0, 1, 2, 3, 8, 9]   # diabetes: age, sex, bmi, bp, s5, s6 (well conditioned)


def _problem():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = X[:, _FEATURES]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, (y - y.mean()) / y.std()


def _model(n, seed):
    return Sequential([Dense(n, 1, init="zeros"), Identity()], seed=seed, dtype="float64")


def measured_hessian(model, X, y):
    """The Hessian of the MSE over θ, column by column from differences of backprop gradients
    (exact up to rounding, since the loss is quadratic in θ)."""
    loss = losses.MSE()
    Y = loss.prepare_targets(y, 1, len(y), model.dtype)
    theta = model.params
    saved = theta.copy()
    model.loss_and_grad(X.T, Y, loss)
    g0 = model.grads.copy()
    H = np.empty((theta.size, theta.size))
    for i in range(theta.size):
        theta[...] = saved
        theta[i] += 1.0
        model.loss_and_grad(X.T, Y, loss)
        H[:, i] = model.grads - g0
    theta[...] = saved
    return (H + H.T) / 2


def _train(X, y, lr, steps, seed):
    """Full-batch gradient descent with ``nl.fit``; returns the loss curve (with step 0) and θ_t."""
    model = _model(X.shape[1], seed)
    curve, thetas = [evaluate(model, X, y)["loss"]], [model.params.copy()]

    for _ in range(steps):
        fit(model, X, y, loss="mse", optimizer=optim.GD(lr=lr), epochs=1,
                   batch_size=None, shuffle=False)
        curve.append(evaluate(model, X, y)["loss"])
        thetas.append(model.params.copy())
    return np.array(curve), np.array(thetas)


@experiment(
    "learning-rate", "The learning rate",
    "Every optimizer has a learning rate α: too small and the loss barely moves, well chosen "
    "and it drops fast, too large and the parameters overshoot and zig-zag across the minimum, "
    "larger still and the loss explodes. For a quadratic loss the edge is exact: gradient "
    "descent converges if and only if α < 2/L, L the largest curvature.")
def run(quick=False, seed=0):
    """Linear least squares on 6 standardized diabetes features (``Dense(6, 1)``, MSE), trained
    by full-batch ``nl.optim.GD`` through ``nl.fit``; L is the top eigenvalue of the Hessian
    measured from backprop gradients."""
    X, y = _problem()
    model = _model(X.shape[1], seed)
    H = measured_hessian(model, X, y)
    evals, evecs = np.linalg.eigh(H)
    L = float(evals[-1])
    steps = 30 if quick else 60
    rates = {"too small (0.05/L)": 0.05 / L, "good (1/L)": 1.0 / L,
             "too large (1.9/L)": 1.9 / L, "divergent (2.1/L)": 2.1 / L}
    theta_star = np.linalg.lstsq(np.hstack([X, np.ones((len(X), 1))]), y, rcond=None)[0]
    runs = {}
    for label, lr in rates.items():
        curve, thetas = _train(X, y, lr, steps, seed)
        top = (thetas - theta_star) @ evecs[:, -1]      # distance along the steepest direction
        live = top[np.abs(top) > 1e-6 * np.abs(top[0])]   # ignore rounding noise at 0
        runs[label] = {"lr": lr, "curve": curve, "top": top,
                       "sign_flips": int(np.sum(np.diff(np.sign(live)) != 0))}
    sweep = np.concatenate([np.linspace(0.05, 1.95, 8 if quick else 30),
                            np.linspace(2.1, 2.5, 3 if quick else 9)])
    final = [_train(X, y, a / L, steps, seed)[0][-1] for a in sweep]
    loss_star = float(np.mean((np.hstack([X, np.ones((len(X), 1))]) @ theta_star - y) ** 2))
    ts, good, big, div = (runs[k] for k in rates)
    numbers = {"L (largest Hessian eigenvalue)": L, "condition number": float(L / evals[0]),
               "minimum loss": loss_star,
               **{label: {"lr": r["lr"], "loss_at_start": float(r["curve"][0]),
                          f"loss_after_{steps}_steps": float(r["curve"][-1]),
                          "zig-zags along the top eigenvector": r["sign_flips"]}
                  for label, r in runs.items()}}
    start = float(ts["curve"][0])
    converged = [a for a, f in zip(sweep, final, strict=True) if f < start]
    diverged = [a for a, f in zip(sweep, final, strict=True) if not f < start]
    passed = (good["curve"][-1] < big["curve"][-1] < ts["curve"][-1] < ts["curve"][0]
              and div["curve"][-1] > 10 * div["curve"][0] and big["sign_flips"] >= steps - 2
              and good["sign_flips"] == 0 and bool(converged) and bool(diverged)
              and max(converged) < 2.0 < min(diverged))
    conclusion = (
        f"After {steps} steps (L = {fmt(L)}, minimum {fmt(loss_star)}): α = 0.05/L leaves the "
        f"loss at {fmt(ts['curve'][-1])}, α = 1/L reaches {fmt(good['curve'][-1])}, α = 1.9/L "
        f"zig-zags {big['sign_flips']} times and sits at {fmt(big['curve'][-1])}, and α = 2.1/L "
        f"explodes to {div['curve'][-1]:.2g}; in the sweep every α up to "
        f"{max(converged, default=float('nan')):.2f}/L converges and every α from "
        f"{min(diverged, default=float('nan')):.2f}/L diverges (theory: 2/L).")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(1, 3, width=5.0, height=4.4,
                                 title="The learning rate: one least-squares problem, "
                                       "full-batch gradient descent")
        colors = ["#7f7f7f", "#2ca02c", "#ff7f0e", "#d62728"]
        ax = axes[0, 0]
        for (label, r), c in zip(runs.items(), colors, strict=True):
            ax.plot(np.arange(steps + 1), r["curve"] - loss_star + 1e-16, color=c, label=label)
        ax.set(yscale="log", xlabel="step t", ylabel="loss − minimum (log)",
               title="Loss curves", ylim=(1e-16, 1e4))
        ax.legend(fontsize=9)
        ax = axes[0, 1]
        for (label, r), c in zip(runs.items(), colors, strict=True):
            ax.plot(np.arange(min(steps, 25) + 1), r["top"][:min(steps, 25) + 1], "o-", ms=3,
                    color=c, label=label)
        ax.axhline(0, color="k", lw=0.8)
        ax.set(xlabel="step t", ylabel="θ − θ* along the steepest direction",
               title="Overshoot: zig-zag across the minimum", ylim=(-1.2, 1.6))
        ax.legend(fontsize=8.5, ncols=2, loc="upper center")
        ax = axes[0, 2]
        ax.plot(sweep, np.array(final) - loss_star + 1e-16, "o-", ms=4, color="#1f77b4")
        ax.axvline(1.0, color="#2ca02c", ls="--", lw=1.2, label="α = 1/L")
        ax.axvline(2.0, color="#d62728", ls="--", lw=1.2, label="α = 2/L: the edge")
        ax.set(yscale="log", xlabel="learning rate α × L",
               ylabel=f"loss − minimum after {steps} steps (log)",
               title="Sweep over α", ylim=(1e-16, 1e4))
        ax.legend(fontsize=9)
        return fig

    return Measured(numbers, conclusion, passed, plot)
