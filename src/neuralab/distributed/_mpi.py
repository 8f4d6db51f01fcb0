r"""The MPI communicator of data-parallel ``fit``: row shares, all-reduces, agreement, aborts.

Every rank must end each step with the same θ, bit for bit. An MPI all-reduce does not
promise that (the standard leaves the order of the sum to the implementation, and a
topology-aware algorithm may add in a different order on different ranks), so the sums here
are built so that each element is added up exactly once and then copied:

- a large buffer goes through a reduce-scatter (rank r sums block r of every rank's buffer)
  followed by an all-gather of the blocks: the ring all-reduce's traffic,
  2(N−1)/N · bytes per rank, with every element summed on one rank only;
- a small buffer (the step's loss and metric sums, a small model's ∇θ) is all-gathered as
  N rows and every rank adds them in rank order 0, 1, …, N−1: the same operations on the
  same numbers give the same bits, in one round of latency.

Both use the buffer methods of mpi4py on NumPy arrays (no pickles). Their non-blocking forms
let backpropagation start a layer's reduction as soon as its gradient is final
(:class:`_Sync`), while the layers below are still being computed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback

import numpy as np

#: A buffer of at most this many bytes, times the number of ranks, is all-gathered and added
#: in rank order; a larger one is reduce-scattered and all-gathered.
SMALL_BYTES = 1 << 16


class RankError(RuntimeError):
    """Raised on every rank when another rank failed where all must agree (the set-up)."""


def shares(n: int, size: int) -> np.ndarray:
    """Contiguous shares of ``n`` items over ``size`` ranks, as equal as can be (the first
    ``n mod size`` ranks take one more): the counts."""
    q, r = divmod(n, size)
    return np.array([q + (k < r) for k in range(size)], dtype=np.intp)


class _Sum:
    """An in-place sum over the ranks of ``buf`` (a contiguous 1-D array), identical on every
    rank, started at construction (non-blocking) and completed by :meth:`wait`."""

    def __init__(self, comm, buf):
        self.comm, self.buf = comm, buf
        size = comm.Get_size()
        self.small = buf.nbytes * size <= SMALL_BYTES
        if self.small:
            self.rows = np.empty((size, buf.size), dtype=buf.dtype)
            self.request = comm.Iallgather(buf, self.rows)
            return
        self.counts = shares(buf.size, size)
        self.displs = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        self.block = np.empty(self.counts[comm.Get_rank()], dtype=buf.dtype)
        self.request = comm.Ireduce_scatter(buf, self.block, self.counts.tolist())
        self.gathering = False

    def poke(self) -> None:
        """Let MPI progress; start the all-gather as soon as the reduce-scatter is done."""
        if self.request.Test() and not self.small and not self.gathering:
            self._gather()

    def _gather(self):
        self.gathering = True
        self.request = self.comm.Iallgatherv(
            self.block, [self.buf, (self.counts.tolist(), self.displs.tolist())])

    def wait(self):
        """Complete the sum; ``buf`` then holds it."""
        self.request.Wait()
        if self.small:
            buf, rows = self.buf, self.rows
            buf[...] = rows[0]
            for row in rows[1:]:              # in rank order, on every rank alike
                buf += row
            return buf
        if not self.gathering:
            self._gather()
            self.request.Wait()
        return self.buf


class MPIComm:
    """A data-parallel communicator over an mpi4py communicator (``MPI.COMM_WORLD``).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
    overlap : bool, default True
        Start each layer's all-reduce from backpropagation (non-blocking), as soon as that
        layer's gradient is final; otherwise reduce the whole ∇θ after backpropagation.
    bucket_bytes : int, default 256 KiB
        Consecutive layers' gradients are reduced together until they hold this many bytes
        (fewer, larger messages; the last bucket goes when backpropagation ends).

    Attributes
    ----------
    rank, size : int
    seconds : dict
        Time spent communicating since creation: ``"wait"`` (blocked in the step's
        all-reduce after backpropagation), ``"start"`` (starting reductions and polling inside
        backpropagation), and ``"steps"`` counted.
    """

    def __init__(self, comm, overlap: bool = True, bucket_bytes: int = 1 << 18):
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.overlap, self.bucket_bytes = bool(overlap), int(bucket_bytes)
        self.seconds = {"wait": 0.0, "start": 0.0, "steps": 0}

    def __repr__(self):
        return f"MPIComm(rank={self.rank}, size={self.size}, overlap={self.overlap})"

    # ------------------------------------------------------------------ what fit calls
    def share(self, n: int) -> tuple[int, int]:
        """The rows ``[lo, hi)`` of a global batch of ``n`` rows that this rank computes."""
        counts = shares(n, self.size)
        lo = int(counts[:self.rank].sum())
        return lo, lo + int(counts[self.rank])

    def sync(self, model):
        """The per-step all-reduce of ``model``'s ∇θ (and the step's sums) over the ranks."""
        return _Sync(self, model)

    def sum(self, values):
        """Σ over the ranks of ``values`` (a 1-D array, in place), the same bits everywhere."""
        values = np.ascontiguousarray(values)
        return _Sum(self.comm, values).wait()

    def max(self, value: float) -> float:
        """The largest ``value`` over the ranks."""
        buf = np.array([value], dtype=np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.MAX)
        return float(buf[0])

    def broadcast(self, array, root: int = 0):
        """``array`` of rank ``root`` copied into ``array`` on every rank (in place)."""
        self.comm.Bcast(array, root=root)
        return array

    def barrier(self) -> None:
        self.comm.Barrier()

    def check_same(self, run) -> None:
        """Raise on every rank unless all ranks were given the same training."""
        from ._fingerprint import compare, fingerprint

        names, digests = fingerprint(run)
        table = np.empty((self.size, len(digests)), dtype=np.uint64)
        self.comm.Allgather(digests, table)
        compare(names, table)

    @contextlib.contextmanager
    def together(self):
        """Raise an error of any rank on every rank (for the set-up, before the first step)."""
        try:
            yield
        except BaseException as exc:
            self._agree(f"{type(exc).__name__}: {exc}")
            raise
        failed = self._agree(None)
        if failed:
            rank, message = failed[0]
            raise RankError(f"rank {rank} of {self.size} failed to start training: {message}")

    def _agree(self, message):
        """All-gather every rank's failure (None: none); the failures of the other ranks."""
        data = np.frombuffer(("" if message is None else message).encode()[:4000] or b"\0",
                             dtype=np.uint8)
        flags = np.array([message is not None, data.size], dtype=np.int64)
        table = np.empty((self.size, 2), dtype=np.int64)
        self.comm.Allgather(flags, table)
        if not table[:, 0].any():
            return []
        text = np.empty(int(table[:, 1].sum()), dtype=np.uint8)
        displs = np.concatenate([[0], np.cumsum(table[:, 1])[:-1]]).tolist()
        self.comm.Allgatherv(data, [text, (table[:, 1].tolist(), displs)])
        return [(r, text[displs[r]:displs[r] + table[r, 1]].tobytes().decode(errors="replace"))
                for r in range(self.size) if table[r, 0] and r != self.rank]

    @contextlib.contextmanager
    def abort_on_error(self):
        """End the whole job (``MPI_Abort``) when training fails on this rank.

        The other ranks would wait for this one in the next all-reduce forever. A divergence
        is decided from the reduced loss and gradient, identically on every rank, so it is
        raised as usual; anything else is printed with the rank and aborts the job.
        """
        from ..training.train import DivergenceError

        try:
            yield
        except DivergenceError:
            raise
        except BaseException:
            abort(self.comm, f"rank {self.rank} of {self.size} failed during training")


