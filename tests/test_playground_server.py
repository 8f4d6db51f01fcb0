"""The playground's server through Starlette's test client (and one real uvicorn): the
handshake, frames paced by acks, every kind of bad message answered while the session goes on,
Origin and token checks, limits, idle reaping, and connections that leave nothing behind."""

import concurrent.futures
import contextlib
import gc
import json
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the playground extra is not installed "
                    '(pip install -e ".[test]")')
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from neuralab.playground import frames  # noqa: E402
from neuralab.playground.server import create_app  # noqa: E402
from neuralab.playground.session import Session  # noqa: E402

BASE = "http://127.0.0.1"
WS = "ws://127.0.0.1"   # the test client's default host would fail the Host check


def _client(**kwargs):
    return TestClient(create_app(**kwargs), base_url=BASE)


@contextlib.contextmanager
def _ws(client, path, **kwargs):
    """A WebSocket to the app. The test client cancels the handler right after its closing
    message; when that cancellation overtakes the handler's own exit, the client reports it
    from ``__exit__`` as concurrent.futures' CancelledError: that is the harness, not the app
    (what a disconnect leaves behind is checked below, also against a real uvicorn)."""
    try:
        with client.websocket_connect(WS + path, **kwargs) as ws:
            yield ws
    except concurrent.futures.CancelledError:
        pass


def _next_json(ws, kind=None):
    while True:
        message = ws.receive()
        if message.get("text") is not None:
            data = json.loads(message["text"])
            if kind is None or data["type"] == kind:
                return data
        elif message["type"] == "websocket.close":
            raise WebSocketDisconnect(message.get("code", 1000))


def _next_frame(ws, kind=frames.FRAME, ack=True):
    """The next binary message of ``kind``; training frames are acknowledged, as the page
    does once it has drawn them (the server waits for that)."""
    while True:
        message = ws.receive()
        if message.get("bytes") is not None:
            got, seq, sections = frames.unpack(message["bytes"])
            if got == frames.FRAME and ack:
                ws.send_text(json.dumps({"type": "ack", "seq": seq}))
            if got == kind:
                return seq, sections
        elif message["type"] == "websocket.close":
            raise WebSocketDisconnect(message.get("code", 1000))


def _scalars(sections):
    return dict(zip(frames.SCALAR_NAMES, sections[frames.SCALARS], strict=True))


def test_hello_then_data_curve_and_a_frame():
    with _client() as client, _ws(client, "/ws") as ws:
        hello = _next_json(ws, "hello")
        assert hello["version"] == 1 and hello["limits"]["max_sessions"] == 32
        assert "xor-needs-hidden-layer" in hello["presets"] and hello["scalars"][0] == "step"
        _, data = _next_frame(ws, frames.DATA)
        assert data[frames.POINTS].size == 500 * 4
        _, curve = _next_frame(ws, frames.CURVE)
        assert curve[frames.LR_CURVE].size == 200
        seq, sections = _next_frame(ws)
        assert _scalars(sections)["step"] == 0 and sections[frames.OUTPUT].size == 10_000
        assert client.get("/").status_code == 200
        assert client.get("/static/main.js").headers["content-type"].startswith(
            ("text/javascript", "application/javascript"))


def test_playing_frames_are_paced_by_acks():
    with _client() as client, _ws(client, "/ws") as ws:
        sid = _next_json(ws, "hello")["session"]
        conn = client.app.state.playground.connections[sid]
        ws.send_text(json.dumps({"type": "set", "state": {"dataset": "xor",
                                                           "hidden": [4, 4]}}))
        _next_json(ws, "state")
        ws.send_text(json.dumps({"type": "play"}))
        steps = []
        for _ in range(30):
            seq, sections = _next_frame(ws)
            steps.append(_scalars(sections)["step"])
        assert steps[-1] > steps[0] and np.all(np.diff(steps) >= 0)
        _next_frame(ws, ack=False)
        time.sleep(0.5)                               # no acks now: the server must wait
        assert conn.session.seq - conn.acked <= 2
        sent = conn.session.seq
        time.sleep(0.3)
        assert conn.session.seq == sent
        ws.send_text(json.dumps({"type": "pause"}))


@pytest.mark.parametrize("bad, match", [
    ("{oops", "malformed JSON"),
    (json.dumps({"type": "dance"}), "unknown message type"),
    (json.dumps({"type": "play", "x": 1}), "unknown field"),
    (json.dumps({"type": "set", "state": {"hidden": [1000]}}), "between 1 and 8"),
    (json.dumps({"type": "set", "state": {"points": 10**9}}), "between 20 and 2000"),
    ('{"type": "set", "state": {"lr": NaN}}', "not a number JSON allows"),
    (json.dumps({"type": "upload", "csv": "1,2,3\n" * 60_000}), "over the limit"),
    (json.dumps({"type": "upload", "csv": "a,b\n1,2\n" * 12}), "line 1: expected 3"),
    (json.dumps({"type": "edit", "layer": 9, "i": 0, "j": 0, "value": 1}), "layer must be"),
])
def test_bad_messages_get_an_error_and_the_session_goes_on(bad, match):
    with _client() as client, _ws(client, "/ws") as ws:
        _next_json(ws, "hello")
        ws.send_text(json.dumps({"type": "play"}))
        _next_frame(ws)
        ws.send_text(bad)
        assert match in _next_json(ws, "error")["message"]
        ws.send_text(json.dumps({"type": "set", "state": {"lr": 0.1}}))
        assert _next_json(ws, "state")["state"]["lr"] == 0.1
        before = _scalars(_next_frame(ws)[1])["step"]
        for _ in range(4):
            _, sections = _next_frame(ws)
        assert _scalars(sections)["step"] > before                 # still training


