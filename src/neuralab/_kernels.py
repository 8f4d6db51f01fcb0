r"""Fast kernels for the training hot path, in plain NumPy.

An optimizer step touches every parameter several times. Written as whole-vector expressions,
each of those passes streams θ-sized arrays through main memory; on a network with millions of
parameters the step is then limited by memory traffic, not arithmetic. The kernels here apply
the same formulas to cache-sized chunks, so one chunk of θ, g and the state is loaded once,
updated by every operation while it sits in the cache, and written back once: close to the
minimal traffic (read θ, g, m, v; write θ, m, v for Adam). NumPy's ufuncs release the GIL, so
the chunks are shared out among a few threads.

Each element's arithmetic does not depend on the chunking or on the thread count, so results
are bit-identical whatever the split.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: Elements per chunk: the 5 float32 arrays of a chunk (1.25 MiB) stay in a core's L2 cache.
CHUNK = 65536
#: Below this many elements one thread does the whole update (threads cost more than they save).
_MIN_PARALLEL = 1 << 21

_POOL: ThreadPoolExecutor | None = None
_POOL_PID: int | None = None


def _n_threads() -> int:
    """Threads for elementwise kernels: ``NEURALAB_NUM_THREADS`` or the usable cores (≤ 8)."""
    env = os.environ.get("NEURALAB_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _pool() -> ThreadPoolExecutor:
    global _POOL, _POOL_PID
    if _POOL is None or _POOL_PID != os.getpid():  # a forked child needs its own threads
        _POOL = ThreadPoolExecutor(max_workers=_n_threads(), thread_name_prefix="neuralab")
        _POOL_PID = os.getpid()
    return _POOL


def _chunked(kernel, n: int, chunk: int) -> None:
    """Run ``kernel(start, stop, worker)`` over ``[0, n)`` in chunks, split among threads."""
    workers = _n_threads() if n >= _MIN_PARALLEL else 1
    if workers == 1:
        for start in range(0, n, chunk):
            kernel(start, min(start + chunk, n), 0)
        return
    # contiguous spans of whole chunks, one per worker
    per = -(-n // (workers * chunk)) * chunk

    def span(w):
        for start in range(w * per, min((w + 1) * per, n), chunk):
            kernel(start, min(start + chunk, n), w)

    for f in [_pool().submit(span, w) for w in range(workers)]:
        f.result()


def adam_update(theta, grad, m, v, lr, beta1, beta2, eps, t, scratch) -> None:
    r"""One Adam step in place, chunk by chunk.

    .. math::

        m \leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \qquad
        \theta \leftarrow \theta - \frac{m}{\sqrt{v}\, c_v + \epsilon\, c_m}

    with ``c_m = (1 − β₁ᵗ)/α`` and ``c_v = c_m / √(1 − β₂ᵗ)``: the bias corrections and the
    rate ``lr`` (α) folded into the denominator, so that ``θ − α m̂/(√v̂ + ε)`` costs one
    division. ``scratch`` is a list of work buffers (one per thread, each at least ``CHUNK``
    long, the dtype of θ); ``grad`` is only read.
    """
    if lr == 0.0:  # a schedule may start at 0: the moments move, θ does not
        lr, theta = 1.0, np.zeros_like(theta)
    c_m = (1.0 - beta1 ** t) / lr
    c_v = c_m / math.sqrt(1.0 - beta2 ** t)
    eps_c = eps * c_m
    b1, b2 = 1.0 - beta1, 1.0 - beta2

    def kernel(i, j, w):
        th, g, mm, vv = theta[i:j], grad[i:j], m[i:j], v[i:j]
        s = scratch[w][: j - i]
        mm *= beta1
        np.multiply(g, b1, out=s)
        mm += s
        vv *= beta2
        np.multiply(g, g, out=s)
        s *= b2
        vv += s
        np.sqrt(vv, out=s)
        s *= c_v
        s += eps_c
        np.divide(mm, s, out=s)
        th -= s

    _chunked(kernel, theta.size, scratch[0].size)


def scratch_buffers(dtype, n: int) -> list[np.ndarray]:
    """Work buffers for the chunked kernels: one per thread, ``min(n, CHUNK)`` long."""
    return [np.empty(min(n, CHUNK), dtype=dtype) for _ in range(_n_threads())]
