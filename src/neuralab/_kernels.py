r"""Fast kernels for the training hot path: plain NumPy, and a fused loop when numba is there.

An optimizer step touches every parameter several times. Written as whole-vector expressions,
each of those passes streams θ-sized arrays through main memory; on a network with millions of
parameters the step is then limited by memory traffic, not arithmetic. The NumPy kernels here
apply the same formulas to cache-sized chunks, so one chunk of θ, g and the state is loaded once,
updated by every operation while it sits in the cache, and written back once: close to the
minimal traffic (read θ, g, m, v; write θ, m, v for Adam). Each chunk still costs eleven ufunc
calls and as many trips through the cache.

With numba (a dependency of neuralab) the same operations run in
one compiled loop, element by element, in the same order and the same precision (no fast-math,
no fused multiply-add), so both kernels give bit-identical results; the fused one is about three
times as fast. It is used whenever numba can be imported, unless the environment variable
``NEURALAB_NUMBA=0`` is set; it is compiled on first use and cached on disk (``cache=True``).

Each element's arithmetic does not depend on the chunking, so results are bit-identical
whatever the chunk size. On long vectors the compiled Adam loop runs on the BLAS's own threads,
one share of chunks each (:mod:`neuralab._blaspool`): the pass is limited by memory traffic,
which two cores draw twice as fast as one. (Threads of neuralab's own, in a pool or with
numba's ``prange``, were slower: in a training loop the BLAS threads that just finished a
matrix product keep spinning on the other cores.)
"""

from __future__ import annotations

import functools
import math
import os
import warnings

import numpy as np

from ._loops import LOOPS as _LOOPS

#: Elements per chunk: the 5 float32 arrays of a chunk (1.25 MiB) stay in a core's L2 cache.
CHUNK = 65536


def _chunked(kernel, n: int, chunk: int) -> None:
    """Run ``kernel(start, stop)`` over ``[0, n)`` in chunks of ``chunk``."""
    for start in range(0, n, chunk):
        kernel(start, min(start + chunk, n))


def _adam_constants(lr, beta1, beta2, eps, t):
    """``(c_v, ε c_m)`` of :func:`adam_update`: bias corrections and rate in the denominator."""
    c_m = (1.0 - beta1 ** t) / lr
    return c_m / math.sqrt(1.0 - beta2 ** t), eps * c_m


def adam_update(theta, grad, m, v, lr, beta1, beta2, eps, t, scratch) -> bool | None:
    r"""One Adam step in place.

    .. math::

        m \leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \qquad
        \theta \leftarrow \theta - \frac{m}{\sqrt{v}\, c_v + \epsilon\, c_m}

    with ``c_m = (1 − β₁ᵗ)/α`` and ``c_v = c_m / √(1 − β₂ᵗ)``: the bias corrections and the
    rate ``lr`` (α) folded into the denominator, so that ``θ − α m̂/(√v̂ + ε)`` costs one
    division. ``scratch`` is a work buffer (from :func:`scratch_buffer`, the dtype of θ; its
    length is the chunk size); ``grad`` is only read.

    Runs :func:`adam_update_fused` when numba is available and the arrays suit it (contiguous,
    one floating dtype), else :func:`adam_update_numpy`; the two agree bit for bit. Returns
    whether the new θ is all finite when the kernel saw it for free (fused, ``lr`` > 0), else
    None.
    """
    fused = _fused_adam() if theta.dtype in (np.float32, np.float64) else None
    if fused is not None and all(a.dtype == theta.dtype and a.flags.c_contiguous and a.ndim == 1
                                 for a in (theta, grad, m, v)):
        return adam_update_fused(theta, grad, m, v, lr, beta1, beta2, eps, t)
    adam_update_numpy(theta, grad, m, v, lr, beta1, beta2, eps, t, scratch)
    return None


def adam_update_numpy(theta, grad, m, v, lr, beta1, beta2, eps, t, scratch) -> None:
    """:func:`adam_update` in NumPy, chunk by chunk (eleven in-place ufunc calls a chunk)."""
    if lr == 0.0:  # a schedule may start at 0: the moments move, θ does not
        lr, theta = 1.0, np.zeros_like(theta)
    c_v, eps_c = _adam_constants(lr, beta1, beta2, eps, t)
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


