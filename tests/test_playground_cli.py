"""`neuralab playground`: the URL printed, the page served, Ctrl-C stops it cleanly; without
the extra it says what to install."""

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from neuralab.cli import main

SRC = str(Path(__file__).parents[1] / "src")


def test_without_the_extra_the_command_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "starlette", None)        # import fails
    assert main(["playground", "--no-browser"]) == 2
    assert 'pip install "neuralab[playground]"' in capsys.readouterr().err


def test_bad_port_is_a_usage_error(capsys):
    pytest.importorskip("uvicorn")
    assert main(["playground", "--no-browser", "--port", "70000"]) == 2
    assert "--port must be 1-65535" in capsys.readouterr().err


def test_help_lists_the_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "playground" in capsys.readouterr().out


def _start(*args):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "neuralab.cli", "playground", "--no-browser",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    line = proc.stdout.readline()
    return proc, line


def _stop(proc):
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


def test_starts_on_a_free_port_serves_the_page_and_stops_on_ctrl_c():
    pytest.importorskip("uvicorn")
    proc, line = _start()
    try:
        assert line.startswith("neuralab playground: http://127.0.0.1:"), line
        url = line.split()[-1]
        with urllib.request.urlopen(url, timeout=10) as response:
            assert b"neuralab playground" in response.read()
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    finally:
        code, out, err = _stop(proc)
    assert code == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_a_non_local_host_prints_a_token_and_refuses_requests_without_it():
    pytest.importorskip("uvicorn")
    proc, line = _start("--host", "127.0.0.2")      # loopback, but not a name the Host check
    try:                                            # accepts: a token is required
        local = line.split()[-1]
        assert "?token=" in local and local.startswith("http://127.0.0.2:")
        with urllib.request.urlopen(local, timeout=10) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(local.split("?")[0], timeout=10)
        assert exc.value.code == 403
    finally:
        code, _, err = _stop(proc)
    assert code == 0, err
