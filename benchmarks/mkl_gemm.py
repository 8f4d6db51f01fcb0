"""MKL's ``cblas_sgemm`` (the ``mkl`` wheel, through ctypes) against NumPy's BLAS, on the
products of the benchmark's training steps.

    python -m benchmarks.mkl_gemm [--lib DIR] [--threads 1,2] [--repeats 30] [--cpu]

``DIR`` holds ``libmkl_rt.so.*`` (default: ``sys.prefix/lib``, where ``pip install mkl`` puts
it). Each product of a step (:func:`benchmarks.machine.step_products`: neuralab's layouts, a
transposed factor as a transposed view) is timed with ``np.matmul`` and with MKL, taking
turns, best of ``repeats``; the results are checked against each other. MKL's threads are its
sequential layer for one thread and Intel OpenMP for more (``KMP_BLOCKTIME=0``, so that its
workers sleep at once instead of spinning beside OpenBLAS's). With ``--cpu`` the clock is the
process's CPU time (one thread only: a busy machine disturbs it far less than wall time).
The process also imports torch and numba first, to see that the libraries load together.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import sys
import time

import numpy as np

from . import machine

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
SHAPES = [("small", [784, 128, 10]), ("medium", [784, 512, 512, 10]),
          ("large", [1024, 2048, 2048, 10])]


#: MKL's threading layers (mkl_service.h)
LAYERS = {"intel": 0, "sequential": 1, "gnu": 3}


def load(lib_dir: str, threads: int, layer: str = "gnu"):
    """libmkl_rt from ``lib_dir`` with ``threads`` threads (sequential layer for 1; else
    ``layer``: "gnu" is libgomp, the OpenMP runtime torch and numba use, "intel" Intel's)."""
    os.environ.setdefault("KMP_BLOCKTIME", "0")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    layer = "sequential" if threads == 1 else layer
    if layer == "intel":
        ctypes.CDLL(os.path.join(lib_dir, "libiomp5.so"), mode=ctypes.RTLD_GLOBAL)
    path = sorted(glob.glob(os.path.join(lib_dir, "libmkl_rt.so*")))[0]
    mkl = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    mkl.MKL_Set_Threading_Layer(ctypes.c_int(LAYERS[layer]))
    mkl.MKL_Set_Num_Threads(ctypes.c_int(threads))
    mkl.MKL_Get_Version_String.argtypes = [ctypes.c_char_p, ctypes.c_int]
    buf = ctypes.create_string_buffer(256)
    mkl.MKL_Get_Version_String(buf, 256)
    return mkl, buf.value.decode().strip()


def sgemm(mkl):
    """``matmul(a, b, out)`` for float32 2-D arrays, C- or F-contiguous (a transposed view)."""
    fn = mkl.cblas_sgemm
    fn.restype = None
    c_int, c_float, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    fn.argtypes = [c_int, c_int, c_int, c_int, c_int, c_int, c_float, p, c_int, p, c_int,
                   c_float, p, c_int]

    def layout(x):
        if x.flags.c_contiguous:
            return NO_TRANS, x.shape[1]
        return TRANS, x.shape[0]               # x = y.T with y C-contiguous

    def matmul(a, b, out):
        ta, lda = layout(a)
        tb, ldb = layout(b)
        m, k = a.shape
        n = b.shape[1]
        fn(ROW_MAJOR, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb, 0.0,
           out.ctypes.data, n)
        return out

    return matmul


def compare(matmul, threads, repeats, clock, log=print):
    """Per shape: the step's products with NumPy and with MKL (µs, best of ``repeats``)."""
    rng = np.random.default_rng(0)
    total = {"numpy": 0.0, "mkl": 0.0}
    for name, sizes in SHAPES:
        for m in (64, 256):
            t = {"numpy": 0.0, "mkl": 0.0}
            for what, left, right in machine.step_products(sizes, m):
                a = rng.standard_normal(left[::-1] if what == "W.T dZ" else left,
                                        dtype=np.float32)
                b = rng.standard_normal(right[::-1] if what == "dZ A.T" else right,
                                        dtype=np.float32)
                a = a.T if what == "W.T dZ" else a
                b = b.T if what == "dZ A.T" else b
                c1 = np.empty((left[0], right[1]), np.float32)
                c2 = np.empty_like(c1)
                fns = {"numpy": lambda a=a, b=b, c=c1: np.matmul(a, b, out=c),
                       "mkl": lambda a=a, b=b, c=c2: matmul(a, b, c)}
                best = {k: np.inf for k in fns}
                for f in fns.values():
                    f()
                for _ in range(repeats):
                    for k, f in fns.items():
                        time.sleep(0.001)
                        t0 = clock()
                        f()
                        best[k] = min(best[k], clock() - t0)
                np.testing.assert_allclose(c2, c1, rtol=2e-3, atol=2e-3)
                for k in t:
                    t[k] += best[k]
            flops = sum(2 * l[0] * l[1] * r[1] for _, l, r in machine.step_products(sizes, m))
            log(f"{name:<7}{m:>5}{threads:>4}  numpy {1e6 * t['numpy']:9.0f} µs "
                f"({flops / t['numpy'] / 1e9:4.0f} GFLOP/s)   mkl {1e6 * t['mkl']:9.0f} µs "
                f"({flops / t['mkl'] / 1e9:4.0f} GFLOP/s)   numpy/mkl time "
                f"{t['numpy'] / t['mkl']:.2f}")
            for k in total:
                total[k] += t[k]
    return total


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.mkl_gemm",
                                description=__doc__.split("\n")[0])
    p.add_argument("--lib", default=os.path.join(sys.prefix, "lib"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--layer", choices=("gnu", "intel"), default="gnu",
                   help="MKL's threading layer for more than one thread")
    args = p.parse_args(argv)
    import numba  # noqa: F401  (the libraries of a neuralab test process, loaded first)
    import torch  # noqa: F401
    from threadpoolctl import threadpool_limits

    mkl, version = load(args.lib, args.threads, args.layer)
    clock = time.process_time if args.cpu else time.perf_counter
    layer = args.layer if args.threads > 1 else "sequential"
    print(f"{version}; {args.threads} thread(s) ({layer} layer); clock "
          f"{'CPU time' if args.cpu else 'wall'}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with threadpool_limits(limits=args.threads, user_api="blas"):
        compare(sgemm(mkl), args.threads, args.repeats, clock)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