def abort(comm, message, code: int = 1):
    """Print the current exception with ``message`` and end every rank of the job."""
    kind, exc, _ = sys.exc_info()
    reason = "" if exc is None else f" ({type(exc).__name__}: {exc})"
    # the reason first, in one line: the launcher may stop forwarding this rank's output
    # as soon as the job is aborted, before a long traceback has gone through
    sys.stderr.write(f"neuralab.distributed: {message}{reason}; ending the job\n")
    sys.stderr.flush()
    traceback.print_exc()
    sys.stderr.flush()
    time.sleep(0.2)                           # let the launcher forward the output
    comm.Abort(code)
    os._exit(code)                            # not reached: Abort does not return


class _Sync:
    """The all-reduce of ∇θ at each step, started layer by layer during backpropagation.

    Layers finish last to first, and each layer's gradient is a contiguous slice of the flat
    ∇θ just below the previous layer's, so the finished layers form one contiguous bucket
    ``grads[lo:hi]`` that grows downwards. Each slice is scaled by this rank's weight
    m_r / M as it is finished (the global gradient is Σ_r (m_r/M)·∇θ_r); once the bucket
    holds ``bucket_bytes`` its sum over the ranks is started, and between layers the
    reductions in flight are polled so that MPI moves them forward.
    """

    def __init__(self, comm: MPIComm, model):
        self.comm, self.model = comm, model
        self.slices = {id(layer): sl for layer, sl in zip(model.layers, model._slices,
                                                          strict=True) if layer.n_params}
        self.weight = 1.0
        self.hooks = {"on_grad": self._ready} if comm.overlap else {}
        self._reset()

    def _reset(self):
        n = self.model.n_params
        self.low = self.high = n                 # grads[low:n] scaled; [low:high] not sent
        self.inflight = []

    def _ready(self, layer) -> None:
        """backward's hook: ``layer``'s slice of ∇θ is final."""
        t0 = time.perf_counter()
        sl = self.slices[id(layer)]
        if sl.stop != self.low:                  # not the next slice down: send what we have
            self._send()
            self.low = self.high = sl.stop
        grads = self.model.grads
        grads[sl] *= self.weight
        self.low = sl.start
        if (self.high - self.low) * grads.itemsize >= self.comm.bucket_bytes:
            self._send()
        for s in self.inflight:
            s.poke()
        self.comm.seconds["start"] += time.perf_counter() - t0

    def _send(self):
        if self.high > self.low:
            self.inflight.append(_Sum(self.comm.comm, self.model.grads[self.low:self.high]))
        self.high = self.low

    def average(self, grads, J, sums) -> float:
        """Finish ∇θ's all-reduce (in place), sum the step's ``sums`` over the ranks (in
        place) and return the global batch's loss J = Σ_r J_r m_r / M."""
        t0 = time.perf_counter()
        if self.low > 0:                         # slices backward did not report (or no overlap)
            if self.high > self.low:
                self._send()
            grads[:self.low] *= self.weight
            self.high, self.low = self.low, 0
            self._send()
        elif self.high > self.low:
            self._send()
        keys = list(sums)
        values = self.comm.sum(np.array([sums[k] for k in keys], dtype=np.float64))
        for s in self.inflight:
            s.wait()
        sums.update(zip(keys, values.tolist(), strict=True))
        self._reset()
        seconds = self.comm.seconds
        seconds["wait"] += time.perf_counter() - t0
        seconds["steps"] += 1
        return sums["loss"] / sums["seen"]

    def objective(self, objective):
        """The objective of the global batch for a second-order optimizer."""
        return ReducedObjective(objective, self.comm, self.weight)