def adam_update_fused(theta, grad, m, v, lr, beta1, beta2, eps, t) -> bool | None:
    """:func:`adam_update` in one compiled loop (numba); needs :func:`_fused_adam` not None.

    The constants are rounded to θ's dtype first, as NumPy does with Python scalars, and the
    operations are those of :func:`adam_update_numpy` in the same order, so the results agree
    bit for bit. Returns whether every new θ is finite (None when ``lr`` is 0: θ not touched).
    """
    kernel = _fused_adam()
    update = lr != 0.0  # a schedule may start at 0: the moments move, θ does not
    c_v, eps_c = _adam_constants(lr if update else 1.0, beta1, beta2, eps, t)
    f = theta.dtype.type
    args = (theta, grad, m, v, f(beta1), f(1.0 - beta1), f(beta2), f(1.0 - beta2), f(c_v),
            f(eps_c), update)
    finite = _shared_adam()(*args, CHUNK) if theta.size >= SHARED_MIN else None
    if finite is None:   # short vector, or the BLAS's threads cannot take it: this thread
        finite = kernel(*args)
    return bool(finite) if update else None


class SquaredNorms:
    r"""The squared norms ‖g_l‖² of fixed slices ``g_l = g[start:stop]`` of a vector (the
    layers' slices of ∇θ).

    .. math::

        \lVert g_l \rVert^2 = \sum_{i \in l} g_i^2

    One BLAS dot per slice; on a long vector, with the compiled kernels, the slices are cut
    into chunks of :data:`CHUNK` elements, each summed in g's precision (as a dot is) on the
    BLAS's threads when :mod:`neuralab._blaspool` can share them out, and the chunks' sums
    added in order in float64: the same numbers for any number of threads.
    """

    def __init__(self, bounds):
        self.bounds = [(int(a), int(b)) for a, b in bounds]
        starts, stops, self.owner = [], [], []
        for k, (a, b) in enumerate(self.bounds):
            for s in range(a, b, CHUNK):
                starts.append(s)
                stops.append(min(s + CHUNK, b))
                self.owner.append(k)
        self.starts, self.stops = np.array(starts, np.int64), np.array(stops, np.int64)
        self.sums = np.zeros(len(starts), np.float64)
        self.shared = sum(b - a for a, b in self.bounds) >= SHARED_MIN

    def __call__(self, g) -> list[float]:
        chunk_sums = _chunk_sums() if self.shared else None
        if chunk_sums is not None and g.ndim == 1 and g.flags.c_contiguous \
                and g.dtype in (np.float32, np.float64):
            chunk_sums(g, self.starts, self.stops, self.sums)
            out = [0.0] * len(self.bounds)
            for k, s in zip(self.owner, self.sums.tolist(), strict=True):
                out[k] += s
            return out
        return [float(g[a:b].dot(g[a:b])) for a, b in self.bounds]


@functools.cache
def _pool_module():
    """The module :mod:`neuralab._blaspool` with the compiled kernels, else None (no numba,
    ``NEURALAB_NUMBA=0``, or numba could not build its functions: one thread then)."""
    if _compiled("adam") is None:
        return None
    try:
        from . import _blaspool
    except Exception as exc:  # pragma: no cover - e.g. no folder numba may cache them in
        warnings.warn(f"Adam stays on one thread: numba could not build the functions that "
                      f"share it among the BLAS's threads ({exc})", RuntimeWarning, stacklevel=3)
        return None
    return _blaspool


@functools.cache
def _chunk_sums():
    """:func:`neuralab._blaspool.chunk_sums` with the compiled kernels, else None."""
    module = _pool_module()
    return None if module is None else module.chunk_sums


#: Vectors this long (elements) or longer: Adam's pass may run on the BLAS's threads.
SHARED_MIN = 4 * CHUNK


@functools.cache
def _shared_adam():
    """:func:`neuralab._blaspool.adam_update` (Adam on the BLAS's threads), or a stand-in that
    always declines (``NEURALAB_BLAS_POOL=0``, or no usable pool)."""
    module = _pool_module()
    if module is None or module.pool() is None:
        return lambda *args: None
    return module.adam_update


