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


def _ws_session(port, min_frames=4, seconds=30.0):
    """A bare WebSocket page: plays until it has ``min_frames`` frames and the data export
    (``seconds`` at most: a loaded machine may draw slowly, which is not what this checks);
    returns (frames, export bytes)."""
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
    while end is None or (time.monotonic() < end
                          and (frames < min_frames or exported is None)):
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


def _alive(pid) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting to be reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _answers(port) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _start_workers():
    """``--workers 2`` started and serving: (process, port, every child pid)."""
    proc, line = _start("--workers", "2")
    port = int(line.split()[-1].rstrip("/").rsplit(":", 1)[1])
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    while not _answers(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)                                     # the second worker listens too
    with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
        children = [int(p) for p in f.read().split()]
    assert len(_children(proc.pid)) == 2 and _answers(port)
    return proc, port, children


def _gone_within(port, pids, seconds) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _answers(port) and not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_a_signal_to_the_parent_alone_stops_every_worker(sig):
    """SIGTERM to the parent only (`kill PID`, a supervisor) stops the workers; a worker whose
    parent died without a word (SIGKILL) exits by itself: the port stops answering."""
    pytest.importorskip("uvicorn")
    proc, port, children = _start_workers()
    try:
        proc.send_signal(getattr(signal, sig))
        assert _gone_within(port, children, 8), [p for p in children if _alive(p)]
        proc.wait(timeout=10)
        if sig == "SIGTERM":
            assert proc.returncode == 0 and "stopped" in proc.stdout.read()
    finally:
        for pid in [proc.pid, *children]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=10)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_a_single_process_server_cleanly(sig):
    pytest.importorskip("uvicorn")
    proc, line = _start()
    port = int(line.split()[-1].rstrip("/").rsplit(":", 1)[1])
    try:
        deadline = time.monotonic() + 30
        while not _answers(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err and not _answers(port)


def test_host_0000_prints_the_machines_lan_addresses_not_its_name(monkeypatch):
    """Students type an address: the one routed outward first, then what the host name
    resolves to; loopback (a host name often resolves to 127.0.1.1) and link-local left out."""
    import socket

    from neuralab.playground import cli

    monkeypatch.setattr(cli, "_route_address",
                        lambda family: "10.1.2.3" if family == socket.AF_INET else None)
    monkeypatch.setattr(socket, "gethostname", lambda: "classroom-pc")
    resolved = {"classroom-pc": ["127.0.1.1", "192.168.1.20", "10.1.2.3", "169.254.9.9"]}
    monkeypatch.setattr(socket, "getaddrinfo", lambda name, port, family=0, *a: [
        (family, socket.SOCK_STREAM, 6, "", (ip, 0)) for ip in resolved[name]])
    monkeypatch.setattr(cli, "_interface_addresses", lambda: ["127.0.0.1", "172.16.0.7"])
    assert cli.lan_addresses() == ["10.1.2.3", "192.168.1.20", "172.16.0.7"]
    urls = cli.links("0.0.0.0", 8000, "tok")
    assert urls == ["http://10.1.2.3:8000/?token=tok", "http://192.168.1.20:8000/?token=tok",
                    "http://172.16.0.7:8000/?token=tok"]
    assert not any("classroom-pc" in u for u in urls)
    # nothing but loopback: the local link, said aloud by the command
    monkeypatch.setattr(cli, "_route_address", lambda family: None)
    monkeypatch.setattr(cli, "_interface_addresses", lambda: ["127.0.0.1"])
    resolved["classroom-pc"] = ["127.0.1.1"]
    assert cli.links("0.0.0.0", 8000, "tok") == ["http://127.0.0.1:8000/?token=tok"]


def test_the_real_lan_addresses_are_addresses():
    import ipaddress

    from neuralab.playground import cli

    for address in cli.lan_addresses(ipv6=True):
        ip = ipaddress.ip_address(address)
        assert not ip.is_loopback and not ip.is_link_local


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_host_ipv6_loopback_prints_a_working_bracketed_link():
    pytest.importorskip("uvicorn")
    proc, line = _start("--host", "::1")
    try:
        url = line.split()[-1]
        assert url.startswith("http://[::1]:") and "token" not in url, line
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert response.status == 200
                break
            except urllib.error.URLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        code, _, err = _stop(proc)
    assert code == 0, err


def test_max_per_client_must_be_positive(capsys):
    pytest.importorskip("uvicorn")
    assert main(["playground", "--no-browser", "--max-per-client", "0"]) == 2
    assert "--max-per-client must be at least 1, got 0" in capsys.readouterr().err