def test_binary_messages_are_refused():
    with _client() as client, _ws(client, "/ws") as ws:
        _next_json(ws, "hello")
        ws.send_bytes(b"\x00" * 10)
        assert "binary" in _next_json(ws, "error")["message"]


def test_a_flood_is_dropped_with_an_error_and_the_session_survives():
    with _client(limits={"rate": 20.0, "burst": 20}) as client, \
            _ws(client, "/ws") as ws:
        _next_json(ws, "hello")
        for _ in range(300):
            ws.send_text(json.dumps({"type": "ack", "seq": 0}))
        assert "too many messages" in _next_json(ws, "error")["message"]
        time.sleep(1.2)                                  # the bucket refills
        ws.send_text(json.dumps({"type": "set", "state": {"noise": 10}}))
        assert _next_json(ws, "state")["state"]["noise"] == 10


def test_two_different_errors_in_a_row_both_reach_the_page_and_a_repeat_is_dropped():
    with _client() as client, _ws(client, "/ws") as ws:
        _next_json(ws, "hello")
        for state in ({"points": 10**9}, {"points": 10**9}, {"seed": ""}):
            ws.send_text(json.dumps({"type": "set", "state": state}))
        first, second = _next_json(ws, "error"), _next_json(ws, "error")
        assert "points" in first["message"] and "seed" in second["message"]


def test_a_foreign_origin_is_refused_and_the_own_accepted():
    with _client() as client:
        with pytest.raises(WebSocketDisconnect) as exc, \
                _ws(client, "/ws", headers={"origin": "http://evil.example"}):
            pass
        assert exc.value.code == 1008
        with _ws(client, "/ws", headers={"origin": BASE}) as ws:
            assert _next_json(ws, "hello")["type"] == "hello"


def test_dns_rebinding_hosts_are_refused_when_local():
    with _client() as client:
        assert client.get("/", headers={"host": "evil.example"}).status_code == 400


def test_a_non_local_server_requires_its_token():
    with pytest.raises(ValueError, match="needs a token"):
        create_app(local=False)
    with TestClient(create_app(token="s3cret", local=False), base_url=BASE) as client:
        assert client.get("/").status_code == 403
        assert client.get("/?token=wrong").status_code == 403
        assert client.get("/?token=s3cret").status_code == 200
        with pytest.raises(WebSocketDisconnect), _ws(client, "/ws"):
            pass
        with _ws(client, "/ws?token=s3cret") as ws:
            _next_json(ws, "hello")
            ws.send_text(json.dumps({"type": "export", "kind": "data"}))
            assert _next_export(ws)[0] == "playground-data.csv"


def _next_export(ws):
    """The next EXPORT message: (file name, media type, bytes)."""
    while True:
        message = ws.receive()
        if message.get("bytes") is not None:
            kind, _, sections = frames.unpack(message["bytes"])
            if kind == frames.EXPORT:
                return (bytes(sections[frames.FILE_NAME]).decode(),
                        bytes(sections[frames.FILE_TYPE]).decode(), bytes(sections[frames.FILE]))


def test_exports_come_over_the_websocket_and_unknown_ones_are_refused(tmp_path):
    import neuralab as nl

    with _client() as client, _ws(client, "/ws") as ws:
        _next_json(ws, "hello")
        ws.send_text(json.dumps({"type": "export", "kind": "model"}))
        name, media, content = _next_export(ws)
        assert name == "playground.safetensors" and media == "application/octet-stream"
        (tmp_path / name).write_bytes(content)
        assert nl.load(tmp_path / name).n_features_in == 2
        ws.send_text(json.dumps({"type": "export", "kind": "python"}))
        assert _next_export(ws)[2].startswith(b"# The playground's run")
        ws.send_text(json.dumps({"type": "export", "kind": "pickle"}))
        assert "unknown export 'pickle'" in _next_json(ws, "error")["message"]
        ws.send_text(json.dumps({"type": "export", "kind": "data"}))
        assert _next_export(ws)[2].startswith(b"x1,x2,label")
    with _client() as client:
        assert client.get("/export/anything/model").status_code == 404     # no URL route


