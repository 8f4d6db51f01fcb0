"""The server's guards (a real uvicorn on 127.0.0.1, free ports, bounded in time): half-sent
requests are closed after the header deadline, one address cannot hold more than its share of
connections or sessions, a repeated error is logged once per interval with a count."""

import json
import logging
import socket
import sys
import time
from urllib.parse import urlsplit

import pytest

pytest.importorskip("uvicorn", reason="the playground extra is not installed")
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from neuralab.playground.guards import RepeatedLogFilter  # noqa: E402
from neuralab.playground.server import create_app, serve_in_thread  # noqa: E402


@pytest.fixture
def server():
    """Start a real server with the given limits; stopped at the end."""
    started = []

    def start(**limits):
        app = create_app(limits=limits)
        srv, thread, url = serve_in_thread(app)
        started.append((srv, thread))
        return app, urlsplit(url).port

    yield start
    for srv, thread in started:
        srv.should_exit = True
        thread.join(10)


def _closed_within(sock, seconds) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (reading whatever it sends)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except ConnectionError:
            return True
    return False


def _get(port) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
                  .encode())
        return int(s.recv(1024).split()[1])


def test_requests_whose_headers_never_finish_are_closed(server):
    _, port = server(header_timeout=0.5)
    silent = socket.create_connection(("127.0.0.1", port), timeout=5)
    half = socket.create_connection(("127.0.0.1", port), timeout=5)
    half.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")        # never finished
    kept = socket.create_connection(("127.0.0.1", port), timeout=5)       # one request done,
    kept.sendall(f"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert b"404" in kept.recv(4096)
    kept.sendall(b"GET / HTTP/1.1\r\nHost: 1")                          # the next one half
    try:
        for sock in (silent, half, kept):
            assert _closed_within(sock, 4), sock
        assert _get(port) == 200                    # a whole request is served as before
    finally:
        for sock in (silent, half, kept):
            sock.close()


def test_one_address_cannot_hold_more_than_its_connections(server):
    app, port = server(max_pending_per_client=5, header_timeout=30)
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
    try:
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert _closed_within(extra, 3)                                 # closed at once
        assert not any(_closed_within(s, 0.2) for s in held)            # the others wait
        extra.close()
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if _get(port) == 200:                   # their slots came back
                break
        except (OSError, IndexError):
            time.sleep(0.1)
    else:
        pytest.fail("the address stayed refused after its connections closed")


def test_one_address_holds_at_most_its_sessions_with_a_clear_reason():
    with TestClient(create_app(limits={"max_sessions_per_client": 2}),
                    base_url="http://127.0.0.1") as client, \
            client.websocket_connect("ws://127.0.0.1/ws") as a, \
            client.websocket_connect("ws://127.0.0.1/ws") as b:
        for ws in (a, b):
            assert json.loads(ws.receive_text())["type"] == "hello"
        with client.websocket_connect("ws://127.0.0.1/ws") as c:
            error = json.loads(c.receive_text())
            assert error["type"] == "error" and "this address has 2 sessions open" in \
                error["message"] and "max_sessions_per_client" in error["message"]
            with pytest.raises(WebSocketDisconnect) as exc:
                c.receive_text()
            assert exc.value.code == 1013 and "this address" in exc.value.reason
        assert len(client.app.state.playground.connections) == 2


def test_a_repeated_error_is_logged_once_per_interval_with_a_count():
    now = [0.0]
    logger = logging.getLogger("neuralab.test.repeats")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    logger.propagate = False
    logger.addFilter(RepeatedLogFilter(interval=10.0, clock=lambda: now[0]))
    try:
        for k in range(1000):                       # the same error, its details varying
            now[0] = k * 0.005
            logger.error("socket.accept() out of system resource\nsocket: <fd=%d>", k)
        logger.error("another error")
        assert [r.getMessage().split("\n")[0] for r in records] == [
            "socket.accept() out of system resource", "another error"]
        now[0] = 10.5
        logger.error("socket.accept() out of system resource\nsocket: <fd=%d>", 1000)
        assert "(and 999 more like it in the last 10 s, not logged)" in records[-1].getMessage()
        assert len(records) == 3
    finally:
        logger.removeHandler(handler)


def test_the_server_installs_the_log_guard():
    from neuralab.playground.server import uvicorn_config

    uvicorn_config(create_app())
    assert any(isinstance(f, RepeatedLogFilter) for f in logging.getLogger("asyncio").filters)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_NOFILE, Linux")
def test_out_of_files_the_server_logs_a_little_and_serves_again(tmp_path):
    """A server limited to 120 files, 200 connections held open: asyncio's
    "socket.accept() out of system resource" once per interval, not megabytes a second; once
    they close, the page is served again."""
    import os
    import subprocess
    from pathlib import Path

    src = str(Path(__file__).parents[1] / "src")
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (120, 120)); "
            "from neuralab.cli import main; sys.exit(main(['playground', '--no-browser']))")
    err = tmp_path / "stderr"
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(err, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                stderr=sink, env=env, text=True)
    socks = []
    try:
        port = int(proc.stdout.readline().split()[-1].rstrip("/").rsplit(":", 1)[1])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if _get(port) == 200:
                    break
            except (OSError, IndexError):
                time.sleep(0.1)
        for _ in range(200):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(4)
        logged = err.stat().st_size
        assert 0 < logged < 20_000, logged              # before: ~1.7 MB in these 4 s
        assert "out of system resource" in err.read_text()
        for sock in socks:
            sock.close()
        socks = []
        deadline = time.monotonic() + 10
        while True:
            try:
                assert _get(port) == 200
                break
            except (OSError, IndexError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        for sock in socks:
            sock.close()
        proc.terminate()
        proc.communicate(timeout=20)
