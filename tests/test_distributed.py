"""Data-parallel fit under mpiexec: the same result as one process, the same θ on every rank,
resume across rank counts, faults that end the job, mismatched ranks, the size-1 identity.

Each MPI test launches ``mpiexec`` as a subprocess (``MPIEXEC_TIMEOUT`` and a subprocess
timeout, so that a hang fails fast); one launch runs many cases (tests/_mpi_cases.py) and the
tests compare what each rank saved with the same case trained here, in one process. Skipped
when mpi4py or mpiexec is missing, unless ``NEURALAB_REQUIRE_MPI=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import neuralab as nl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _mpi_cases as cases  # noqa: E402

SRC = str(HERE.parent / "src")
REQUIRED = os.environ.get("NEURALAB_REQUIRE_MPI") == "1"


def mpiexec_path():
    """``mpiexec`` of this Python's environment (the mpich wheel puts it there), else PATH's."""
    from neuralab.distributed.launch import find_mpiexec

    return find_mpiexec()


def _missing() -> str | None:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install 'neuralab[mpi]')"
    if mpiexec_path() is None:
        return "no mpiexec found (pip install mpich)"
    return None


@pytest.fixture(scope="module")
def mpi():
    reason = _missing()
    if reason and REQUIRED:
        pytest.fail(f"NEURALAB_REQUIRE_MPI=1 but {reason}")
    if reason:
        pytest.skip(reason)
    return mpiexec_path()


def launch(mpiexec, n, *args, module=True, timeout=90):
    """Run tests/_mpi_cases.py on ``n`` ranks; (return code, output, seconds)."""
    env = {**os.environ, "PYTHONPATH": SRC, "MPIEXEC_TIMEOUT": str(timeout - 10),
           "OMP_NUM_THREADS": "1"}
    cmd = [mpiexec, "-n", str(n), sys.executable, *(["-m", "mpi4py"] if module else []),
           str(HERE / "_mpi_cases.py"), *map(str, args)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - t0


def ok(result):
    code, output, _ = result
    assert code == 0, output[-3000:]


def load(out, tag, n):
    ranks = []
    for r in range(n):
        with open(out / f"{tag}.{r}.json") as f:
            result = json.load(f)
        result["params"] = np.load(out / f"{tag}.{r}.npy")
        ranks.append(result)
    return ranks


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def memmap_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "X.npy"
    np.save(path, cases.data()[0])
    return path


# --------------------------------------------------------------------- one launch, many cases
SUBSET = ["sgd_f64", "adam_f32", "newton_logistic", "tiny_batches", "everything"]
RUNS = {1: ["adam_f64", "everything"], 2: list(cases.CASES), 3: SUBSET, 4: SUBSET}


@pytest.fixture(scope="module")
def launched(mpi, tmp_path_factory, memmap_path):
    """Every rank count's cases, launched once for the module: {n: out_dir}."""
    outs = {}
    for n, names in RUNS.items():
        out = tmp_path_factory.mktemp(f"n{n}")
        extra = [memmap_path] if "memmap" in names else []
        ok(launch(mpi, n, "cases", out, *names, *extra))
        outs[n] = out
    return outs


@pytest.fixture(scope="module")
def references(memmap_path):
    return {name: cases.run_case(name, path=memmap_path) for name in cases.CASES}


@pytest.mark.parametrize("n", sorted(RUNS))
def test_ranks_equal_one_process_and_each_other(launched, references, n):
    for name in RUNS[n]:
        ranks = load(launched[n], name, n)
        ref = references[name]
        tol = 1e-10 if cases.CASES[name][1] == "float64" else 1e-4
        for r, got in enumerate(ranks):
            # the ranks' θ are the same bits after every epoch, and so is the history
            assert got["hashes"] == ranks[0]["hashes"], (name, r)
            assert np.array_equal(got["params"], ranks[0]["params"]), (name, r)
            assert got["history"] == ranks[0]["history"], (name, r)
        assert len(ranks[0]["hashes"]) == len(ref["hashes"]) > 0, name
        if n == 1:   # mpiexec -n 1: the one-process path, bit for bit
            assert ranks[0]["hashes"] == ref["hashes"], name
        err = rel(ranks[0]["params"], ref["params"])
        assert err <= tol, (name, n, err)
        hist = ranks[0]["history"]
        assert set(hist) == set(ref["history"]), name
        for key in ("loss", "accuracy", "val_loss", "val_mse", "grad_norm_0", "lr"):
            if key in ref["history"]:
                np.testing.assert_allclose(hist[key], ref["history"][key], rtol=100 * tol,
                                           err_msg=f"{name} {key}")