def test_the_session_limit_turns_extra_pages_away():
    with _client(limits={"max_sessions": 2}) as client, \
            _ws(client, "/ws") as a, _ws(client, "/ws") as b:
        _next_json(a, "hello")
        _next_json(b, "hello")
        with _ws(client, "/ws") as c:
            assert "limit" in _next_json(c, "error")["message"]
            with pytest.raises(WebSocketDisconnect) as exc:
                c.receive_text()
            assert exc.value.code == 1013


def test_idle_sessions_are_reaped():
    with _client(limits={"idle_timeout": 0.5}) as client:
        with _ws(client, "/ws") as ws:
            _next_json(ws, "hello")
            assert "no message for 0.5 s" in _next_json(ws, "error")["message"]
            with pytest.raises(WebSocketDisconnect):
                _next_json(ws, "nothing")
        time.sleep(0.1)
        assert client.app.state.playground.connections == {}


def _live_sessions():
    gc.collect()
    return sum(type(o) is Session for o in gc.get_objects())    # type(): safe on dead proxies


async def _task_count():
    import asyncio

    return len(asyncio.all_tasks())


def test_hundreds_of_connects_and_disconnects_leave_nothing_behind():
    with _client() as client:
        baseline_tasks = client.portal.call(_task_count)
        for k in range(200):
            with _ws(client, "/ws") as ws:
                _next_json(ws, "hello")
                if k % 2:
                    ws.send_text(json.dumps({"type": "play"}))
                    ws.send_text(json.dumps({"type": "set", "state": {"hidden": [8, 8]}}))
                    _next_json(ws, "state")
        time.sleep(0.5)
        pg = client.app.state.playground
        assert pg.connections == {}
        assert client.portal.call(_task_count) <= baseline_tasks
        assert len(pg.pool._threads) <= 2
    assert _live_sessions() == 0


def _real_server(**kwargs):
    from urllib.parse import urlsplit

    from neuralab.playground.server import serve_in_thread

    app = create_app(**kwargs)
    server, thread, url = serve_in_thread(app)
    return app, server, thread, urlsplit(url).port


def _raw_ws(port, messages):
    """Open a WebSocket by hand (wsproto), send ``messages``, read some bytes, then drop the
    TCP connection without a closing handshake: a page that vanished mid-frame."""
    from wsproto import WSConnection
    from wsproto.connection import ConnectionType
    from wsproto.events import Request, TextMessage

    conn = WSConnection(ConnectionType.CLIENT)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(conn.send(Request(host=f"127.0.0.1:{port}", target="/ws")))
        conn.receive_data(s.recv(65536))            # the handshake's answer (and maybe more)
        list(conn.events())
        for m in messages:
            s.sendall(conn.send(TextMessage(data=json.dumps(m))))
        s.recv(4096)


def test_real_server_clients_vanishing_mid_frame_leave_nothing():
    app, server, thread, port = _real_server()
    try:
        threads_before = threading.active_count()
        for k in range(150):
            _raw_ws(port, [{"type": "set", "state": {"hidden": [8, 8, 8],
                                                     "stepsPerFrame": 100}},
                           {"type": "play"}] if k % 3 else [])
        deadline = time.monotonic() + 10
        while app.state.playground.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.playground.connections == {}
        assert threading.active_count() <= threads_before + 2        # the pool, at most
    finally:
        server.should_exit = True
        thread.join(10)
    assert _live_sessions() == 0


@pytest.mark.parametrize("message, field", [
    ('{"type": "set", "state": {"lr": 1%s}}', "lr"),
    ('{"type": "set", "state": {"race": [{"optimizer": "adam", "lr": 1%s}]}}', "race"),
    ('{"type": "edit", "layer": 0, "i": 0, "j": 0, "value": -1%s}', "value"),
])
def test_an_integer_too_large_for_a_float_is_an_error_and_the_session_lives(message, field):
    """10^309 written as digits overflows float(): an error naming the field, not a dropped
    connection (the 4,300-digit cap of int() is JSON's own: "malformed JSON")."""
    with _client() as client, _ws(client, "/ws") as ws:
        _next_json(ws, "hello")
        ws.send_text(message % ("0" * 309))
        error = _next_json(ws, "error")
        assert "too large for a float" in error["message"] and error["field"] == field
        ws.send_text(json.dumps({"type": "set", "state": {"lr": 0.1}}))
        assert _next_json(ws, "state")["state"]["lr"] == 0.1


def test_every_response_says_no_referrer_and_ipv6_loopback_is_a_local_host():
    with _client() as client:
        for path, status in (("/", 200), ("/static/main.js", 200), ("/nothing", 404)):
            response = client.get(path)
            assert response.status_code == status
            assert response.headers["referrer-policy"] == "no-referrer", path
        assert client.get("/", headers={"host": "[::1]:8000"}).status_code == 200
        assert client.get("/", headers={"host": "[::2]:8000"}).status_code == 400
    with TestClient(create_app(token="s3cret", local=False), base_url=BASE) as client:
        assert client.get("/").headers["referrer-policy"] == "no-referrer"      # the 403 too