class ReducedObjective:
    r"""J(θ) of the global batch from this rank's :class:`~neuralab.model.Objective`.

    J, Hv and H are sums over rows, so the global batch's are
    :math:`\sum_r \tfrac{m_r}{M}\, J_r` (and likewise for Hv and H), all-reduced with the
    same bits on every rank: every rank's Newton step then accepts or rejects alike. It is
    the ``value()``, ``hvp(v, gauss_newton)``, ``hessian()`` object that
    :class:`~neuralab.optim.Newton` and :class:`~neuralab.optim.NewtonCG` accept.
    """

    def __init__(self, objective, comm: MPIComm, weight: float):
        self.local, self.comm, self.weight = objective, comm, weight

    def _sum(self, array):
        array = np.array(array, dtype=np.float64) * self.weight
        return self.comm.sum(array.ravel()).reshape(array.shape)

    def value(self) -> float:
        from ..nn import hessian as _hs

        return float(self._sum([_hs.loss_value(self.local)])[0])

    def hvp(self, v, gauss_newton: bool = False):
        from ..nn import hessian as _hs

        return self._sum(_hs.hvp(self.local, v, gauss_newton=gauss_newton))

    def hessian(self):
        from ..nn import hessian as _hs

        return self._sum(_hs.hessian(self.local))
