"""The benchmark script keeps working: run its smoke version in-process (no timing checks)."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

# the benchmarks package lives at the repository root, beside src/ and tests/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import report, throughput  # noqa: E402


def test_smoke_run_produces_every_table(tmp_path):
    lines = []
    text = report.run(smoke=True, threads=1, log=lines.append)
    for title in ("Training throughput", "Time to test accuracy", "Newton on logistic",
                  "Peak memory", "Data-parallel scaling", "Where `nl.fit`'s step goes"):
        assert title in text
    rows = [r for r in text.splitlines() if r.startswith("| tiny | 32-16-4 |")]
    assert [r.split("|")[3].strip() for r in rows] == ["64", "256"]
    for r in rows:  # every rate is a positive number
        rates = [float(c.replace(",", "")) for c in r.split("|")[4:8]]
        assert all(x > 0 for x in rates)
    assert re.search(r"Machine: .+ cores", text)
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nintro\n")
    report.write(text, str(path))
    report.write(text, str(path))  # rewriting replaces the section, keeps the intro
    written = path.read_text()
    assert written.count(report.BEGIN) == 1 and written.startswith("# Benchmarks\n\nintro")


def test_step_flops_and_limit_by_hand():
    # 4-3-2 at batch 5: layer 1 forward + dW (no dA), layer 2 forward + dW + dA
    assert throughput.step_flops([4, 3, 2], 5) == 2 * 2 * 5 * 4 * 3 + 3 * 2 * 5 * 3 * 2
    assert throughput.n_params([4, 3, 2]) == 4 * 3 + 3 + 3 * 2 + 2
    t = throughput.limit_seconds([4, 3, 2], 5, peak_gflops=1.0, bandwidth_gbs=2.0)
    assert t == pytest.approx(420 / 1e9 + 28 * 23 / 2e9)


def test_step_products_are_the_flops_of_a_step():
    from benchmarks import machine

    for sizes, m in (([4, 3, 2], 5), ([784, 512, 512, 10], 64)):
        products = machine.step_products(sizes, m)
        flops = sum(2 * a[0] * a[1] * b[1] for _, a, b in products)
        assert all(a[1] == b[0] for _, a, b in products)      # the shapes chain
        assert flops == throughput.step_flops(sizes, m)
    assert machine.products_seconds([4, 3, 2], 5, repeats=1) > 0


def test_jax_column_present_when_installed_and_skipped_cleanly_without():
    rows = throughput.throughput_table([("tiny", [8, 4, 3])], peak=1.0, bandwidth=1.0,
                                       warmup=1, steps=1, repeats=1, threads=1,
                                       n_samples=256, use_jax=False)
    assert all("jax" not in r for r in rows)
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    rows = throughput.throughput_table([("tiny", [8, 4, 3])], peak=1.0, bandwidth=1.0,
                                       warmup=1, steps=1, repeats=1, threads=1,
                                       n_samples=256, use_jax=True)
    assert all(r["jax"] > 0 and r["best"]["jax"] > 0 for r in rows)


def test_jax_step_is_adam_on_the_same_network():
    """The JAX peer trains the same network the same way: from neuralab's θ, two Adam steps
    on the same batches give neuralab's θ (float32 rounding apart)."""
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    import numpy as np

    import neuralab as nl

    sizes, m = [6, 5, 3], 4
    X, y = throughput.make_data(sizes, 64)
    run = throughput.jax_runner(sizes, X, y, m, 2)
    run(2)
    model = nl.MLP(sizes, seed=0)
    idx = np.concatenate(throughput._batches(64, m, 2))
    nl.fit(model, X[idx], y[idx], optimizer=nl.optim.Adam(throughput.LR), epochs=1,
           batch_size=m, shuffle=False)
    dense = [layer for layer in model.layers if isinstance(layer, nl.Dense)]
    moved = 0.0
    for (W, b), layer in zip(run.carry[0], dense, strict=True):
        np.testing.assert_allclose(np.asarray(W).T, layer.W, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(b), layer.b[:, 0], rtol=1e-5, atol=1e-6)
        moved += float(np.abs(layer.W - nl.MLP(sizes, seed=0).layers[0].W).max()) \
            if layer is dense[0] else 0.0
    assert moved > 1e-4          # the steps moved θ (the comparison is not of two copies)


def test_profile_times_every_part_of_the_step():
    from benchmarks import profile

    ms = profile.profile([8, 6, 5, 3], 16, repeats=1, rows=64)
    assert set(ms) == {"fit", "rest", *profile.PARTS}
    assert ms["fit"] > 0 and all(ms[k] >= 0 for k in profile.PARTS)
    assert ms["products"] > 0 and ms["Adam"] > 0
    assert abs(ms["fit"] - sum(ms[k] for k in profile.PARTS) - ms["rest"]) < 1e-9


def test_gemm_times_the_step_products_with_each_blas(monkeypatch):
    from benchmarks import gemm

    monkeypatch.setattr(gemm, "SHAPES", [("tiny", [8, 6, 3])])
    lines = []
    rows = gemm.table(repeats=1, log=lines.append)
    assert [(r["net"], r["batch"]) for r in rows] == [("tiny", 64), ("tiny", 256)]
    peers = {"numpy", "xla"} if "xla" in rows[0] else {"numpy"}
    assert all(r[p] > 0 for r in rows for p in peers)
    assert lines[-1].startswith("tiny") and "numpy" in lines[-1]


def test_dnnl_arguments_describe_each_layout_of_the_step_products():
    # dnnl_sgemm is row-major: a transposed view goes as its C-contiguous base with "T" and
    # the base's row length. A reference gemm reading the raw buffers the same way must give
    # np.matmul's product for every layout the step uses
    import ctypes

    from benchmarks import gemm

    def reference(ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc):
        def view(ptr, trans, rows, cols, ld):
            stored = (cols, rows) if trans == b"T" else (rows, cols)
            flat = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)),
                                         shape=(stored[0] * ld,))
            base = flat.reshape(stored[0], ld)[:, :stored[1]]
            return base.T if trans == b"T" else base
        c = np.ctypeslib.as_array(ctypes.cast(pc, ctypes.POINTER(ctypes.c_float)),
                                  shape=(m * ldc,)).reshape(m, ldc)[:, :n]
        product = alpha * (view(pa, ta, m, k, lda) @ view(pb, tb, k, n, ldb))
        c[...] = product if beta == 0 else product + beta * c      # β = 0: C is not read

    rng = np.random.default_rng(0)
    for a, b in [(rng.standard_normal((5, 7)), rng.standard_normal((7, 3))),          # W A
                 (rng.standard_normal((7, 5)).T, rng.standard_normal((7, 3))),        # Wᵀ dZ
                 (rng.standard_normal((5, 7)), rng.standard_normal((3, 7)).T)]:       # dZ Aᵀ
        a, b = a.astype(np.float32), b.astype(np.float32)
        out = np.full((a.shape[0], b.shape[1]), np.nan, np.float32)
        reference(*gemm.dnnl_arguments(a, b, out))
        np.testing.assert_allclose(out, a @ b, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="C-contiguous"):
        gemm.dnnl_arguments(a, b, np.empty((3, 5), np.float32).T)
    with pytest.raises(ValueError, match="float32"):
        gemm.dnnl_arguments(a.astype(np.float64), b, out)
