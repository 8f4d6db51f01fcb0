r"""Fast kernels for the training hot path, in plain NumPy.

An optimizer step touches every parameter several times. Written as whole-vector expressions,
each of those passes streams θ-sized arrays through main memory; on a network with millions of
parameters the step is then limited by memory traffic, not arithmetic. The kernels here apply
the same formulas to cache-sized chunks, so one chunk of θ, g and the state is loaded once,
updated by every operation while it sits in the cache, and written back once: close to the
minimal traffic (read θ, g, m, v; write θ, m, v for Adam).

Each element's arithmetic does not depend on the chunking, so results are bit-identical
whatever the chunk size. (Sharing the chunks among threads was tried: in a training loop the
BLAS threads that just finished a matrix product hold the other core, and it gained nothing.)
"""

from __future__ import annotations

import math

import numpy as np

#: Elements per chunk: the 5 float32 arrays of a chunk (1.25 MiB) stay in a core's L2 cache.
CHUNK = 65536


def _chunked(kernel, n: int, chunk: int) -> None:
    """Run ``kernel(start, stop)`` over ``[0, n)`` in chunks of ``chunk``."""
    for start in range(0, n, chunk):
        kernel(start, min(start + chunk, n))


def adam_update(theta, grad, m, v, lr, beta1, beta2, eps, t, scratch) -> None:
    r"""One Adam step in place, chunk by chunk.

    .. math::

        m \leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \qquad
        \theta \leftarrow \theta - \frac{m}{\sqrt{v}\, c_v + \epsilon\, c_m}

    with ``c_m = (1 − β₁ᵗ)/α`` and ``c_v = c_m / √(1 − β₂ᵗ)``: the bias corrections and the
    rate ``lr`` (α) folded into the denominator, so that ``θ − α m̂/(√v̂ + ε)`` costs one
    division. ``scratch`` is a work buffer (from :func:`scratch_buffer`, the dtype of θ; its
    length is the chunk size); ``grad`` is only read.
    """
    if lr == 0.0:  # a schedule may start at 0: the moments move, θ does not
        lr, theta = 1.0, np.zeros_like(theta)
    c_m = (1.0 - beta1 ** t) / lr
    c_v = c_m / math.sqrt(1.0 - beta2 ** t)
    eps_c = eps * c_m
    b1, b2 = 1.0 - beta1, 1.0 - beta2

    def kernel(i, j):
        th, g, mm, vv = theta[i:j], grad[i:j], m[i:j], v[i:j]
        s = scratch[: j - i]
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

    _chunked(kernel, theta.size, scratch.size)


def scratch_buffer(dtype, n: int) -> np.ndarray:
    """The work buffer of the chunked kernels for vectors of ``n`` elements.

    One chunk covers vectors up to twice ``CHUNK`` (fewer calls beats a smaller working set).
    """
    return np.empty(n if n <= 2 * CHUNK else CHUNK, dtype=dtype)
