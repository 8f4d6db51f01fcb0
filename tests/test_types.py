"""`mypy src/neuralab` (configured in pyproject.toml) reports no error: the wheel ships
``py.typed``, so users' type checkers read these annotations."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_mypy_is_clean():
    pytest.importorskip("mypy")
    run = subprocess.run([sys.executable, "-m", "mypy", "src/neuralab"], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert not errors, "\n".join(errors)
    assert run.returncode == 0, run.stdout + run.stderr
