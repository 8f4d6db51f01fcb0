"""Growing past one process: data-parallel ``fit`` over MPI, and sweeps of fits over Dask.

Data parallelism (``mpiexec -n N python -m mpi4py script.py``)::

    import neuralab as nl
    comm = nl.distributed.world()            # rank, size; size 1 without mpiexec or mpi4py
    history = nl.fit(model, X, y, batch_size=256, comm=comm)   # same X, y, model on every rank

Every global batch of ``batch_size`` rows is split across the ranks, the flat ∇θ is averaged
over it by an all-reduce (started layer by layer during backpropagation), and every rank keeps
the same θ, bit for bit. With one process, ``world()`` is :class:`Local`, the identity, and
training is the single-process run. Sweeps: :mod:`neuralab.distributed.sweep`.

This package imports the core; the core never imports it (``fit`` only calls the methods of
the ``comm`` it is given) and never imports mpi4py.
"""

from __future__ import annotations

import os
import sys
import warnings

from ..training._comm import Local
from ._mpi import MPIComm, RankError, ReducedObjective

__all__ = ["Local", "MPIComm", "RankError", "ReducedObjective", "launched", "world"]

#: Variables that MPI launchers (MPICH's Hydra, Open MPI, PMIx, Slurm's srun with PMI) set in
#: the processes they start.
LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                      "MPI_LOCALNRANKS")
#: Variables that, when set, mean the user chose the BLAS threads per process.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

def launched() -> bool:
    """Whether this process was started by an MPI launcher (``mpiexec``, ``srun``)."""
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


def world(overlap: bool = True, bucket_bytes: int = 1 << 18):
    """The communicator of the job: :class:`MPIComm` over ``MPI.COMM_WORLD`` under ``mpiexec``
    with more than one process, else :class:`Local` (rank 0 of 1, every reduction the identity).

    mpi4py is imported only when an MPI launcher started this process. With several ranks:

    - an exception that reaches the top of a rank ends the whole job (``MPI_Abort``), as
      ``python -m mpi4py`` does, instead of leaving the other ranks waiting forever;
    - when the ranks on this machine would have more BLAS threads than it has cores, each
      rank is limited to cores // ranks threads (threadpoolctl), unless ``OMP_NUM_THREADS``
      (or OpenBLAS' or MKL's variable) says otherwise.

    ``overlap`` and ``bucket_bytes`` are :class:`MPIComm`'s.
    """
    if not launched():
        return Local()
    try:
        from mpi4py import MPI
    except ImportError:
        warnings.warn("this process was started by an MPI launcher, but mpi4py is not "
                      "installed: each process trains alone, as if it were the only one "
                      "(install it with pip install 'neuralab[mpi]')", RuntimeWarning,
                      stacklevel=2)
        return Local()
    comm = MPI.COMM_WORLD
    if comm.Get_size() == 1:
        return Local()
    _install_abort_hook(comm)
    _limit_blas_threads(comm)
    return MPIComm(comm, overlap=overlap, bucket_bytes=bucket_bytes)


def _install_abort_hook(comm) -> None:
    """An uncaught exception on one rank ends every rank (MPI_Abort) after printing it."""
    previous = sys.excepthook
    if getattr(previous, "ends_the_mpi_job", False):     # installed already
        return

    class _AbortingHook:
        ends_the_mpi_job = True     # marks the hook as installed (it is installed once)

        def __call__(self, kind, value, tb):
            previous(kind, value, tb)
            sys.stderr.write(f"neuralab.distributed: rank {comm.Get_rank()} of "
                             f"{comm.Get_size()} failed; ending the job\n")
            sys.stderr.flush()
            comm.Abort(1)

    sys.excepthook = _AbortingHook()


def _limit_blas_threads(comm) -> int | None:
    """One BLAS thread per core among the ranks of this machine (None: left as it is)."""
    if any(name in os.environ for name in THREAD_VARIABLES):
        return None
    from mpi4py import MPI
    from threadpoolctl import threadpool_info, threadpool_limits

    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    ranks = local.Get_size()
    local.Free()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // ranks)
    current = max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"),
                  default=1)
    if current * ranks <= (cores or 1):
        return None
    threadpool_limits(limits=threads, user_api="blas")
    return threads
