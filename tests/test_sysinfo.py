"""nl.show_config() and `neuralab --version`: versions, the BLAS, the compiled kernels."""

import subprocess
import sys

import neuralab as nl


def test_show_config_names_versions_blas_and_kernels(capsys):
    nl.show_config()
    out = capsys.readouterr().out
    assert out.startswith(f"neuralab {nl.__version__}")
    assert "numpy" in out and "BLAS:" in out and "thread(s)" in out
    info = nl._sysinfo.config()
    assert info["kernels"]["active"] == (nl._kernels._compiled("adam") is not None)


def test_version_says_whether_the_compiled_kernels_run():
    run = lambda env: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "neuralab.cli", "--version"], capture_output=True, text=True,
        env=env, check=True).stdout
    import os

    base = {k: v for k, v in os.environ.items() if k != "NEURALAB_NUMBA"}
    assert "compiled kernels (numba): active" in run(base)      # numba is a dependency
    assert "inactive (NEURALAB_NUMBA=0" in run({**base, "NEURALAB_NUMBA": "0"})
    assert "Adam on the BLAS's threads: no (NEURALAB_BLAS_POOL=0)" in run(
        {**base, "NEURALAB_BLAS_POOL": "0"})