def bias_relu(Z, b) -> np.ndarray:
    r"""``Z ← max(Z + b, 0)`` in place (a hidden ReLU layer's bias and activation); returns Z.

    .. math::

        Z_{ij} \leftarrow \max(Z_{ij} + b_i,\ 0)

    ``b`` is a column (n, 1). One compiled pass with numba (NaN propagates and −0 is kept, as
    ``np.maximum`` does), else ``Z += b`` and ``np.maximum(Z, 0, out=Z)``: the same values.
    """
    kernel = _compiled("bias_relu")
    if kernel is not None and _fits(Z, b):
        kernel(Z, b)
        return Z
    Z += b
    return np.maximum(Z, 0, out=Z)


def relu_backward(dA, A) -> np.ndarray:
    r"""``dA ← dA ⊙ [A > 0]`` in place (ReLU's backward from its output A); returns dA.

    .. math::

        dZ_{ij} = dA_{ij} \cdot \mathbb{1}[A_{ij} > 0]

    One compiled pass with numba, else ``np.multiply(dA, A > 0, out=dA)``: the same values
    (a product with 0, so NaN and inf in dA still give NaN).
    """
    kernel = _compiled("relu_backward")
    if kernel is not None and _fits(dA, A):
        kernel(dA, A, dA.dtype.type(0))
        return dA
    return np.multiply(dA, A > 0, out=dA)


def _fits(*arrays) -> bool:
    """True when the compiled loops take these arrays: 2-D, C-contiguous, one float dtype."""
    dtype = arrays[0].dtype
    return dtype in (np.float32, np.float64) and all(
        a.dtype == dtype and a.ndim == 2 and a.flags.c_contiguous for a in arrays)




def preload() -> list[str]:
    """Compile (or load from the disk cache) every numba loop now; return their names.

    Normally each loop is compiled on first use, for the dtypes it meets. This runs each on
    tiny float32 and float64 arrays, to pay numba's start-up (time, and the resident memory of
    its compiler) up front, e.g. before timing or measuring memory.
    """
    loaded = [name for name in _LOOPS if _compiled(name) is not None]
    for dtype in (np.float32, np.float64):
        theta, grad, m, v = (np.ones(4, dtype) for _ in range(4))
        adam_update(theta, grad, m, v, 1e-3, 0.9, 0.999, 1e-8, 1, scratch_buffer(dtype, 4))
        Z, b = np.ones((2, 2), dtype), np.ones((2, 1), dtype)
        relu_backward(Z, bias_relu(Z, b))
    if loaded:
        _shared_adam()   # Adam's pass on the BLAS's threads: its functions and the pool's probe
    return loaded


def _fused_adam():
    """The compiled Adam loop, or None."""
    return _compiled("adam")


@functools.cache
def _compiled(name):
    """The loop ``name`` compiled by numba, or None (numba missing, or ``NEURALAB_NUMBA=0``)."""
    if os.environ.get("NEURALAB_NUMBA", "1") == "0":
        return None
    try:
        import numba
    except ImportError:
        return None
    # error_model="numpy": x/0 gives inf or NaN (as in NumPy) instead of raising
    options = dict(nogil=True, error_model="numpy", boundscheck=False)
    try:
        return numba.njit(cache=True, **options)(_LOOPS[name])
    except Exception:  # pragma: no cover - no writable cache folder: compile every process
        warnings.warn("numba cannot cache neuralab's kernels; they are compiled in each process",
                      RuntimeWarning, stacklevel=2)
        return numba.njit(**options)(_LOOPS[name])


def scratch_size(n: int) -> int:
    """Length of the chunked kernels' work buffer for vectors of ``n`` elements.

    One chunk covers vectors up to twice ``CHUNK`` (fewer calls beats a smaller working set).
    """
    return n if n <= 2 * CHUNK else CHUNK


def scratch_buffer(dtype, n: int) -> np.ndarray:
    """The work buffer of the chunked kernels for vectors of ``n`` elements."""
    return np.empty(scratch_size(n), dtype=dtype)
