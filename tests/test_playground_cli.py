"""`neuralab playground`: the URL printed, the page served, Ctrl-C stops it cleanly; without
the extra it says what to install."""

import os
import signal
import subprocess
import sys
import time
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


def _children(pid) -> list[int]:
    """The worker processes of the server ``pid`` (not multiprocessing's resource tracker)."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = [int(p) for p in f.read().split()]
    workers = []
    for child in children:
        with open(f"/proc/{child}/cmdline", "rb") as f:
            if b"resource_tracker" not in f.read():
                workers.append(child)
    return workers


def _ws_session(port, seconds=3.0):
    """A bare WebSocket page: plays, counts frames, asks for the data export; returns
    (frames, export bytes)."""
    import json
    import socket
    import struct

    from wsproto import WSConnection
    from wsproto.connection import ConnectionType
    from wsproto.events import AcceptConnection, BytesMessage, Request, TextMessage

    conn = WSConnection(ConnectionType.CLIENT)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(conn.send(Request(host=f"127.0.0.1:{port}", target="/ws")))
    frames, exported, buf = 0, None, bytearray()
    end = None
    while end is None or time.monotonic() < end or exported is None:
        conn.receive_data(sock.recv(1 << 20))
        for event in conn.events():
            if isinstance(event, AcceptConnection):
                for message in ({"type": "play"}, {"type": "export", "kind": "data"}):
                    sock.sendall(conn.send(TextMessage(data=json.dumps(message))))
                end = time.monotonic() + seconds
            elif isinstance(event, BytesMessage):
                buf += event.data
                if event.message_finished:
                    kind, seq = struct.unpack_from("<HI", buf, 6)
                    if kind == 1:
                        frames += 1
                        sock.sendall(conn.send(TextMessage(
                            data=json.dumps({"type": "ack", "seq": seq}))))
                    elif kind == 4:
                        exported = bytes(buf)
                    buf = bytearray()
    sock.close()
    return frames, exported


def test_worker_processes_each_hold_their_pages_sessions():
    pytest.importorskip("uvicorn")
    import concurrent.futures
    import socket

    proc, line = _start("--workers", "2")
    try:
        assert line.startswith("neuralab playground: http://127.0.0.1:"), line
        port = int(line.split()[-1].rstrip("/").rsplit(":", 1)[1])
        deadline = time.monotonic() + 30
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_children(proc.pid)) == 2
        while time.monotonic() < deadline:          # the workers import, then listen
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda _: _ws_session(port), range(6)))
        for frames, exported in results:
            assert frames > 3 and b"x1,x2,label" in exported
    finally:
        code, out, err = _stop(proc)
    assert code == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_bad_worker_count_is_a_usage_error(capsys):
    pytest.importorskip("uvicorn")
    assert main(["playground", "--no-browser", "--workers", "0"]) == 2
    assert "--workers must be 1-64" in capsys.readouterr().err
