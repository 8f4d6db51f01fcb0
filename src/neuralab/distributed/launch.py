"""Start a data-parallel job on this machine: ``mpiexec -n N python -m mpi4py ...``.

``neuralab train --workers N`` uses :func:`run`; a script can too. The ``mpiexec`` is the one
in this Python's environment (``pip install mpich`` puts it beside ``python``), else the first
on ``PATH``. Each rank gets one BLAS thread when the ranks fill the cores (measured: two ranks
of one thread each train the medium and large networks faster than two ranks of two threads on
two cores; see BENCHMARKS.md), and ``MPIEXEC_TIMEOUT`` (MPICH) ends a job that hangs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

__all__ = ["command", "find_mpiexec", "run"]


def find_mpiexec() -> str | None:
    """The path of ``mpiexec``: this environment's, else the first on ``PATH`` (None: none)."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return here
    return shutil.which("mpiexec")


def command(n: int, args, module: str | None = None) -> list[str]:
    """``mpiexec -n n python -m mpi4py [-m module] args...`` as a list."""
    from .._validation import check_int

    n = check_int(n, "workers", minimum=1)
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise RuntimeError("no mpiexec found: install an MPI with pip install 'neuralab[mpi]' "
                           "(mpi4py and the mpich wheel, which puts mpiexec beside python)")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise RuntimeError("mpi4py is not installed: pip install 'neuralab[mpi]'") from None
    return [mpiexec, "-n", str(n), sys.executable, "-m", "mpi4py",
            *(["-m", module] if module else []), *map(str, args)]


def environment(n: int, timeout: int | None = None) -> dict:
    """The ranks' environment: one BLAS thread each when n ranks fill the cores, a time limit."""
    env = dict(os.environ)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (cores or 1) // n))
    if timeout is not None:
        env.setdefault("MPIEXEC_TIMEOUT", str(int(timeout)))
    return env


def run(n: int, args, module: str | None = None, timeout: int | None = None) -> int:
    """Run ``args`` (a script and its arguments, or a module's with ``module=``) on ``n``
    ranks here; the job's exit status."""
    return subprocess.call(command(n, args, module), env=environment(n, timeout))
