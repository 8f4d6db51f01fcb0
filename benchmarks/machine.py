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
        info["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        info["load"] = "?"
    return info
