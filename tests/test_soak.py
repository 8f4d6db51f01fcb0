"""Crash soak: a CLI training is SIGKILLed at random moments and resumed until it finishes.

After every kill:

* the checkpoint where ``neuralab train --resume`` reads (``RUN/checkpoint.safetensors``) is
  either absent (killed before the first write) or a whole, valid checkpoint;
* its step never goes back (a resume never loses work that a checkpoint had saved).

At the end the resumed run's model is bit-identical to an uninterrupted run's.

Kill moments: ``n`` random instants spread uniformly over the training's own duration (measured
by the uninterrupted run), each reached by letting a relaunched process train for the time
between two instants; about one kill in six lands instead at a random instant of the start-up
(imports, data loading, before the first checkpoint). The default run kills twice; the soak of
20 kills is opt-in: ``pytest -m slow -s tests/test_soak.py`` prints its figures.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import neuralab as nl
from neuralab import io as nio

START_LINE = "neuralab train:"            # printed (flushed) right before fit starts


def _opted_in(config) -> bool:
    expr = config.getoption("markexpr") or ""
    return "slow" in expr and "not slow" not in expr


def _train_args(epochs: int, out_dir: Path, name: str) -> list[str]:
    return ["train", "--data", "digits", "--hidden", "64", "--epochs", str(epochs),
            "--checkpoint-every", "3", "--seed", "0", "--out-dir", str(out_dir), "--name", name]


def _reference(tmp_path: Path, epochs: int) -> tuple[np.ndarray, float]:
    """θ of the uninterrupted run and the seconds its training took.

    A subprocess like the killed ones, so both read the same code and BLAS settings (an
    in-process run would share whatever the test session changed).
    """
    log = tmp_path / "whole.txt"
    proc = _launch(_train_args(epochs, tmp_path, "whole"), log)
    assert proc.wait(timeout=300) == 0, log.read_text()
    seconds = float(re.search(r"training time\s+([\d.]+) s", log.read_text()).group(1))
    return nl.load(tmp_path / "whole" / "model.safetensors").params, seconds


def _launch(argv, log: Path) -> subprocess.Popen:
    with open(log, "w") as f:
        return subprocess.Popen([sys.executable, "-m", "neuralab.cli", *argv], stdout=f,
                                stderr=subprocess.STDOUT, cwd=log.parent)


def _wait_for_start(proc, log: Path, timeout=120.0) -> bool:
    """Wait until the process prints the start line (True) or exits (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if START_LINE in log.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError(f"no start line after {timeout} s:\n{log.read_text()}")


def _check_checkpoint(path: Path, last_step: int) -> int:
    """The file a resume would read is whole and not older than before; return its step."""
    if not path.exists():
        assert last_step < 0, "the checkpoint disappeared after a kill"
        return last_step
    arrays, meta = nio.read_checkpoint(path)          # ValueError here = a partial/corrupt file
    assert np.all(np.isfinite(arrays["params"]))
    assert meta["step"] >= last_step, f"checkpoint went back from step {last_step}"
    return int(meta["step"])


def _soak(tmp_path: Path, epochs: int, n_kills: int, train_seconds: float, seed: int):
    """Kill a training ``n_kills`` times at random moments, resume to the end; return figures."""
    rng = np.random.default_rng(seed)
    run, log = tmp_path / "cut", tmp_path / "log.txt"
    ckpt = run / "checkpoint.safetensors"
    # the kill instants on the training's clock, in increasing order
    instants = np.sort(rng.uniform(0.0, train_seconds, n_kills))
    gaps = np.diff(instants, prepend=0.0)
    figures = {"kills": 0, "in_startup": 0, "in_training": 0, "after_training": 0,
               "launches": 0, "steps_at_kills": []}
    last_step = -1
    for gap in gaps:
        resume = ckpt.exists()
        argv = ["train", "--resume", str(run)] if resume else _train_args(epochs, tmp_path, "cut")
        proc = _launch(argv, log)
        figures["launches"] += 1
        if rng.uniform() < 1 / 6:                       # a kill during start-up
            time.sleep(rng.uniform(0.0, 1.0))
            phase = "in_startup"
        else:
            if not _wait_for_start(proc, log):
                raise AssertionError(f"run exited early:\n{log.read_text()}")
            time.sleep(gap)
            phase = "in_training"
        if proc.poll() is None:
            if phase == "in_training" and "summary" in log.read_text(errors="replace"):
                phase = "after_training"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL
            figures["kills"] += 1
            figures[phase] += 1
        else:
            assert proc.returncode == 0, log.read_text()
            figures["after_training"] += 1       # finished before its kill: counts as done
        last_step = _check_checkpoint(ckpt, last_step)
        figures["steps_at_kills"].append(last_step)
    # resume to the end, undisturbed
    proc = _launch(["train", "--resume", str(run)] if ckpt.exists()
                   else _train_args(epochs, tmp_path, "cut"), log)
    figures["launches"] += 1
    assert proc.wait(timeout=300) == 0, log.read_text()
    _check_checkpoint(ckpt, last_step)
    stray = [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    figures["stray_tmp_files"] = len(stray)
    return nl.load(run / "model.safetensors").params, figures


def _assert_soak(tmp_path, capsys, epochs, n_kills, seed):
    t0 = time.perf_counter()
    whole, train_seconds = _reference(tmp_path, epochs)
    resumed, figures = _soak(tmp_path, epochs, n_kills, train_seconds, seed)
    np.testing.assert_array_equal(resumed, whole)
    rows = (tmp_path / "cut" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + epochs
    figures["seconds"] = round(time.perf_counter() - t0, 1)
    figures["train_seconds"] = train_seconds
    return figures


def test_killed_twice_resumes_bit_identical(tmp_path, capsys):
    figures = _assert_soak(tmp_path, capsys, epochs=8, n_kills=2, seed=0)
    print(f"soak: {figures}")
    assert figures["launches"] == 3


@pytest.mark.slow
def test_soak_twenty_kills(tmp_path, capsys, request):
    if not _opted_in(request.config):
        pytest.skip("opt in with -m slow")
    n = int(os.environ.get("NEURALAB_SOAK_KILLS", "20"))
    figures = _assert_soak(tmp_path, capsys, epochs=40, n_kills=n, seed=2026)
    with capsys.disabled():
        print(f"\nsoak: {figures}")
    assert figures["kills"] >= n - 2            # a few may finish before their kill
