"""The peers at one thread each, timed by the process's CPU time: ratios a busy machine
disturbs far less than the wall-clock table of ``python -m benchmarks``.

    python -m benchmarks.onethread [--repeats 5] [--shapes small,medium,large]

Every framework gets one thread (NumPy's BLAS through threadpoolctl, ``torch.set_num_threads(1)``,
XLA without its multi-threaded Eigen pool), so the process's CPU time is the work of the
step itself: when other processes take the cores, a turn waits longer but uses the same CPU
time. The runners are those of :mod:`benchmarks.throughput` (same data, batches, Adam lr 1e-3,
one epoch of 4,096 rows per turn); they take turns, best of ``repeats``. What this cannot
show: how each framework uses a second core (the wall-clock table on a quiet machine does).
"""

from __future__ import annotations

import argparse
import os
import time

SHAPES = [("small", [784, 128, 10]), ("medium", [784, 512, 512, 10]),
          ("large", [1024, 2048, 2048, 10])]


def rates(sizes, m, repeats, rows=4096, names=("nl", "loop", "jax", "torch")):
    """samples/s of CPU time of each runner (best of ``repeats``, interleaved)."""
    from . import throughput as T

    X, y = T.make_data(sizes, rows)
    k = rows // m
    make = {"nl": lambda: T.neuralab_runner(sizes, X, y, m, k),
            "loop": lambda: T.neuralab_loop_runner(sizes, X, y, m, k),
            "jax": lambda: T.jax_runner(sizes, X, y, m, k),
            "torch": lambda: T.torch_runner(sizes, X, y, m, k, 1)}
    runners = {n: make[n]() for n in names}
    for run in runners.values():
        run(3)
    best = dict.fromkeys(runners, float("inf"))
    for _ in range(repeats):
        for name, run in runners.items():
            run(1)
            t0 = time.process_time()
            run(k)
            best[name] = min(best[name], time.process_time() - t0)
    return {name: k * m / t for name, t in best.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.onethread",
                                description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--shapes", default="small,medium,large")
    args = p.parse_args(argv)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_multi_thread_eigen=false"
                               " intra_op_parallelism_threads=1").strip()
    from threadpoolctl import threadpool_limits

    from . import throughput as T

    names = ("nl", "loop", "torch") + (("jax",) if T.jax_available() else ())
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"samples/s of CPU time, one thread each, best of {args.repeats}; "
          f"load average {load} at the start")
    head = ["net", "batch", "nl.fit", "its loop", "PyTorch"] + (["JAX"] if "jax" in names
                                                                 else [])
    head += ["nl/torch"] + (["nl/JAX"] if "jax" in names else []) + ["fit/loop"]
    print("| " + " | ".join(head) + " |\n|" + "|".join("---" for _ in head) + "|")
    with threadpool_limits(limits=1, user_api="blas"):
        for name, sizes in SHAPES:
            if name not in args.shapes.split(","):
                continue
            for m in (64, 256):
                r = rates(sizes, m, args.repeats, names=names)
                cells = [name, str(m)] + [f"{r[n]:,.0f}" for n in ("nl", "loop", "torch")]
                cells += [f"{r['jax']:,.0f}"] if "jax" in r else []
                cells += [f"{r['nl'] / r['torch']:.2f}×"]
                cells += [f"{r['nl'] / r['jax']:.2f}×"] if "jax" in r else []
                cells += [f"{r['nl'] / r['loop']:.2f}"]
                print("| " + " | ".join(cells) + " |", flush=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
