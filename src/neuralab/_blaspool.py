r"""Adam's pass on the BLAS's own worker threads: every core streams memory, no second pool.

Adam's step is a stream through memory (read θ, g, m, v; write θ, m, v: 28 bytes per float32
parameter): one core draws about 40 GB/s here, two about 80. The matrix products already run
on every core, in the BLAS's thread pool; after each product the pool's workers keep spinning
for a while, waiting for more work. A thread of neuralab's own would have to share a core
with such a spinning worker and start late (measured: 0.91–1.03× in ``fit``). So the pass is
handed to the BLAS's pool itself: OpenBLAS exports ``blas_level1_thread``, the routine its own
vector operations use to cut ``m`` items into one share per thread and run a function on each
share, the caller's included. neuralab passes a compiled function (a numba ``cfunc``) that runs
the same Adam loop as the one-thread kernel on its share of chunks, so the result is the same
bit for bit whatever the number of threads. The layers' squared gradient norms (the guard's
pass over ∇θ before each step) are shared out the same way, as per-chunk sums.

The routine is OpenBLAS's internal interface, so it is checked before use: it must be
exported by the loaded OpenBLAS (pthreads build), and a probe call must cut 4 items into two
shares at the expected offsets. Anything else (another BLAS, an OpenMP build, a probe that
disagrees, ``NEURALAB_BLAS_POOL=0``) leaves the one-thread kernel in charge. The number of
threads is the BLAS's own at each call, so a process held to one BLAS thread (an MPI rank,
``threadpool_limits``) runs Adam on one thread too. This module imports numba; it is loaded by
:mod:`neuralab._kernels` only when the compiled kernels are in use.
"""

from __future__ import annotations

import ctypes
import functools
import os

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from ._loops import _adam_loop as _adam_loop_py


@intrinsic
def _address(typingctx, ptr):
    """The integer value of a pointer."""
    def codegen(context, builder, signature, args):
        return builder.ptrtoint(args[0], context.get_value_type(types.int64))
    return types.int64(ptr), codegen


@intrinsic
def _pointer(typingctx, address):
    """The pointer at an integer address."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))
    return types.voidptr(address), codegen


#: The routine's signature (OpenBLAS's legacy real-valued call: m, n, k, alpha, a, lda, b, ldb,
#: c, ldc, buffer); neuralab uses m (the share's chunks), a (the share's offset: its first
#: chunk, shifted), c (the job: an int64 array of addresses and sizes).
_SIGNATURE = types.int32(types.int64, types.int64, types.int64, types.float64, types.voidptr,
                         types.int64, types.voidptr, types.int64, types.voidptr, types.int64,
                         types.voidptr)

_adam_loop = numba.njit(nogil=True, error_model="numpy", boundscheck=False,
                        cache=True)(_adam_loop_py)

# job layout (int64): 0-3 addresses of θ, g, m, v; 4 n; 5 chunk; 6 update (0/1);
# 7 address of the per-chunk "finite" flags; 8 address of the float64 constants
# (β₁, 1−β₁, β₂, 1−β₂, c_v, ε c_m); 9 chunks; 10 the offset's shift
_JOB = 11


@numba.njit(nogil=True, error_model="numpy", boundscheck=False, cache=True)
def _adam_chunks(theta, grad, m, v, beta1, b1, beta2, b2, c_v, eps_c, update, chunk, first,
                 chunks, finite):  # pragma: no cover
    """:func:`neuralab._loops._adam_loop` on chunks ``first … first + chunks − 1``."""
    n = theta.size
    for i in range(first, first + chunks):
        lo, hi = i * chunk, min(i * chunk + chunk, n)
        ok = _adam_loop(theta[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], beta1, b1, beta2, b2,
                        c_v, eps_c, update)
        finite[i] = 1 if ok else 0


@numba.cfunc(_SIGNATURE, error_model="numpy", cache=True)
def _adam_share32(chunks, n_, k_, alpha, a, lda, b, ldb, c, ldc, buffer):  # pragma: no cover
    """One thread's share of a float32 Adam step (the job at ``c``)."""
    job = numba.carray(c, (_JOB,), numba.int64)
    n = job[4]
    k = numba.carray(_pointer(job[8]), (6,), numba.float64)
    f = np.float32
    _adam_chunks(numba.carray(_pointer(job[0]), (n,), numba.float32),
                 numba.carray(_pointer(job[1]), (n,), numba.float32),
                 numba.carray(_pointer(job[2]), (n,), numba.float32),
                 numba.carray(_pointer(job[3]), (n,), numba.float32),
                 f(k[0]), f(k[1]), f(k[2]), f(k[3]), f(k[4]), f(k[5]), job[6] != 0, job[5],
                 _address(a) >> job[10], chunks,
                 numba.carray(_pointer(job[7]), (job[9],), numba.int64))
    return 0


