"""The step's matrix products, by each BLAS on this machine: NumPy's, XLA's, MKL's and oneDNN's.

    python -m benchmarks.gemm [--repeats 20] [--mkl DIR] [--onednn DIR]

For each benchmark network and batch size, the products of one training step
(:func:`benchmarks.machine.step_products`: forward W·A, dW = dZ·Aᵀ, dA = Wᵀ·dZ, in neuralab's
layouts) are timed one by one, best of ``repeats`` each, and summed:

- **NumPy**: ``np.matmul`` into a kept buffer (the BLAS NumPy ships; OpenBLAS on PyPI);
- **XLA**: ``jax.jit`` of the same product on device arrays, ``block_until_ready`` (what a jitted
  JAX step gets for its products; jax from the ``bench`` extra);
- **MKL alone** (``--mkl DIR``, the folder of the ``mkl`` wheel's ``libmkl_rt.so.*``): its
  ``cblas_sgemm`` through ctypes, GNU OpenMP layer with as many threads as NumPy's BLAS and
  ``OMP_WAIT_POLICY=ACTIVE``, while NumPy's BLAS is held to one thread, so that only MKL's
  threads run (how it would run if it did all of a step's products).
- **oneDNN alone** (``--onednn DIR``, the folder holding the ``onednn`` wheel's ``libdnnl.so``
  and the libraries it needs: ``tbb``, ``intel-sycl-rt``, ``intel-cmplr-lib-rt``, ``umf``):
  its ``dnnl_sgemm`` (row-major) through ctypes, on its TBB threads, NumPy's BLAS again held to
  one thread. The products XLA's CPU backend is built from come from the same family.

The ratio columns say how much of the gap between neuralab and JAX on a shape is the BLAS.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import time

import numpy as np
from threadpoolctl import threadpool_limits

from . import machine
from .profile import SHAPES


def xla_matmul():
    """``matmul(a, b, out)`` by XLA (``out`` is ignored: XLA allocates its result)."""
    import jax
    import jax.numpy as jnp

    product = jax.jit(lambda x, y: x @ y)
    cache: dict = {}

    def matmul(a, b, out):
        key = (id(a), id(b))
        if key not in cache:  # device arrays made once, before the clock
            cache[key] = (jnp.asarray(a), jnp.asarray(b), a, b)
        x, y = cache[key][:2]
        return product(x, y).block_until_ready()

    return matmul


def _load(lib_dir: str, name: str):
    """``lib_dir/name`` with ctypes, loading first (globally) each library of ``lib_dir`` that
    the loader reports missing (the wheels set no search path between themselves)."""
    for _ in range(64):
        try:
            return ctypes.CDLL(os.path.join(lib_dir, name), mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            missing = re.match(r"([^:]+): cannot open shared object file", str(e))
            if missing is None or not os.path.exists(os.path.join(lib_dir, missing[1])):
                raise
            _load(lib_dir, missing[1])
    raise OSError(f"could not load {name} from {lib_dir}")


def dnnl_arguments(a, b, out) -> tuple:
    """``dnnl_sgemm``'s arguments for ``out = a @ b`` (float32; ``a``, ``b`` C-contiguous or
    a transposed view of a C-contiguous array; ``out`` C-contiguous): its API is row-major, so a
    transposed view is passed as its base with "T" and the base's row length."""
    if out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError("out must be a C-contiguous float32 array")
    (m, k), n = a.shape, b.shape[1]

    def operand(x):
        if x.dtype != np.float32:
            raise ValueError("operands must be float32")
        if x.flags.c_contiguous:
            return b"N", x.shape[1]
        if x.flags.f_contiguous:
            return b"T", x.shape[0]
        raise ValueError("operands must be C-contiguous or transposed views")

    (ta, lda), (tb, ldb) = operand(a), operand(b)
    return (ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb, 0.0,
            out.ctypes.data, n)


def onednn_matmul(lib_dir: str):
    """``matmul(a, b, out)`` by oneDNN's ``dnnl_sgemm`` from ``lib_dir``."""
    lib = _load(lib_dir, "libdnnl.so")
    fn = lib.dnnl_sgemm
    dim, ptr = ctypes.c_int64, ctypes.c_void_p
    fn.argtypes = [ctypes.c_char, ctypes.c_char, dim, dim, dim, ctypes.c_float, ptr, dim, ptr,
                   dim, ctypes.c_float, ptr, dim]
    fn.restype = ctypes.c_int

    def matmul(a, b, out):
        status = fn(*dnnl_arguments(a, b, out))
        if status != 0:
            raise RuntimeError(f"dnnl_sgemm failed with status {status}")
        return out

    return matmul


def table(repeats: int, mkl_dir: str | None = None, log=print,
          onednn_dir: str | None = None) -> list[dict]:
    """One row per (network, batch): ms of the step's products by each BLAS."""
    peers = {"numpy": None}
    try:
        peers["xla"] = xla_matmul()
    except ImportError:
        log("jax is not installed (pip install -e '.[bench]'): no XLA column")
    if mkl_dir:
        from . import mkl_gemm

        threads = max(lib["num_threads"] for lib in _blas_info())
        os.environ["OMP_WAIT_POLICY"] = "ACTIVE"     # read when libgomp starts its threads
        mkl, _ = mkl_gemm.load(mkl_dir, threads, "gnu")
        peers["mkl alone"] = mkl_gemm.sgemm(mkl)
    if onednn_dir:
        peers["onednn alone"] = onednn_matmul(onednn_dir)
    rows = []
    for name, sizes in SHAPES:
        for m in (64, 256):
            flops = sum(2 * left[0] * left[1] * right[1]
                        for _, left, right in machine.step_products(sizes, m))
            row = {"net": name, "batch": m, "gflop": flops / 1e9}
            for peer, matmul in peers.items():
                # MKL, oneDNN alone: NumPy's BLAS held to one thread (its workers do not spin)
                alone = peer.endswith(" alone")
                with threadpool_limits(limits={"openblas": 1} if alone else None):
                    row[peer] = machine.products_seconds(sizes, m, repeats, matmul)
            rows.append(row)
            log(_line(row, list(peers)))
    return rows


def _blas_info():
    from threadpoolctl import threadpool_info

    return [lib for lib in threadpool_info() if lib.get("user_api") == "blas"] or \
        [{"num_threads": os.cpu_count() or 1}]


def _line(row, peers) -> str:
    parts = [f"{row['net']:<7}{row['batch']:>5}"]
    for peer in peers:
        t = row[peer]
        parts.append(f"{peer} {1e3 * t:8.3f} ms ({row['gflop'] / t:4.0f} GFLOP/s)")
    for peer in peers[1:]:
        parts.append(f"numpy/{peer} time {row['numpy'] / row[peer]:.2f}")
    return "   ".join(parts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gemm",
                                description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--mkl", metavar="DIR", help="folder of the mkl wheel's libmkl_rt.so.*")
    p.add_argument("--onednn", metavar="DIR",
                   help="folder of the onednn wheel's libdnnl.so and the libraries it needs")
    args = p.parse_args(argv)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{machine.cpu_model()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    table(args.repeats, args.mkl, onednn_dir=args.onednn)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
