"""Before/after: ``nl.fit``'s throughput from two source trees, side by side, in one run.

    python -m benchmarks.ab OLD_SRC [NEW_SRC] [--rounds 7]

Each source tree (a ``src`` folder holding ``neuralab``) trains in its own worker process; the
two workers take turns on every shape, so a burst of load from other processes hits both
alike. A turn is one ``nl.fit`` epoch over 4,096 rows with Adam (the benchmark's setting).
Prints samples/s (median over the rounds) and the ratio new/old per shape.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

SHAPES = [("small", [784, 128, 10]), ("medium", [784, 512, 512, 10]),
          ("large", [1024, 2048, 2048, 10])]
BATCHES = (64, 256)
ROWS = 4096
#: Seconds between turns: the other worker's OpenBLAS threads spin a while after their last
#: task, and on 2 cores they would slow the next turn (as in benchmarks.throughput).
PARK = 0.3

_WORKER = r"""
import json, sys, time
import numpy as np
import neuralab as nl
rng = np.random.default_rng(0)
models = {}
for line in sys.stdin:
    name, sizes, m = json.loads(line)
    key = (name, m)
    if key not in models:
        X = rng.normal(size=(4096, sizes[0])).astype(np.float32)
        y = rng.integers(0, sizes[-1], 4096)
        models[key] = (nl.MLP(sizes, seed=0), nl.optim.Adam(1e-3), X, y)
        model, opt, X, y = models[key]
        nl.fit(model, X[: 4 * m], y[: 4 * m], optimizer=opt, epochs=1, batch_size=m,
               shuffle=False)                                    # warm-up, compile
    model, opt, X, y = models[key]
    t0 = time.perf_counter()
    nl.fit(model, X, y, optimizer=opt, epochs=1, batch_size=m, shuffle=False)
    print(json.dumps(X.shape[0] / (time.perf_counter() - t0)), flush=True)
"""


def _worker(src):
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
    return subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)


def _turn(worker, name, sizes, m) -> float:
    worker.stdin.write(json.dumps([name, sizes, m]) + "\n")
    worker.stdin.flush()
    return float(worker.stdout.readline())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__.split("\n")[0])
    p.add_argument("old", help="the old source tree (folder holding neuralab/)")
    p.add_argument("new", nargs="?", default="src", help="the new one (default: src)")
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)
    workers = {"old": _worker(args.old), "new": _worker(args.new)}
    print(f"nl.fit samples/s, median of {args.rounds} interleaved rounds "
          f"(load average {os.getloadavg()[0]:.2f} at start)")
    print(f"{'net':<8}{'batch':>6}{'old':>10}{'new':>10}{'new/old':>9}")
    try:
        for name, sizes in SHAPES:
            for m in BATCHES:
                rates = {k: [] for k in workers}
                for r in range(args.rounds):
                    order = list(workers.items())         # who goes first alternates
                    for key, worker in (order if r % 2 == 0 else order[::-1]):
                        time.sleep(PARK)      # let the other worker's BLAS threads park
                        rates[key].append(_turn(worker, name, sizes, m))
                old, new = (float(np.median(rates[k])) for k in ("old", "new"))
                print(f"{name:<8}{m:>6}{old:>10.0f}{new:>10.0f}{new / old:>9.3f}", flush=True)
    finally:
        for worker in workers.values():
            worker.stdin.close()
            worker.wait()
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