@numba.cfunc(_SIGNATURE, error_model="numpy", cache=True)
def _adam_share64(chunks, n_, k_, alpha, a, lda, b, ldb, c, ldc, buffer):  # pragma: no cover
    """One thread's share of a float64 Adam step (the job at ``c``)."""
    job = numba.carray(c, (_JOB,), numba.int64)
    n = job[4]
    k = numba.carray(_pointer(job[8]), (6,), numba.float64)
    _adam_chunks(numba.carray(_pointer(job[0]), (n,), numba.float64),
                 numba.carray(_pointer(job[1]), (n,), numba.float64),
                 numba.carray(_pointer(job[2]), (n,), numba.float64),
                 numba.carray(_pointer(job[3]), (n,), numba.float64),
                 k[0], k[1], k[2], k[3], k[4], k[5], job[6] != 0, job[5],
                 _address(a) >> job[10], chunks,
                 numba.carray(_pointer(job[7]), (job[9],), numba.int64))
    return 0


@numba.cfunc(_SIGNATURE, error_model="numpy", cache=True)
def _probe_share(items, n_, k_, alpha, a, lda, b, ldb, c, ldc, buffer):  # pragma: no cover
    """Records each share it is called for: (items, offset) at the next free pair of ``c``."""
    seen = numba.carray(c, (8,), numba.int64)
    slot = 0 if _address(a) == 0 else 2
    seen[slot] = items
    seen[slot + 1] = _address(a)
    return 0


@numba.njit(nogil=True, error_model="numpy", boundscheck=False, cache=True,
            fastmath={"reassoc", "contract"})
def _sum_squares(x):  # pragma: no cover
    """Σ x² in x's precision, the additions reordered to vectorize (as a BLAS dot does; NaN and
    inf propagate: no ``nnan``/``ninf``)."""
    s = x.dtype.type(0)
    for i in range(x.size):
        s += x[i] * x[i]
    return s


# squared norms job (int64): 0 address of g; 1 its size; 2-3 addresses of the chunks' starts
# and stops (int64); 4 address of the chunks' sums (float64); 5 chunks; 6 the offset's shift
_NORMS_JOB = 7


@numba.njit(nogil=True, error_model="numpy", boundscheck=False, cache=True)
def _sums_of_chunks(g, starts, stops, sums, first, chunks):  # pragma: no cover
    for i in range(first, first + chunks):
        sums[i] = _sum_squares(g[starts[i]:stops[i]])


@numba.cfunc(_SIGNATURE, error_model="numpy", cache=True)
def _squares_share32(chunks, n_, k_, alpha, a, lda, b, ldb, c, ldc, buffer):  # pragma: no cover
    """One thread's share of the chunks' Σ g² of a float32 vector (the job at ``c``)."""
    job = numba.carray(c, (_NORMS_JOB,), numba.int64)
    total = job[5]
    _sums_of_chunks(numba.carray(_pointer(job[0]), (job[1],), numba.float32),
                    numba.carray(_pointer(job[2]), (total,), numba.int64),
                    numba.carray(_pointer(job[3]), (total,), numba.int64),
                    numba.carray(_pointer(job[4]), (total,), numba.float64),
                    _address(a) >> job[6], chunks)
    return 0


@numba.cfunc(_SIGNATURE, error_model="numpy", cache=True)
def _squares_share64(chunks, n_, k_, alpha, a, lda, b, ldb, c, ldc, buffer):  # pragma: no cover
    """One thread's share of the chunks' Σ g² of a float64 vector (the job at ``c``)."""
    job = numba.carray(c, (_NORMS_JOB,), numba.int64)
    total = job[5]
    _sums_of_chunks(numba.carray(_pointer(job[0]), (job[1],), numba.float64),
                    numba.carray(_pointer(job[2]), (total,), numba.int64),
                    numba.carray(_pointer(job[3]), (total,), numba.int64),
                    numba.carray(_pointer(job[4]), (total,), numba.float64),
                    _address(a) >> job[6], chunks)
    return 0


