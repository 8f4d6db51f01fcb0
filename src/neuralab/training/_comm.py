r"""The communicator ``fit`` trains over: one process here, many in :mod:`neuralab.distributed`.

Data-parallel training splits each global batch of M rows across the ranks, rank r taking
m_r of them; each rank backpropagates the mean loss over its own rows into ∇θ_r, and the
gradient of the global batch is the row-weighted average

.. math::

    \nabla_\theta J = \sum_r \frac{m_r}{M}\, \nabla_\theta J_r

(an all-reduce of the flat ∇θ), which every rank then applies to its own copy of θ.
:class:`Local` is the communicator of one process: its rank is 0, it owns every row, and each
of its reductions is the identity, so ``fit`` without ``comm=`` runs exactly as it always did.
A communicator over MPI (:class:`neuralab.distributed.MPIComm`) implements the same methods
with collective calls; the core never imports MPI.
"""

from __future__ import annotations

import contextlib


class Local:
    """The communicator of a single process (rank 0 of 1): every reduction is the identity."""

    rank = 0
    size = 1

    def share(self, n: int) -> tuple[int, int]:
        """The rows ``[lo, hi)`` of a global batch of ``n`` rows that this rank computes."""
        return 0, n

    def sync(self, model):
        """The per-step gradient reduction of ``model``: here, nothing to reduce."""
        return _LocalSync()

    def sum(self, values):
        """Σ over the ranks of a float64 vector (the same bits on every rank): ``values``."""
        return values

    def max(self, value: float) -> float:
        """The largest ``value`` over the ranks."""
        return value

    def check_same(self, fingerprint: dict) -> None:
        """Raise on every rank when the ranks' fingerprints differ (one rank: nothing to do)."""

    def together(self):
        """A context in which an error raised on any rank is raised on every rank."""
        return contextlib.nullcontext()

    def abort_on_error(self):
        """A context that ends the whole job when this rank fails alone (one rank: a no-op)."""
        return contextlib.nullcontext()

    def __repr__(self):
        return "Local(rank=0, size=1)"


class _LocalSync:
    """What :class:`Local` reduces at each step: nothing (the batch is all this rank's)."""

    hooks: dict = {}           # no per-layer "gradient ready" hook for backward
    weight = 1.0               # m_r / M of the step

    def average(self, grads, J, sums):
        """Reduce ∇θ (in place), the batch's sums (in place) and return the global loss J."""
        return J

    def objective(self, objective):
        """The objective a second-order optimizer evaluates on the global batch."""
        return objective
