"""What this machine can do: float32 matmul peak, copy bandwidth, and a description."""

from __future__ import annotations

import os
import platform
import time

import numpy as np


def _best(fn, repeats):
    fn()  # warm-up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_peak(n: int = 4096, repeats: int = 10) -> float:
    """GFLOP/s of the best of ``repeats`` float32 ``(n, n) @ (n, n)`` products (2n³ flops)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty_like(a)
    return 2.0 * n ** 3 / _best(lambda: np.matmul(a, b, out=c), repeats) / 1e9


def step_products(sizes, m) -> list[tuple[str, tuple, tuple]]:
    """The matrix products of one training step of a Dense stack on a batch of ``m`` columns,
    with neuralab's layouts: ``(what, shape of the left factor, shape of the right)``.

    Forward ``W @ A`` (n_out, n_in)·(n_in, m); backward ``dZ @ A.T`` (n_out, m)·(m, n_in) for
    dW and ``W.T @ dZ`` (n_in, n_out)·(n_out, m) for dA, except in the first layer.
    """
    products = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        products.append(("W A", (b, a), (a, m)))
        products.append(("dZ A.T", (b, m), (m, a)))
        if i > 0:
            products.append(("W.T dZ", (a, b), (b, m)))
    return products


def products_seconds(sizes, m, repeats: int = 20, matmul=None) -> float:
    """Sum over the step's products (:func:`step_products`) of each one's best time alone.

    Each product is timed at its own shape and layout (a transposed factor is a transposed
    view, as in the training pass), best of ``repeats``: what this machine's BLAS does on
    exactly these shapes, with warm caches. ``matmul(a, b, out)`` defaults to ``np.matmul``.
    """
    matmul = matmul or (lambda a, b, out: np.matmul(a, b, out=out))
    rng = np.random.default_rng(0)
    total = 0.0
    for what, left, right in step_products(sizes, m):
        a = rng.standard_normal(left[::-1] if what == "W.T dZ" else left, dtype=np.float32)
        b = rng.standard_normal(right[::-1] if what == "dZ A.T" else right, dtype=np.float32)
        a = a.T if what == "W.T dZ" else a
        b = b.T if what == "dZ A.T" else b
        c = np.empty((left[0], right[1]), dtype=np.float32)
        total += _best(lambda a=a, b=b, c=c: matmul(a, b, c), repeats)
    return total


def adam_seconds(n: int, repeats: int = 20) -> float:
    """The best time of one Adam step on ``n`` float32 parameters alone, as ``fit`` takes it
    (``nl.optim.Adam``'s kernel: compiled, on the BLAS's threads when it can share them).

    Adam's pass reads θ, g, m, v and writes θ, m, v (28 bytes per parameter) and does little
    arithmetic: its best time is what this machine's memory gives that traffic, on every core
    the pass can use. (A copy with ``np.copyto`` is no bound for it: here it moves 25–30 GB/s
    where Adam's loop moves 40–80.)
    """
    import neuralab as nl

    rng = np.random.default_rng(0)
    theta, grad = rng.standard_normal((2, n), dtype=np.float32)
    opt = nl.optim.Adam(lr=1e-3)
    return _best(lambda: opt.step(theta, grad, 1e-3), repeats)


def copy_bandwidth(nbytes: int = 256 << 20, repeats: int = 10) -> float:
    """GB/s of ``np.copyto`` on ``nbytes`` buffers, counting bytes read plus bytes written.

    That is the convention of Adam's traffic (read θ, g, m, v; write θ, m, v = 7 arrays).
    """
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    return 2.0 * src.nbytes / _best(lambda: np.copyto(dst, src), repeats) / 1e9


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict:
    """CPU, cores, BLAS and library versions."""
    info = {"cpu": cpu_model(), "cores": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "numpy": np.__version__}
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{d['internal_api']} {d.get('version')} ({d.get('architecture')}, "
                f"{d['num_threads']} threads)"
                for d in threadpool_info() if d["user_api"] == "blas"
                and "numpy" in d["filepath"]]
        info["blas"] = "; ".join(blas) or "unknown"
    except ImportError:  # pragma: no cover
        info["blas"] = "unknown"
    try:
        import scipy
        import sklearn
        import torch

        info.update(scipy=scipy.__version__, sklearn=sklearn.__version__,
                    torch=torch.__version__)
    except ImportError:  # pragma: no cover
        pass
    try:
        import jax

        info["jax"] = jax.__version__
    except ImportError:
        pass
    try:
        info["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        info["load"] = "?"
    return info