class _Pool:
    """OpenBLAS's ``blas_level1_thread`` and the BLAS's thread count, found and checked."""

    #: The mode numbers of double precision: 3 in OpenBLAS ≥ 0.3.10 (BLAS_DOUBLE), 1 before.
    MODES = (3, 1)
    #: A share's offset is its first item shifted by 3 (the 8 bytes of a double-mode item).
    SHIFT = 3

    def __init__(self, controller, routine):
        self.controller, self.routine = controller, routine
        self.mode: int | None = None          # not probed yet; 0: the probe disagreed
        self.alpha = np.zeros(2)

    def threads(self) -> int:
        """The threads a share-out may use now: the BLAS's current count when the routine is
        checked and there are at least two, else 0 (the caller works alone)."""
        threads = int(self.controller.get_num_threads() or 1)
        if threads < 2:
            return 0      # (a pool started with one thread has no workers to hand shares to)
        if self.mode is None:
            self.mode = self._probe()
        return threads if self.mode else 0

    def _probe(self) -> int:
        """The mode under which the routine cuts 4 items into shares of 2 and 2, the second
        at offset 2 << SHIFT; 0 when neither does."""
        for mode in self.MODES:
            seen = np.zeros(8, np.int64)
            self.routine(mode, 4, 0, 0, self.alpha.ctypes.data, None, 1, None, 1,
                         seen.ctypes.data, 0, _probe_share.address, 2)
            if seen[:4].tolist() == [2, 0, 2, 2 << self.SHIFT]:
                return mode
        return 0

    def run(self, share, job, items: int, threads: int) -> None:
        self.routine(self.mode, items, 0, 0, self.alpha.ctypes.data, None, 1, None, 1,
                     job.ctypes.data, 0, share.address, threads)


@functools.cache
def pool() -> _Pool | None:
    """NumPy's OpenBLAS with the routine that shares work among its threads, else None (see
    the module's text); whether it does what neuralab expects is checked at the first use
    with two threads or more (:meth:`_Pool.threads`)."""
    if os.environ.get("NEURALAB_BLAS_POOL", "1") == "0":
        return None
    try:
        from threadpoolctl import ThreadpoolController

        controllers = [c for c in ThreadpoolController().lib_controllers
                       if c.internal_api == "openblas"]
        # NumPy's own (SciPy may have loaded another one): the pool its products run on
        numpys = [c for c in controllers if "numpy" in os.path.basename(
            os.path.dirname(c.filepath))]
        controllers = numpys if numpys else controllers
        if len(controllers) != 1 or controllers[0].threading_layer != "pthreads":
            return None
        controller = controllers[0]
        routine = ctypes.CDLL(controller.filepath).blas_level1_thread
    except Exception:  # no threadpoolctl, no OpenBLAS, or no such routine
        return None
    routine.restype = ctypes.c_int
    long, ptr = ctypes.c_long, ctypes.c_void_p
    routine.argtypes = [ctypes.c_int, long, long, long, ptr, ptr, long, ptr, long, ptr, long,
                        ptr, ctypes.c_int]
    return _Pool(controller, routine)


def adam_update(theta, grad, m, v, beta1, b1, beta2, b2, c_v, eps_c, update,
                chunk: int = 65536) -> bool | None:
    """Adam's step (:func:`neuralab._kernels.adam_update_fused`'s arguments) on the BLAS's
    threads, ``chunk`` elements at a time; None when it cannot (the caller runs it)."""
    shared = pool()
    threads = 0 if shared is None else shared.threads()
    if shared is None or not threads:
        return None
    chunks = -(-theta.size // chunk)
    finite = np.zeros(chunks, np.int64)
    constants = np.array([beta1, b1, beta2, b2, c_v, eps_c], np.float64)
    job = np.array([theta.ctypes.data, grad.ctypes.data, m.ctypes.data, v.ctypes.data,
                    theta.size, chunk, int(update), finite.ctypes.data, constants.ctypes.data,
                    chunks, _Pool.SHIFT], np.int64)
    share = _adam_share32 if theta.dtype == np.float32 else _adam_share64
    shared.run(share, job, chunks, threads)
    return bool(finite.all())


def chunk_sums(g, starts, stops, sums) -> None:
    """``sums[i] = Σ g[starts[i]:stops[i]]²`` for every chunk i (each chunk summed in g's
    precision, float32 or float64, the sums kept in float64): on the BLAS's threads when it
    can, else on this one; the same numbers either way."""
    shared = pool()
    threads = 0 if shared is None else shared.threads()
    if shared is None or not threads:
        _sums_of_chunks(g, starts, stops, sums, 0, starts.size)
        return
    job = np.array([g.ctypes.data, g.size, starts.ctypes.data, stops.ctypes.data,
                    sums.ctypes.data, starts.size, _Pool.SHIFT], np.int64)
    shared.run(_squares_share32 if g.dtype == np.float32 else _squares_share64, job,
               starts.size, threads)
