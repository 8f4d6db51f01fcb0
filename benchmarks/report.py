"""Run the benchmarks, print the tables, and (``--write``) put them in BENCHMARKS.md."""

from __future__ import annotations

import argparse
import datetime
import os
import time

from . import machine, scaling, tasks, throughput

FULL = [("small", [784, 128, 10]), ("medium", [784, 512, 512, 10]),
        ("large", [1024, 2048, 2048, 10])]
SMOKE = [("tiny", [32, 16, 4])]
BEGIN, END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def run(smoke: bool = False, threads: int | None = None, log=print) -> str:
    """Run every benchmark and return the report as Markdown."""
    t_start = time.perf_counter()
    threads = threads or len(os.sched_getaffinity(0))
    info = machine.describe()
    if smoke:
        peak = machine.matmul_peak(n=256, repeats=2)
        bandwidth = machine.copy_bandwidth(nbytes=8 << 20, repeats=2)
    else:
        peak, bandwidth = machine.matmul_peak(), machine.copy_bandwidth()
    log(f"float32 matmul peak {peak:.0f} GFLOP/s, copy bandwidth {bandwidth:.1f} GB/s")
    configs = SMOKE if smoke else FULL
    steps = dict(warmup=1, steps=2, repeats=1, n_samples=512) if smoke else \
        dict(warmup=3, steps=None, repeats=5, n_samples=4096)
    rows = throughput.throughput_table(configs, peak, bandwidth, threads=threads, **steps)
    jax_cols = "jax" in rows[0]
    out = ["### Training throughput (samples/s, Adam, float32)", "",
           _table(["net", "sizes", "batch", "neuralab", "PyTorch", "MLPClassifier",
                   "limit", "nl/torch", "nl/sklearn", "nl % limit", "torch % limit",
                   "best: nl/torch", "nl/sklearn", "nl % limit"] +
                  (["JAX", "nl/JAX", "JAX % limit", "best: nl/JAX"] if jax_cols else []),
                  [[r["net"], r["sizes"], r["batch"], f"{r['neuralab']:,.0f}",
                    f"{r['torch']:,.0f}", f"{r['sklearn']:,.0f}", f"{r['limit']:,.0f}",
                    f"{r['neuralab'] / r['torch']:.2f}×", f"{r['neuralab'] / r['sklearn']:.2f}×",
                    f"{100 * r['neuralab'] / r['limit']:.0f}%",
                    f"{100 * r['torch'] / r['limit']:.0f}%",
                    f"{r['best']['neuralab'] / r['best']['torch']:.2f}×",
                    f"{r['best']['neuralab'] / r['best']['sklearn']:.2f}×",
                    f"{100 * r['best']['neuralab'] / r['limit']:.0f}%"] +
                   ([f"{r['jax']:,.0f}", f"{r['neuralab'] / r['jax']:.2f}×",
                     f"{100 * r['jax'] / r['limit']:.0f}%",
                     f"{r['best']['neuralab'] / r['best']['jax']:.2f}×"] if jax_cols else [])
                   for r in rows]),
           "", "A timed turn is " + ("2 steps" if smoke else "one epoch over the 4,096-sample "
                                     "data set (64 steps at batch 64, 16 at 256)") +
           "; for neuralab it is "
           "one `nl.fit` call (input validation, divergence checks, per-layer gradient norms, "
           "the epoch's logs included). Rates are the "
           "median of the repeats (the frameworks take turns); the last three columns use each "
           "framework's best repeat, which a busy machine disturbs less. " +
           ("JAX: jax + optax on the CPU, the whole step (forward, loss, backward, "
            "`optax.adam`) one `jax.jit` program, batches as device arrays before the clock, "
            "each turn ended by `block_until_ready`." if jax_cols else
            "JAX is not installed (`pip install neuralab[bench]`): its columns are left out."),
           "", _table(["net", "batch", "nl.fit", "its bare step loop", "fit / loop"],
                      [[r["net"], r["batch"], f"{r['neuralab']:,.0f}", f"{r['loop']:,.0f}",
                        f"{r['neuralab'] / r['loop']:.2f}"] for r in rows]),
           "", "Limit of one step: its matrix products, each at the best time NumPy's BLAS "
           "takes for its shape alone, plus Adam's pass over the parameters alone at its best "
           "(neuralab's kernel, on the BLAS's threads when it can share them; best of " +
           ("3" if smoke else "20") + "; its 28 bytes per parameter give the GB/s column). "
           f"For scale, a float32 {'256' if smoke else '4096'}² matmul runs at {peak:.0f} "
           f"GFLOP/s here and np.copyto moves {bandwidth:.1f} GB/s (read + write bytes).", "",
           _table(["net", "batch", "products (ms)", "their GFLOP/s", "Adam alone (ms)",
                   "its GB/s", "limit (samples/s)"],
                  [[r["net"], r["batch"], f"{r['products_ms']:.3f}",
                    f"{r['products_gflops']:.0f}", f"{r['adam_ms']:.3f}",
                    f"{r['adam_gbs']:.0f}", f"{r['limit']:,.0f}"] for r in rows])]
    log(out[2])

    from . import profile  # here: `python -m benchmarks.profile` imports the package first

    out += ["", "### Where `nl.fit`'s step goes (ms per step, wall time, best of "
            f"{1 if smoke else 3}; `python -m benchmarks.profile`)", "",
            profile.table(configs, repeats=1 if smoke else 3,
                          rows=steps["n_samples"]), "",
            "Each part is timed alone on the model's own buffers and batch, right after a "
            "timed `fit` epoch; *rest* is the step minus the parts: Python between them, "
            "batching, the running sums, the per-epoch work (input check, dead-ReLU probe, "
            "logs) spread over the epoch's steps, and caches that are colder inside a step "
            "than in a part timed alone."]
    log(out[-3])

    tta_rows = []
    for name, hidden, target in ([("digits", [64], 0.5)] if smoke else
                                 [("digits", [128], 0.97), ("mnist5k", [128], 0.93)]):
        r = tasks.time_to_accuracy(name, hidden, target, max_epochs=1 if smoke else 60,
                                   repeats=1 if smoke else 3)
        a, b = r["neuralab"], r["sklearn"]
        tta_rows.append([name, f"{target:.0%}", f"{a['seconds']:.2f} s ({a['epochs']} ep)",
                         f"{b['seconds']:.2f} s ({b['epochs']} ep)",
                         f"{a['seconds'] / b['seconds']:.2f}"])
    out += ["", "### Time to test accuracy (Adam lr 1e-3, batch 64, one hidden ReLU layer of 128; "
            "fastest of 3 runs)", "", _table(["data", "target", "neuralab", "MLPClassifier",
                                   "nl / sklearn time"], tta_rows)]
    log(out[-1])

    nt = tasks.newton_logistic(n_samples=300, n_features=10, epochs=3, repeats=1) if smoke else \
        tasks.newton_logistic()
    out += ["", "### Newton on logistic regression (float64, full batch, fastest of 3)", "",
            _table(["problem", "nl.optim.Newton", "sklearn newton-cholesky",
                    "max |Δw| / max |w|"],
                   [[f"{'300×10' if smoke else '4000×40'}",
                     f"{1e3 * nt['neuralab']:.1f} ms ({nt['epochs']} steps)",
                     f"{1e3 * nt['sklearn']:.1f} ms ({nt['sklearn_iter']} iter)",
                     f"{nt['rel_diff']:.1e}"]])]
    log(out[-1])

    mem_rows = []
    mem_configs = [("tiny", [32, 16, 4], 64)] if smoke else [
        ("medium", FULL[1][1], 256), ("large", FULL[2][1], 256)]
    for name, sizes, m in mem_configs:
        fws = ["neuralab", "sklearn"] if smoke else ["neuralab", "torch", "sklearn"]
        mb = {fw: tasks.peak_memory(fw, sizes, m, steps=2 if smoke else 20) for fw in fws}
        mem_rows.append([name, m] + [f"{mb[fw][0]:.0f} MB (+{mb[fw][1]:.0f})" if fw in mb
                                     else "–" for fw in ("neuralab", "torch", "sklearn")])
    out += ["", "### Peak memory of training (peak RSS growth, VmHWM, in a fresh subprocess, "
            f"{2 if smoke else 20} Adam steps)", "",
            _table(["net", "batch", "neuralab", "PyTorch", "MLPClassifier"], mem_rows), "",
            "In parentheses: the resident memory of the framework's one-time start-up, done "
            "before the peak mark is reset and not counted in the first number (PyTorch's "
            "import and threads; neuralab's compiled kernels, i.e. numba and LLVM when "
            "installed; scikit-learn is imported before)."]
    log(out[-1])

    out += ["", scaling.run(smoke=smoke, log=log).rstrip()]
    log(out[-1])

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"Command: `python -m benchmarks{' --smoke' if smoke else ''}` — {stamp}, "
            f"{time.perf_counter() - t_start:.0f} s.", "",
            f"Machine: {info['cpu']}, {info['cores']} cores, load average {info['load']} "
            f"at the start; numpy {info['numpy']} with {info['blas']}; torch "
            f"{info.get('torch')} ({threads} threads); jax {info.get('jax', 'not installed')}; "
            f"scikit-learn {info.get('sklearn')}; "
            f"Python {info['python']}.", ""]
    return "\n".join(head + out) + "\n"


def write(report: str, path: str = "BENCHMARKS.md") -> None:
    """Replace the generated section of ``path`` (between the markers) with ``report``."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    pre, rest = text.split(BEGIN, 1)
    post = rest.split(END, 1)[1]
    with open(path, "w") as f:
        f.write(f"{pre}{BEGIN}\n{report}{END}{post}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny, seconds-long run (CI)")
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    p.add_argument("--threads", type=int, default=None, help="PyTorch threads (default: cores)")
    args = p.parse_args(argv)
    report = run(smoke=args.smoke, threads=args.threads, log=lambda s: print(s, flush=True))
    if args.write:
        write(report)
        print("wrote BENCHMARKS.md")
    return 0
