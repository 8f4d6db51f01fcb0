"""vectorization: one matrix operation over m columns vs a Python loop over m examples."""

from __future__ import annotations

import numpy as np

from .. import MLP, losses
from ._common import Measured, best_time, experiment, fmt


def _loop_pass(model, X, Y, loss):
    """Forward + backward one example at a time; returns the mean loss and mean gradient."""
    m = X.shape[1]
    total, grad = 0.0, np.zeros_like(model.grads)
    for i in range(m):
        total += model.loss_and_grad(X[:, i:i + 1], loss.select(Y, slice(i, i + 1)), loss)
        grad += model.grads
    return total / m, grad / m


def _loop_forward(model, X):
    return np.hstack([model._forward(X[:, i:i + 1]) for i in range(X.shape[1])])


def _measure(model, ms, rng):
    """Loop vs matrix times (ms) and speed-ups for each m; the largest output/grad mismatch."""
    loss = losses.CrossEntropy() if model.n_out > 1 else losses.BinaryCrossEntropy()
    rows, max_diff = {}, 0.0
    for m in ms:
        X = rng.normal(size=(model.n_in, m))
        Y = rng.integers(0, max(model.n_out, 2), m)
        Yi = loss.prepare_targets(Y, model.n_out, m, model.dtype)
        reps = 2 if m > 1000 else 3 if m == 1000 else 5
        t_loop_f = best_time(lambda: _loop_forward(model, X), reps)  # noqa: B023
        # the fast side is timed many times: the minimum catches a moment without contention
        t_vec_f = best_time(lambda: model._forward(X), 30, min_seconds=0.1)  # noqa: B023
        t_loop_b = best_time(lambda: _loop_pass(model, X, Yi, loss), reps)  # noqa: B023
        t_vec_b = best_time(lambda: model.loss_and_grad(X, Yi, loss), 30,  # noqa: B023
                            min_seconds=0.1)
        # same numbers: outputs, loss and the 1/m-averaged gradient
        out_diff = float(np.abs(_loop_forward(model, X) - model._forward(X)).max())
        l_loop, g_loop = _loop_pass(model, X, Yi, loss)
        l_vec = model.loss_and_grad(X, Yi, loss)
        g_diff = float(np.abs(g_loop - model.grads).max())
        max_diff = max(max_diff, out_diff, g_diff, abs(l_loop - l_vec))
        rows[m] = {"loop_forward_ms": 1e3 * t_loop_f, "matrix_forward_ms": 1e3 * t_vec_f,
                   "speedup_forward": t_loop_f / t_vec_f,
                   "loop_backprop_ms": 1e3 * t_loop_b, "matrix_backprop_ms": 1e3 * t_vec_b,
                   "speedup_backprop": t_loop_b / t_vec_b}
    return rows, max_diff


@experiment(
    "vectorization", "Vectorization: one matrix operation instead of a loop",
    "Stacking the m examples as the columns of X turns m matrix-vector products into one "
    "matrix-matrix product; the numbers are the same and the time drops by orders of "
    "magnitude, for the forward pass and for backpropagation.")
def run(quick=False, seed=0):
    """Time ``model._forward`` and ``model.loss_and_grad`` on all m columns at once vs on one
    column at a time (the lecture's ``z^{[1](i)} = W^{[1]} x^{(i)} + b^{[1]}`` loop), float64,
    one BLAS thread, minimum of several repeats, for the slide's 2-4-1 sigmoid network and a
    digits-sized 64-32-10 ReLU network."""
    rng = np.random.default_rng(seed)
    nets = {"slide 2-4-1 sigmoid": MLP([2, 4, 1], activation="sigmoid", output="sigmoid",
                                       seed=seed, dtype="float64"),
            "digits 64-32-10 ReLU": MLP([64, 32, 10], activation="relu", output="softmax",
                                        seed=seed, dtype="float64")}
    ms = [1, 10, 100, 1000] if quick else [1, 10, 100, 1000, 10000]
    # one BLAS thread for both paths: this measures vectorization, not parallelism, and a
    # multithreaded BLAS on a busy machine can stall for milliseconds waiting for its threads
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        results = {name: _measure(model, ms, rng) for name, model in nets.items()}
    numbers = {}
    for name, (rows, diff) in results.items():
        numbers[name] = {f"m={m}": {c: round(v, 4) for c, v in r.items()} for m, r in rows.items()}
        numbers[name]["max_abs_difference"] = diff
    max_diff = max(d for _, d in results.values())
    at1k = {name: rows[1000] for name, (rows, _) in results.items()}
    passed = max_diff < 1e-12 and all(
        r["speedup_forward"] >= 20 and r["speedup_backprop"] >= 20 for r in at1k.values())
    parts = [f"{name}: {fmt(r['speedup_forward'])}x forward, "
             f"{fmt(r['speedup_backprop'])}x forward + backward" for name, r in at1k.items()]
    conclusion = (f"At m = 1000 the matrix form beats the loop over examples ({'; '.join(parts)})"
                  f", with outputs and gradients equal to {max_diff:.1e}.")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(1, 3, width=5.0, height=4.4,
                                 title="A Python loop over examples vs one matrix operation")
        for ax, (name, (rows, _)) in zip(axes[0, :2], results.items(), strict=True):
            for key, label, style in [("loop_forward_ms", "loop, forward", "o--"),
                                      ("matrix_forward_ms", "matrix, forward", "o-"),
                                      ("loop_backprop_ms", "loop, fwd + backward", "s--"),
                                      ("matrix_backprop_ms", "matrix, fwd + backward", "s-")]:
                ax.plot(ms, [rows[m][key] for m in ms], style, label=label)
            ax.set(xscale="log", yscale="log", xlabel="examples m (log scale)",
                   ylabel="time per pass (ms, log scale)", title=f"Wall time: {name}")
            ax.legend(fontsize=9)
        ax = axes[0, 2]
        for name, (rows, _) in results.items():
            for key, label, style in [("speedup_forward", "forward", "o-"),
                                      ("speedup_backprop", "fwd + backward", "s--")]:
                ax.plot(ms, [rows[m][key] for m in ms], style, label=f"{name}, {label}")
        ax.axhline(20, color="k", lw=1, ls=":")
        ax.annotate("20x", (ms[0], 20), textcoords="offset points", xytext=(2, 4), fontsize=9)
        ax.set(xscale="log", yscale="log", xlabel="examples m (log scale)",
               ylabel="speed-up: loop time / matrix time", title="Speed-up of vectorization")
        ax.legend(fontsize=8.5, loc="lower right")
        return fig

    return Measured(numbers, conclusion, passed, plot)
