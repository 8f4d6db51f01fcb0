"""Where ``nl.fit``'s step goes: a per-part profile on the benchmark's shapes.

    python -m benchmarks.profile [--repeats 5]

For each network and batch size, one ``nl.fit`` epoch (the benchmark's timed turn) is timed,
then each part of its step is timed alone on the same model, buffers and batch, in the same
order as inside the step: the matrix products, the activations (bias + ReLU forward, the mask
product backward), the loss (softmax, cross-entropy, the output gradient), the bias gradients,
Adam's step, the per-layer gradient norms, the finiteness checks. The turns alternate (fit,
then every part) and each part's best over the repeats is kept, so a burst of load from other
processes disturbs the ratios less than the absolute times. What is left of the step's time
("the rest") is Python between the parts, batching (gathering rows, ``X[idx].T``), the
running sums, and anything the parts do not cover.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

import neuralab as nl
from neuralab import _fastpath, _kernels

from . import throughput

SHAPES = [("small", [784, 128, 10]), ("medium", [784, 512, 512, 10]),
          ("large", [1024, 2048, 2048, 10])]
PARTS = ("products", "activations", "loss", "bias grads", "Adam", "norms", "checks")


#: The clock: wall time, or with ``--cpu`` the process's CPU time (with one BLAS thread, a
#: measure that other processes on a busy machine disturb far less).
clock = time.perf_counter


def _time(fn, n) -> float:
    """The fastest of ``n`` calls (a burst of load from elsewhere hits some calls, not all)."""
    best = float("inf")
    for _ in range(n):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def _parts(model, opt, A0, Y, guard):
    """The step's parts as callables, on the model's own fast-path buffers."""
    loss = nl.CrossEntropy()
    _fastpath.loss_and_grad(model, A0, Y, loss)           # make (and keep) the plan for m
    m = A0.shape[1]
    plan = model.__dict__["_plans"][m]
    blocks = plan.blocks
    inputs, Z, A = plan.forward(A0)
    inputs = list(inputs)
    dA = [plan.dA[d.n_in][0] for d, _, _ in blocks[1:]]
    theta, grad = model.params, model.grads

    def products():
        for i, (d, _, _) in enumerate(blocks):
            np.matmul(d._W, inputs[i], out=plan.Z[i])
        for i in range(len(blocks) - 1, -1, -1):
            d = blocks[i][0]
            np.matmul(plan.dZ if i == len(blocks) - 1 else dA[i], inputs[i].T, out=d._dW)
            if i:
                np.matmul(d._W.T, plan.dZ if i == len(blocks) - 1 else dA[i],
                          out=dA[i - 1])

    def activations():
        for i, (d, _, _) in enumerate(blocks[:-1]):
            _kernels.bias_relu(plan.Z[i], d._b)
            _kernels.relu_backward(dA[i], plan.Z[i])

    def loss_part():
        plan._output(blocks[-1][1], plan.Z[-1])
        plan.Z[-1] += blocks[-1][0]._b
        plan.cross_entropy(plan.Z[-1], plan.out, Y, 1.0 / m)

    def bias_grads():
        for i, (d, _, _) in enumerate(blocks):
            src = plan.dZ if i == len(blocks) - 1 else dA[i]
            np.add.reduce(src, axis=1, keepdims=True, out=d._db)

    snapshot = [theta.copy(), opt.m.copy(), opt.v.copy(), opt.t]

    def adam():
        opt.step(theta, grad)

    def norms():
        guard._measure_grad()

    def checks():
        math.isfinite(sum(guard.sq))
        guard._grad_not_finite()

    parts = dict(zip(PARTS, (products, activations, loss_part, bias_grads, adam, norms,
                             checks), strict=True))
    return parts, snapshot


def profile(sizes, m, repeats=5, rows=4096, log=None):
    """ms per step of ``nl.fit`` and of each part (best of ``repeats``); "rest" = the step
    minus the parts."""
    from neuralab.training._guard import DivergenceGuard

    X, y = throughput.make_data(sizes, rows)
    model = nl.MLP(sizes, seed=0)
    opt = nl.optim.Adam(lr=throughput.LR)
    nl.fit(model, X[: 4 * m], y[: 4 * m], optimizer=opt, epochs=1, batch_size=m,
           shuffle=False)
    steps = rows // m
    A0 = np.ascontiguousarray(X[:m]).T
    Y = np.asarray(y[:m], dtype=np.intp)
    guard = DivergenceGuard(model, opt, True)
    parts, (theta0, m0, v0, t0) = _parts(model, opt, A0, Y, guard)
    best = {k: math.inf for k in ("fit", *PARTS)}
    n = max(4, steps // 2)
    for _ in range(repeats):
        time.sleep(throughput.PARK)
        model.params[...], opt.m[...], opt.v[...], opt.t = theta0, m0, v0, t0
        t = clock()
        nl.fit(model, X, y, optimizer=opt, epochs=1, batch_size=m, shuffle=False)
        best["fit"] = min(best["fit"], (clock() - t) / steps)
        for k, fn in parts.items():
            fn()
            best[k] = min(best[k], _time(fn, n))
    ms = {k: 1e3 * v for k, v in best.items()}
    ms["rest"] = ms["fit"] - sum(ms[k] for k in PARTS)
    return ms


def table(shapes=SHAPES, batches=(64, 256), repeats=5, rows=4096):
    """Markdown: one row per shape, ms per step and each part's share of it."""
    head = ["net", "batch", "fit step (ms)"] + list(PARTS) + ["rest"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for name, sizes in shapes:
        for m in batches:
            ms = profile(sizes, m, repeats, rows)
            cells = [f"{ms[k]:.3f} ({100 * ms[k] / ms['fit']:.0f}%)" for k in (*PARTS, "rest")]
            lines.append("| " + " | ".join([name, str(m), f"{ms['fit']:.3f}"] + cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile",
                                description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--cpu", action="store_true",
                   help="time with the process's CPU time (run with OPENBLAS_NUM_THREADS=1)")
    p.add_argument("--shapes", default="small,medium,large")
    args = p.parse_args(argv)
    global clock
    if args.cpu:
        clock = time.process_time
    shapes = [s for s in SHAPES if s[0] in args.shapes.split(",")]
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start")
    print(f"clock: {'CPU time of the process' if args.cpu else 'wall time'}")
    print(table(shapes, repeats=args.repeats))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
