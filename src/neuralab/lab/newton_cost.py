"""newton-cost: what Newton's Hessian costs as d grows, and Newton-CG past that point."""

from __future__ import annotations

import os
import time
import tracemalloc

import numpy as np

from .. import MLP, fit, hessian, optim
from . import _data
from ._common import Measured, experiment, fmt


def _peak_bytes(fn):
    """Peak NumPy memory allocated while ``fn()`` runs (tracemalloc), and the seconds it took."""
    tracemalloc.start()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, seconds


def _cpu_time(fn, repeats):
    """Minimum CPU time of ``fn()`` (``time.process_time``): unlike wall time it does not count
    the moments another process holds the core, so a busy machine does not bend the curve."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _slope(x, y):
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def _ram_bytes() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16 * 2.0**30


def _damped_solve(H, g, lam=1e-4):
    """The linear algebra of one damped Newton step, as ``nl.optim.Newton`` does it:
    Cholesky of H + λI, then two triangular solves (memory: H + λI, its factor)."""
    return _solve(H + lam * np.eye(len(g)), g)


def _solve(M, g):
    """Cholesky of M and two triangular solves, without the finiteness scans (as Newton calls
    them): the O(d³) part of a step, timed apart from building H + λI (O(d²))."""
    from scipy.linalg import cho_factor, cho_solve

    return cho_solve(cho_factor(M, check_finite=False), g, check_finite=False)


def _newton_step(model, X, y, opt):
    obj = hessian.objective(model, X, y)
    obj()                                     # fills model.grads
    opt.step(model.params, model.grads, closure=obj)


@experiment(
    "newton-cost", "Why Newton's method is rarely used in deep learning",
    "Newton's method needs the d×d Hessian: O(d²) memory and an O(d³) solve per step, which "
    "stops being feasible long before networks reach millions of parameters; matrix-free "
    "Newton-CG needs only Hessian-vector products, O(d) memory, and keeps going.")
def run(quick=False, seed=0):
    """Peak memory (tracemalloc) and time of one ``nl.optim.Newton`` step on digits MLPs of
    growing d; the dense Cholesky solve alone up to larger d; one ``nl.optim.NewtonCG`` step
    up to ~10⁶ parameters; then Newton-CG training a model too big for Newton."""
    rng = np.random.default_rng(seed)
    Xtr, ytr, _, _ = _data.load("digits", seed=seed)
    X, y = Xtr[:256], ytr[:256]

    dense = {}
    for h in ([2, 4, 8] if quick else [2, 4, 8, 16, 32]):
        model = MLP([64, h, 10], activation="tanh", seed=seed, dtype="float64")
        opt = optim.Newton(max_params=10**9)
        peak, sec = _peak_bytes(lambda: _newton_step(model, X, y, opt))  # noqa: B023
        dense[model.n_params] = {"peak_MiB": peak / 2**20, "step_s": sec,
                                 "hessian_MiB": opt.hessian_.nbytes / 2**20}
    from threadpoolctl import threadpool_limits

    solve, solve_mem = {}, {}
    for d in ([250, 500, 1000, 2000] if quick else [250, 500, 1000, 2000, 4000]):
        A = rng.normal(size=(d, d))
        H = A @ A.T / d + np.eye(d)
        g = rng.normal(size=d)
        M = H + 1e-4 * np.eye(d)
        with threadpool_limits(limits=1, user_api="blas"):   # one core: a clean O(d³)
            solve[d] = _cpu_time(lambda: _solve(M, g), 3 if d < 4000 else 2)  # noqa: B023
        solve_mem[d] = _peak_bytes(lambda: _damped_solve(H, g))[0] / 2**20  # noqa: B023
    cg = {}
    for h in ([16, 64, 128] if quick else [16, 64, 256, 512, 1024]):
        model = MLP([64, h, h, 10], activation="tanh", seed=seed, dtype="float64")
        opt = optim.NewtonCG(max_cg_iter=10)
        peak, sec = _peak_bytes(lambda: _newton_step(model, X, y, opt))  # noqa: B023
        cg[model.n_params] = {"peak_MiB": peak / 2**20, "step_s": sec,
                              "hvp": getattr(opt, "n_hvp_", getattr(opt, "n_hvp", 0))}

    ds, sd, cd = np.array(list(dense)), np.array(list(solve)), np.array(list(cg))
    mem_slope = _slope(ds, [dense[d]["hessian_MiB"] for d in ds])
    peak_slope = _slope(sd, [solve_mem[d] for d in sd])
    # the exponent where d³ dominates: the two largest sizes (below, blocked LAPACK's speed
    # still changes with d: 8 GFLOP/s at d = 1000, 28 at 2000, 34 at 4000 on this machine)
    big = sd[-2:]
    solve_slope = _slope(big, [solve[d] for d in big])
    cg_mem_slope = _slope(cd, [cg[d]["peak_MiB"] for d in cd])
    ram = _ram_bytes()
    d_ram = float(np.sqrt(ram / 8))                      # one float64 d×d matrix fills RAM
    c3 = solve[sd[-1]] / sd[-1] ** 3
    d_minute = float((60 / c3) ** (1 / 3))               # one O(d³) solve takes a minute
    # past that point: a model too big for dense Newton, trained by Newton-CG
    h_big = 64 if quick else 256
    big_model = MLP([64, h_big, h_big, 10], activation="tanh", seed=seed, dtype="float64")
    start = big_model.params.copy()
    steps = 3 if quick else 10
    hist_cg = fit(big_model, Xtr, ytr, optimizer=optim.NewtonCG(max_cg_iter=10), epochs=steps,
                  batch_size=None, validation_data=(Xtr, ytr))
    big_model.params[...] = start
    hist_gd = fit(big_model, Xtr, ytr, optimizer=optim.GD(lr=0.1), epochs=steps,
                  batch_size=None, validation_data=(Xtr, ytr))
    d_big = big_model.n_params
    numbers = {
        "dense Newton step (digits MLP 64-h-10, batch 256)":
            {f"d={d}": {k: float(f"{v:.4g}") for k, v in r.items()} for d, r in dense.items()},
        "dense damped solve (H + λI)p = g, Cholesky": {
            f"d={d}": {"cpu_seconds": float(f"{t:.4g}"), "peak_MiB": float(f"{solve_mem[d]:.4g}")}
            for d, t in solve.items()},
        "Newton-CG step (MLP 64-h-h-10, 10 CG iterations)":
            {f"d={d}": {k: float(f"{v:.4g}") for k, v in r.items()} for d, r in cg.items()},
        "slope of Hessian memory vs d": mem_slope,
        "slope of the solve's peak memory vs d": peak_slope,
        f"slope of solve time vs d (d = {sd[-2]} to {sd[-1]})": solve_slope,
        "slope of Newton-CG peak memory vs d": cg_mem_slope,
        "RAM (GiB)": ram / 2**30, "d where one Hessian fills RAM": d_ram,
        "d where one solve takes a minute (extrapolated)": d_minute,
        f"Newton-CG vs GD on d = {d_big} ({steps} full-batch steps)":
            {"Newton-CG loss": float(f"{hist_cg['val_loss'][-1]:.4g}"),
             "GD (α = 0.1) loss": float(f"{hist_gd['val_loss'][-1]:.4g}"),
             "Newton-CG seconds": float(f"{sum(hist_cg['time']):.3g}"),
             "GD seconds": float(f"{sum(hist_gd['time']):.3g}"),
             "dense Hessian would need (GiB)": 8 * d_big**2 / 2**30},
    }
    # the time slope is judged in full runs only (quick sizes are too small and too noisy)
    passed = (abs(mem_slope - 2) < 0.05 and peak_slope > 1.6
              and (quick or solve_slope > 2.2)
              and cg_mem_slope < 1.3
              and hist_cg["val_loss"][-1] < hist_gd["val_loss"][-1])
    conclusion = (
        f"Newton's dense solve needs memory growing as d^{fmt(peak_slope, 2)} and time as "
        f"d^{fmt(solve_slope, 2)} ({fmt(solve[sd[-1]], 2)} s at d = {sd[-1]}); on this "
        f"{ram / 2**30:.0f} GiB machine one Hessian fills RAM at d ≈ {d_ram:,.0f} and one solve "
        f"takes a minute at d ≈ {d_minute:,.0f}, while Newton-CG's memory grows as "
        f"d^{fmt(cg_mem_slope, 2)} and, on a d = {d_big:,} model (dense Hessian "
        f"{8 * d_big**2 / 2**30:.1f} GiB), reaches loss {fmt(hist_cg['val_loss'][-1])} in "
        f"{steps} steps vs {fmt(hist_gd['val_loss'][-1])} for gradient descent.")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(1, 3, width=5.2, height=4.6,
                                 title="The cost of Newton's method as the number of "
                                       "parameters d grows")
        ax = axes[0, 0]
        ax.plot(ds, [dense[d]["peak_MiB"] for d in ds], "o-", color=_plot.COLORS["Newton"],
                label="nl.optim.Newton step, peak")
        ax.plot(sd, [solve_mem[d] for d in sd], "^-", color="#9467bd",
                label=f"dense solve alone: ~d^{peak_slope:.2f}")
        ax.plot(cd, [cg[d]["peak_MiB"] for d in cd], "s-", color=_plot.COLORS["NewtonCG"],
                label="nl.optim.NewtonCG step, peak")
        dd = np.geomspace(100, 1e7, 50)
        ax.plot(dd, 8 * dd**2 / 2**20, "k--", lw=1, label="8d² bytes: one Hessian")
        ax.axhline(ram / 2**20, color="#d62728", ls=":", lw=1.5,
                   label=f"this machine's RAM ({ram / 2**30:.0f} GiB)")
        ax.set(xscale="log", yscale="log", xlabel="parameters d (log)",
               ylabel="memory (MiB, log)", title="Memory: O(d²) vs O(d)")
        ax.legend(fontsize=8.5)
        ax = axes[0, 1]
        ax.plot(sd, list(solve.values()), "^-", color="#9467bd",
                label=f"dense solve (1 core, CPU s): ~d^{solve_slope:.2f}")
        ax.plot(ds, [dense[d]["step_s"] for d in ds], "o-", color=_plot.COLORS["Newton"],
                label="nl.optim.Newton step (Hessian + solve)")
        ax.plot(cd, [cg[d]["step_s"] for d in cd], "s-", color=_plot.COLORS["NewtonCG"],
                label="nl.optim.NewtonCG step")
        ax.plot(dd, c3 * dd**3, "k--", lw=1, label="O(d³) through the largest solve")
        ax.axhline(60, color="#d62728", ls=":", lw=1.5, label="one minute")
        ax.set(xscale="log", yscale="log", xlabel="parameters d (log)",
               ylabel="seconds per step (log)", title="Time: O(d³) solve", ylim=(1e-4, 1e4))
        ax.legend(fontsize=8.5)
        ax = axes[0, 2]
        ax.plot(np.arange(1, steps + 1), hist_cg["val_loss"], "s-",
                color=_plot.COLORS["NewtonCG"],
                label=f"Newton-CG, 10 CG iterations ({sum(hist_cg['time']):.1f} s)")
        ax.plot(np.arange(1, steps + 1), hist_gd["val_loss"], "o-", color=_plot.COLORS["GD"],
                label=f"gradient descent, α = 0.1 ({sum(hist_gd['time']):.1f} s)")
        ax.set(yscale="log", xlabel="full-batch step", ylabel="training loss (log)",
               title=f"Past the dense limit: d = {d_big:,}\n"
                     f"(dense Hessian: {8 * d_big**2 / 2**30:.1f} GiB)")
        ax.legend(fontsize=9)
        return fig

    return Measured(numbers, conclusion, passed, plot)
