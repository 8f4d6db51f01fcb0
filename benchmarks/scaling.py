"""Data-parallel scaling: samples/s at 1 and 2 processes, the all-reduce, what overlap hides.

The parent (:func:`run`) starts each measurement as a fresh job: one process with two BLAS
threads, or ``mpiexec -n 2`` with one thread per rank (and two, oversubscribed, to back that
choice), with and without the layer-by-layer overlap of the all-reduce. A job runs this module
as ``python [-m mpi4py] -m benchmarks.scaling train|allreduce ...`` and rank 0 prints one
JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

NETS = [("medium", [784, 512, 512, 10]), ("large", [1024, 2048, 2048, 10])]
SMOKE_NETS = [("tiny", [32, 16, 4])]
BATCH = 256
SIZES_BYTES = [8, 1 << 10, 1 << 14, 1 << 17, 1 << 20, 1 << 22, 1 << 24, 1 << 25]


# ----------------------------------------------------------------------------- inside a job
def _clock(comm):
    """A callback noting the time of each step's end; the communicator's seconds are reset at
    the first, so that they cover the same steps as the times."""
    import neuralab as nl

    class Clock(nl.Callback):
        keeps_params = True

        def __init__(self):
            self.times = []

        def on_batch_end(self, step, logs=None):
            self.times.append(time.perf_counter())
            if len(self.times) == 1 and hasattr(comm, "seconds"):
                comm.seconds.update(wait=0.0, start=0.0, steps=0)

    return Clock()


def _train(sizes, batch, steps, repeats, overlap):
    import neuralab as nl

    comm = nl.distributed.world(overlap=overlap)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch * steps, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch * steps)
    model = nl.MLP(sizes, seed=0)
    opt = nl.optim.Adam(lr=1e-3)
    nl.fit(model, X[:2 * batch], y[:2 * batch], optimizer=opt, epochs=1, batch_size=batch,
           comm=comm)                                          # warm-up (buffers, kernels)
    best = None
    for _ in range(repeats):
        clock = _clock(comm)
        nl.fit(model, X, y, optimizer=opt, epochs=1, batch_size=batch, comm=comm,
               callbacks=[clock])
        t = clock.times
        seconds = comm.max(t[-1] - t[0])
        seconds_comm = getattr(comm, "seconds", {"wait": 0.0, "start": 0.0})
        row = {"rate": (len(t) - 1) * batch / seconds, "step": seconds / (len(t) - 1),
               "wait": comm.max(seconds_comm["wait"]) / (len(t) - 1),
               "start": comm.max(seconds_comm["start"]) / (len(t) - 1)}
        if best is None or row["rate"] > best["rate"]:
            best = row
    return comm, best


def _allreduce(sizes_bytes, repeats):
    from mpi4py import MPI

    import neuralab as nl

    comm = nl.distributed.world()
    rows = []
    for nbytes in sizes_bytes:
        buf = np.ones(max(1, nbytes // 4), dtype=np.float32)
        times = {"ours": [], "mpi": []}
        for _ in range(repeats):
            comm.barrier()
            t0 = time.perf_counter()
            comm.sum(buf)
            times["ours"].append(time.perf_counter() - t0)
            comm.barrier()
            t0 = time.perf_counter()
            comm.comm.Allreduce(MPI.IN_PLACE, buf)
            times["mpi"].append(time.perf_counter() - t0)
        rows.append({"bytes": buf.nbytes,
                     **{k: comm.max(float(np.median(v))) for k, v in times.items()}})
    return comm, rows


def _worker(argv) -> None:
    mode = argv[0]
    if mode == "train":
        sizes = [int(s) for s in argv[1].split("-")]
        comm, out = _train(sizes, int(argv[2]), int(argv[3]), int(argv[4]), argv[5] == "1")
    else:
        comm, out = _allreduce([int(s) for s in argv[1].split(",")], int(argv[2]))
    if comm.rank == 0:
        print(json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- the parent
def _job(n, threads, args, timeout=300):
    from neuralab.distributed.launch import find_mpiexec

    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MPIEXEC_TIMEOUT": str(timeout)}
    cmd = [sys.executable, "-m", "benchmarks.scaling", *map(str, args)]
    if n > 1:
        cmd = [find_mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", *cmd[1:]]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True,
                          timeout=timeout + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fit_cost_model(rows, n):
    """α (s) and β (bytes/s) of t = α + 2(n−1)/n · bytes / β: α is the time of the smallest
    message, β the least-squares slope of t − α over the messages of 1 MiB and more."""
    alpha = min(r["ours"] for r in rows if r["bytes"] <= 1 << 10)
    big = [r for r in rows if r["bytes"] >= 1 << 20] or rows
    x = np.array([2 * (n - 1) / n * r["bytes"] for r in big])
    t = np.array([r["ours"] for r in big]) - alpha
    return float(alpha), float(x @ x / (x @ t))


def projection(alpha, rate, n_params, batch=256, nodes=(8, 64, 512), links_gbps=(10, 100)):
    """The cost model on paper: rows of (nodes, link, all-reduce ms, step ms and samples/s and
    efficiency without and with overlap, per-rank batch that hides the reduction).

    Ring all-reduce of S bytes on N nodes: t = 2(N−1)α + 2(N−1)/N · S/β. A step is b/r (the
    node's compute) plus the exposed communication: all of it without overlap, what the
    backward pass (≈ ⅔ of the step's flops) does not cover with it. ``rate`` r is one node's
    samples/s, ``alpha`` the measured latency, β the link's bandwidth.
    """
    S = 4 * n_params
    out = []
    for n in nodes:
        for gbps in links_gbps:
            beta = gbps * 1e9 / 8
            t_ar = 2 * (n - 1) * alpha + 2 * (n - 1) / n * S / beta
            t_compute = batch / rate
            plain = t_compute + t_ar
            over = t_compute + max(0.0, t_ar - 2 / 3 * t_compute)
            out.append([n, f"{gbps} Gb/s", f"{1e3 * t_ar:.1f}", f"{1e3 * plain:.1f}",
                        f"{n * batch / plain:,.0f}", f"{100 * t_compute / plain:.0f}%",
                        f"{1e3 * over:.1f}", f"{n * batch / over:,.0f}",
                        f"{100 * t_compute / over:.0f}%", f"{1.5 * rate * t_ar:.0f}"])
    return out


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def run(smoke: bool = False, log=print) -> str:
    """The scaling section of the report (Markdown)."""
    from neuralab.distributed.launch import find_mpiexec

    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "### Data-parallel scaling\n\nSkipped: mpi4py is not installed.\n"
    if find_mpiexec() is None:
        return "### Data-parallel scaling\n\nSkipped: no mpiexec.\n"
    nets, steps, repeats = (SMOKE_NETS, 4, 1) if smoke else (NETS, 24, 3)
    rows, model_rows = [], []
    for name, sizes in nets:
        net = "-".join(map(str, sizes))
        args = ["train", net, BATCH, steps, repeats]
        one = _job(1, 2, [*args, 1])
        two = _job(2, 1, [*args, 1])
        plain = _job(2, 1, [*args, 0])
        over = _job(2, 2, [*args, 1]) if not smoke else two
        comm_share = (two["wait"] + two["start"]) / two["step"]
        hidden = plain["step"] - two["step"]
        rows.append([f"{name} ({net})", BATCH, f"{one['rate']:,.0f}", f"{two['rate']:,.0f}",
                     f"{two['rate'] / one['rate']:.2f}×", f"{over['rate']:,.0f}",
                     f"{plain['rate']:,.0f}", f"{1e3 * two['step']:.1f}",
                     f"{1e3 * (two['wait'] + two['start']):.2f} ({100 * comm_share:.0f}%)",
                     f"{1e3 * plain['wait']:.2f}", f"{1e3 * hidden:+.2f}"])
        model_rows.append((name, sizes, one, two, plain))
        log(rows[-1])
    ar = _job(2, 1, ["allreduce", ",".join(map(str, SIZES_BYTES[:4] if smoke else SIZES_BYTES)),
                     5 if smoke else 30])
    alpha, beta = fit_cost_model(ar, 2)
    ar_rows = [[f"{r['bytes']:,}", f"{1e6 * r['ours']:.1f}", f"{1e6 * r['mpi']:.1f}",
                f"{r['bytes'] / r['ours'] / 1e9:.2f}" if r["bytes"] >= 1 << 14 else "–",
                f"{1e6 * (alpha + r['bytes'] / beta):.1f}"] for r in ar]
    out = ["### Data-parallel scaling (Adam, float32, global batch 256, samples/s)", "",
           _table(["net", "batch", "N=1 (2 threads)", "N=2 (1 thread each)",
                   "N=2 / N=1", "N=2 (2 threads each)", "N=2 no overlap", "step ms (N=2)",
                   "communicating ms/step (share)", "no overlap: wait ms/step",
                   "overlap saves ms/step"], rows), "",
           "N=2 splits each global batch of 256 rows into two halves of 128; every rank runs "
           "the whole step on its half and the all-reduce of ∇θ (bit-identical on both ranks: "
           "reduce-scatter + all-gather). *Communicating* is the time per step inside the "
           "reduction (waiting after backpropagation, plus starting and polling the layers' "
           "reductions during it); *overlap saves* is the step time without the overlap minus "
           "with it.", "",
           "### All-reduce of float32 buffers between 2 ranks (median µs)", "",
           _table(["bytes", "neuralab (identical bits)", "MPI_Allreduce", "GB/s (neuralab)",
                   "model α + 2(N−1)/N·bytes/β"], ar_rows), "",
           f"Fitted: latency α = {1e6 * alpha:.1f} µs, bandwidth β = {beta / 1e9:.2f} GB/s "
           "(shared memory between two processes of this machine)."]
    name, sizes, one, _, _ = model_rows[-1]
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    out += ["", f"### Projection: the {name} network on N nodes, batch {BATCH} per node "
            f"(α = {1e6 * alpha:.1f} µs, one node = {one['rate']:,.0f} samples/s, "
            f"∇θ = {4 * n_params / 1e6:.1f} MB)", "",
            _table(["nodes", "link", "all-reduce ms", "step ms, no overlap", "samples/s",
                    "efficiency", "step ms, overlapped", "samples/s", "efficiency",
                    "per-rank batch that hides it"],
                   projection(alpha, one["rate"], n_params, BATCH))]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    _worker(sys.argv[1:])
