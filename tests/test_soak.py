"""Crash soak: a CLI training is SIGKILLed at random moments and resumed until it finishes.

While it trains, the test keeps reading the checkpoint the trainer is rewriting (a read that
fails is retried once and counted). After every kill:

* the checkpoint where ``neuralab train --resume`` reads (``RUN/checkpoint.safetensors``) is
  either absent (killed before the first write) or a whole, valid checkpoint;
* its step never goes back (a resume never loses work that a checkpoint had saved);
* the resume (or, before any checkpoint, a fresh start) runs.

At the end the resumed run's model is bit-identical to an uninterrupted run's, and its metrics
have one row per epoch.

Kill moments: each kill aims at a random step of the whole run (uniform over all its steps);
the relaunched trainer is killed a random 0-10 ms after its checkpoint has passed that step, so
kills land between checkpoint writes and inside them. Every sixth kill (the 2nd, 8th, ...)
lands at a random instant of the start-up instead (imports, data loading, reading the
checkpoint). The default run kills twice; the 20-kill soak is opt-in and prints its figures:
``pytest -m slow -s tests/test_soak.py`` (``NEURALAB_SOAK_KILLS`` changes the count).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import neuralab as nl
from neuralab import io as nio


def _opted_in(config) -> bool:
    expr = config.getoption("markexpr") or ""
    return "slow" in expr and "not slow" not in expr


def _train_args(epochs: int, out_dir: Path, name: str) -> list[str]:
    return ["train", "--data", "digits", "--hidden", "64", "--epochs", str(epochs),
            "--checkpoint-every", "3", "--seed", "0", "--out-dir", str(out_dir), "--name", name]


def _launch(argv, log: Path) -> subprocess.Popen:
    with open(log, "w") as f:
        return subprocess.Popen([sys.executable, "-m", "neuralab.cli", *argv], stdout=f,
                                stderr=subprocess.STDOUT, cwd=log.parent)


def _reference(tmp_path: Path, epochs: int) -> tuple[np.ndarray, int]:
    """θ of the uninterrupted run and the step of its last checkpoint.

    A subprocess like the killed ones, so both read the same code and BLAS settings (an
    in-process run would share whatever the test session changed).
    """
    log = tmp_path / "whole.txt"
    proc = _launch(_train_args(epochs, tmp_path, "whole"), log)
    assert proc.wait(timeout=300) == 0, log.read_text()
    _, meta = nio.read_checkpoint(tmp_path / "whole" / "checkpoint.safetensors")
    return nl.load(tmp_path / "whole" / "model.safetensors").params, int(meta["step"])


def _step_of(path: Path, figures: dict) -> int:
    """The step of the checkpoint at ``path`` (-1: none yet), read while the trainer writes.

    The reader opens the file once, so a rename landing mid-read cannot make it fail: any
    ``ValueError`` here is a broken file and fails the test.
    """
    try:
        arrays, meta = nio.read_checkpoint(path)
    except FileNotFoundError:                          # only before the first write
        return -1
    figures["concurrent_reads"] += 1
    assert np.all(np.isfinite(arrays["params"]))
    assert arrays["params"].dtype.kind == "f"
    return int(meta["step"])


def _check_after_kill(path: Path, last_step: int) -> int:
    """The file a resume would read is whole and not older than before; return its step."""
    if not path.exists():
        assert last_step < 0, "the checkpoint disappeared after a kill"
        return last_step
    arrays, meta = nio.read_checkpoint(path)          # ValueError here = a partial/corrupt file
    assert np.all(np.isfinite(arrays["params"]))
    assert meta["step"] >= last_step, f"checkpoint went back from step {last_step}"
    return int(meta["step"])


def _soak(tmp_path: Path, epochs: int, n_kills: int, final_step: int, seed: int):
    """Kill a training ``n_kills`` times at random moments, resume to the end; return figures."""
    rng = np.random.default_rng(seed)
    run, log = tmp_path / "cut", tmp_path / "log.txt"
    ckpt = run / "checkpoint.safetensors"
    targets = np.sort(rng.integers(1, final_step, n_kills))
    figures = {"kills": 0, "in_startup": 0, "in_training": 0, "finished_first": 0,
               "launches": 0, "target_steps": targets.tolist(), "checkpoint_steps": [],
               "concurrent_reads": 0}
    last_step = -1
    for i, target in enumerate(targets):
        fresh = not ckpt.exists()
        proc = _launch(_train_args(epochs, tmp_path, "cut") if fresh
                       else ["train", "--resume", str(run)], log)
        figures["launches"] += 1
        if i % 6 == 1:                                  # every sixth kill: in start-up
            time.sleep(rng.uniform(0.0, 1.0))
            phase = "in_startup"
        else:
            target = max(int(target), last_step + 1)    # some progress before every kill
            while proc.poll() is None and _step_of(ckpt, figures) < target:
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.01))
            phase = "in_training"
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL
            figures["kills"] += 1
            figures[phase] += 1
        else:
            assert proc.returncode == 0, log.read_text()
            figures["finished_first"] += 1
        last_step = _check_after_kill(ckpt, last_step)
        figures["checkpoint_steps"].append(last_step)
    # resume to the end, undisturbed
    proc = _launch(["train", "--resume", str(run)] if ckpt.exists()
                   else _train_args(epochs, tmp_path, "cut"), log)
    figures["launches"] += 1
    assert proc.wait(timeout=300) == 0, log.read_text()
    assert _check_after_kill(ckpt, last_step) == final_step
    figures["stray_tmp_files"] = sum(p.name.endswith(".tmp") for p in run.iterdir())
    return nl.load(run / "model.safetensors").params, figures


def _assert_soak(tmp_path: Path, epochs: int, n_kills: int, seed: int) -> dict:
    t0 = time.perf_counter()
    whole, final_step = _reference(tmp_path, epochs)
    resumed, figures = _soak(tmp_path, epochs, n_kills, final_step, seed)
    np.testing.assert_array_equal(resumed, whole)
    rows = (tmp_path / "cut" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + epochs
    figures["final_step"] = final_step
    figures["seconds"] = round(time.perf_counter() - t0, 1)
    return figures


def test_killed_twice_resumes_bit_identical(tmp_path):
    figures = _assert_soak(tmp_path, epochs=8, n_kills=2, seed=0)
    print(f"soak: {figures}")
    assert figures["launches"] == 3 and figures["kills"] >= 1


@pytest.mark.slow
def test_soak_twenty_kills(tmp_path, capsys, request):
    if not _opted_in(request.config):
        pytest.skip("opt in with -m slow")
    n = int(os.environ.get("NEURALAB_SOAK_KILLS", "20"))
    figures = _assert_soak(tmp_path, epochs=40, n_kills=n, seed=2026)
    with capsys.disabled():
        print(f"\nsoak: {figures}")
    assert figures["kills"] >= n - 2            # a few may finish before their kill