# --------------------------------------------------------------------- checks at the start
def test_mismatched_ranks_are_detected_on_every_rank(mpi, tmp_path):
    ok(launch(mpi, 2, "mismatch", tmp_path))
    errors = [json.loads((tmp_path / f"mismatch.{r}.json").read_text()) for r in range(2)]
    for what, words in (("data", "X (shape, dtype or values)"), ("seed", "parameters θ"),
                        ("dtype", "architecture or dtype"), ("batch_size", "batch_size")):
        for rank_errors in errors:
            message = rank_errors[what]
            assert message and message.startswith("ValueError: the ranks were not given the "
                                                   "same training"), (what, message)
            assert words in message and "rank(s) 1 of 2" in message, (what, message)
    # an argument only one rank got wrong: its own error there, a RankError elsewhere
    assert errors[1]["bad_argument"].startswith("ValueError: epochs must be >= 0")
    assert errors[0]["bad_argument"].startswith("RankError: rank 1 of 2 failed to start")
    assert "epochs must be >= 0" in errors[0]["bad_argument"]


# --------------------------------------------------------------------- checkpoints and faults
def _reference_checkpointed(tmp_path, epochs):
    return cases._checkpointed(None, str(tmp_path / "ref.safetensors"), epochs, False)


def test_resume_with_another_number_of_ranks(mpi, tmp_path):
    ok(launch(mpi, 2, "write", tmp_path))            # 2 ranks: stops mid-epoch 2 (step 9)
    _, meta = nl.io.read_checkpoint(tmp_path / "resume.safetensors")
    assert (meta["epoch"], meta["batch"], meta["step"]) == (1, 4, 9)
    ok(launch(mpi, 3, "resume", tmp_path))           # 3 ranks carry on to epoch 4
    ranks = load(tmp_path, "resume", 3)
    ref = _reference_checkpointed(tmp_path, 4)
    assert all(np.array_equal(r["params"], ranks[0]["params"]) for r in ranks)
    assert rel(ranks[0]["params"], ref["params"]) <= 1e-10
    np.testing.assert_allclose(ranks[0]["history"]["loss"], ref["history"]["loss"], rtol=1e-9)


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_a_failing_rank_ends_the_job_and_the_checkpoint_resumes(mpi, tmp_path, how):
    # "raise": rank 1 raises at step 7 in a script run without `-m mpi4py` (neuralab's own
    # abort); "kill": rank 0, the checkpoint writer, is SIGKILLed at step 7
    code, output, seconds = launch(mpi, 2, how, tmp_path, module=False)
    assert code != 0, output
    assert seconds < 30, seconds
    if how == "raise":
        assert "rank 1 of 2 failed during training" in output, output
        assert "fails on purpose" in output
    ckpt = tmp_path / "fault.safetensors"
    _, meta = nl.io.read_checkpoint(ckpt)             # whole: it loads
    assert meta["step"] == 6
    resumed = cases._checkpointed(None, str(ckpt), 4, True)
    ref = _reference_checkpointed(tmp_path, 4)
    assert rel(resumed["params"], ref["params"]) <= 1e-10
    assert len(resumed["history"]["loss"]) == 4


# --------------------------------------------------------------------- no MPI at all
def test_world_without_a_launcher_is_the_one_process_identity(monkeypatch):
    for name in nl.distributed.LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    comm = nl.distributed.world()
    assert (comm.rank, comm.size) == (0, 1) and isinstance(comm, nl.distributed.Local)
    X, y = cases.data()
    a, b = cases._mlp(), cases._mlp()
    ha = nl.fit(a, X, y, optimizer="adam", epochs=2, batch_size=50, validation_split=0.2)
    hb = nl.fit(b, X, y, optimizer="adam", epochs=2, batch_size=50, validation_split=0.2,
                comm=comm)
    assert np.array_equal(a.params, b.params)
    assert {k: v for k, v in ha.history.items() if k != "time"} == \
        {k: v for k, v in hb.history.items() if k != "time"}


def test_a_comm_that_is_not_one_is_refused():
    X, y = cases.data()
    with pytest.raises(TypeError, match="comm must be a neuralab communicator"):
        nl.fit(cases._mlp(), X, y, epochs=1, comm=object())


def test_shares_split_rows_evenly_and_cover_them():
    from neuralab.distributed._mpi import shares

    for n in (0, 1, 3, 10, 203):
        for size in (1, 2, 3, 4):
            counts = shares(n, size)
            assert counts.sum() == n and counts.max() - counts.min() <= 1


# --------------------------------------------------------------------- the command line
def test_cli_train_with_workers_writes_the_one_process_run_folder(mpi, tmp_path):
    common = ["train", "--data", "iris", "--hidden", "8", "--epochs", "3", "--dtype",
              "float64", "--schedule", "constant", "--batch-size", "16",
              "--out-dir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": SRC, "MPIEXEC_TIMEOUT": "60"}
    proc = subprocess.run([sys.executable, "-m", "neuralab.cli", *common, "--name", "two",
                           "--workers", "2"], env=env, capture_output=True, text=True,
                          timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("neuralab train: iris") == 1       # rank 0 alone prints
    assert "(2 processes)" in proc.stdout
    from neuralab.cli import main

    assert main([*common, "--name", "one"]) == 0
    two, one = tmp_path / "two", tmp_path / "one"
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    a = nl.load(two / "model.safetensors").params
    b = nl.load(one / "model.safetensors").params
    assert rel(a, b) <= 1e-10
    assert json.loads((two / "config.json").read_text())["epochs"] == 3
