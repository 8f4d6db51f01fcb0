"""What neuralab runs on: versions, the BLAS and its threads, whether the compiled kernels run.

``nl.show_config()`` prints it (as ``np.show_config()`` and ``sklearn.show_versions()`` do);
``neuralab --version`` prints the same. Paste it into a bug report.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys

#: Packages whose versions are reported (those neuralab imports, and the optional ones).
PACKAGES = ("numpy", "scipy", "scikit-learn", "numba", "safetensors", "matplotlib", "tqdm",
            "threadpoolctl", "torch", "onnxruntime")


def _version(name) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def kernels() -> dict:
    """Whether the compiled (numba) kernels are active, and why not when they are not."""
    from . import _kernels

    if os.environ.get("NEURALAB_NUMBA", "1") == "0":
        return {"active": False, "why": "NEURALAB_NUMBA=0 forces the NumPy kernels"}
    if _version("numba") is None:
        return {"active": False, "why": "numba is not installed (pip install numba)"}
    try:
        active = _kernels._compiled("adam") is not None
    except Exception as exc:  # pragma: no cover - a broken numba install
        return {"active": False, "why": f"numba failed to compile: {exc}"}
    if not active:
        return {"active": False, "why": "numba cannot be imported"}
    return {"active": True, "why": None, "blas_pool": _blas_pool()}


def _blas_pool() -> str | None:
    """None when Adam's pass on long vectors runs on the BLAS's threads, else why not."""
    from . import _kernels

    module = _kernels._pool_module()
    if module is not None and module.pool() is not None:
        return None
    if os.environ.get("NEURALAB_BLAS_POOL", "1") == "0":
        return "NEURALAB_BLAS_POOL=0"
    if module is None:
        return "numba could not build its functions"
    return "NumPy's BLAS is not an OpenBLAS (pthreads) whose pool neuralab can use"


def config() -> dict:
    """The configuration :func:`show_config` prints, as a dict."""
    import numpy  # noqa: F401  (loads the BLAS, so threadpoolctl can see it)
    from threadpoolctl import threadpool_info

    from ._version import __version__

    return {
        "neuralab": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "blas": [{key: info.get(key) for key in ("internal_api", "version", "num_threads",
                                                 "threading_layer", "architecture", "filepath")}
                 for info in threadpool_info() if info.get("user_api") == "blas"],
        "kernels": kernels(),
    }


def show_config(file=None) -> None:
    """Print versions, the BLAS in use and its threads, and whether the compiled kernels run."""
    info = config()
    kern = info["kernels"]
    lines = [f"neuralab {info['neuralab']}", f"python   {info['python']} ({info['platform']})",
             "", "packages:"]
    lines += [f"  {name:<14} {version or '-'}" for name, version in info["packages"].items()]
    lines += ["", "BLAS:"]
    lines += [f"  {b['internal_api']} {b['version']}, {b['num_threads']} thread(s), "
              f"{b['threading_layer']}, {b['architecture']} "
              f"({os.path.basename(b['filepath'] or '?')})" for b in info["blas"]] or \
        ["  (none found)"]
    lines += ["", "compiled kernels (numba): " + ("active" if kern["active"] else
                                                 f"inactive ({kern['why']})")]
    if kern["active"]:
        why = kern["blas_pool"]
        lines += ["Adam on the BLAS's threads: " + ("yes" if why is None else f"no ({why})")]
    print("\n".join(lines), file=file or sys.stdout)
