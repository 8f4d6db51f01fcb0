"""The playground's web server (Starlette on uvicorn): routes and one WebSocket handler.

* ``GET /`` the page, ``/static/...`` its modules (shipped in the wheel);
* ``WS /ws`` one session per connection: JSON messages in (checked by
  :mod:`~neuralab.playground.protocol`), JSON and binary frames out, exports (model, data,
  toml, python) included: there is no download URL, so any worker process serves its page.

Safety (as Jupyter Server does it): bound to 127.0.0.1 with the ``Host`` header checked
(no DNS rebinding); on another host a token is required in every URL, and no response lets
the browser pass that URL on (``Referrer-Policy: no-referrer``); the WebSocket's
``Origin`` must be the page's own; every message is checked, rate-limited and size-limited;
sessions are capped in number and reaped when idle. Training runs in a small thread pool so
that the event loop keeps answering; a client that leaves mid-frame leaves nothing behind (the
frame in progress finishes in the pool and is dropped).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from . import _config, export, frames, protocol
from .guards import EveryResponse, FairShare, guarded_http, quiet_repeated_logs
from .protocol import ProtocolError
from .session import Session

STATIC = Path(__file__).parent / "static"
LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]"]     # Host header values, port aside
_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
#: Pages that may show the playground in a frame when it is embedded (``nl.playground.show``
#: in a notebook served from this machine: Jupyter, VS Code).
EMBEDDERS = ("'self' http://localhost:* http://127.0.0.1:* https://localhost:* "
             "https://127.0.0.1:* vscode-webview:")


class Playground:
    """What the server holds: live connections by session id, the token, the limits."""

    def __init__(self, token: str | None = None, limits: dict | None = None, workers: int = 2):
        self.token = token
        self.limits = {**protocol.LIMITS, **(limits or {})}
        self.connections: dict[str, _Connection] = {}
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="playground")
        self.fair = FairShare(workers)
        self.embed = False              # may local pages (a notebook's) frame the page?

    def frame_budget(self) -> float:
        """Seconds of training a frame may take: ``frame_budget`` shared by the sessions
        that are training now (alone, a session has it all)."""
        busy = sum(1 for c in self.connections.values() if c.session.playing or c.steps)
        return self.limits["frame_budget"] / max(1, busy)

    def token_ok(self, query) -> bool:
        return self.token is None or secrets.compare_digest(
            str(query.get("token", "")).encode(), self.token.encode())


def _origin_ok(ws) -> bool:
    """A browser's page must come from this server (no Origin: not a browser)."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == ws.headers.get("host")


class _Connection:
    """One page: its session, a reader (messages) and a writer (frames, paced by acks)."""

    def __init__(self, ws, session, pg):
        self.ws, self.session, self.pg, self.limits = ws, session, pg, pg.limits
        self.lock = asyncio.Lock()          # the session: one operation at a time
        self.send_lock = asyncio.Lock()     # whole messages, never interleaved
        self.wake = asyncio.Event()
        self.acked = 0
        self.steps = 0                      # "step" presses not yet trained
        self.dirty = {"curve", "frame"}
        self.built = None                   # the session.built the page has the data of
        self.tokens, self.refilled = float(self.limits["burst"]), time.monotonic()
        self.last_error, self.last_error_text = 0.0, None
        self.last_frame = 0.0
        self.vtime = 0.0                    # pool seconds used (see guards.FairShare)
        self.client = None                  # the page's address (sessions per client)

    async def run(self, sid):
        await self.send_json({"type": "hello", "version": protocol.VERSION, "session": sid,
                              "state": self.session.state, "limits": self.limits,
                              "scalars": frames.SCALAR_NAMES, "presets": _config.PRESETS,
                              "fields": protocol.STATE, "datasets": protocol.DATASETS})
        tasks = {asyncio.create_task(self._reader()), asyncio.create_task(self._writer())}
        self.wake.set()
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:      # the server is stopping this handler: no waiting
            for task in tasks:
                task.cancel()
            raise
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None and not _gone(
                    task.exception()):
                raise task.exception()

    async def send_json(self, message):
        async with self.send_lock:
            await self.ws.send_text(json.dumps(message, allow_nan=False))

    async def send_bytes(self, data):
        async with self.send_lock:
            await self.ws.send_bytes(data)

    async def error(self, message, field=None):
        """Tell the page; the same error at most five times a second, so that a flood is not
        echoed (a different error always goes out: messages are rate-limited anyway)."""
        now, text = time.monotonic(), str(message)
        if text != self.last_error_text or now - self.last_error >= 0.2:
            self.last_error, self.last_error_text = now, text
            await self.send_json({"type": "error", "message": text, "field": field})

    def _take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.limits["burst"],
                          self.tokens + (now - self.refilled) * self.limits["rate"])
        self.refilled = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    async def _reader(self):
        while True:
            try:
                msg = await asyncio.wait_for(self.ws.receive(),
                                             timeout=self.limits["idle_timeout"])
            except TimeoutError:
                await self.error(f"no message for {self.limits['idle_timeout']:g} s: this "
                                 "session is closed; reload the page to start again")
                await self.ws.close(code=4000)
                return
            if msg["type"] == "websocket.disconnect":
                return
            if not self._take_token():
                await self.error("too many messages: this one was dropped (at most "
                                 f"{self.limits['rate']:g} a second)")
                continue
            try:
                await self._handle(protocol.parse_message(msg.get("text"), self.limits))
            except ProtocolError as exc:
                await self.error(exc, exc.field)

    async def _handle(self, msg):
        kind, s = msg["type"], self.session
        if kind == "ack":
            self.acked = max(self.acked, msg["seq"])
        elif kind in ("play", "pause"):
            s.play() if kind == "play" else s.pause()
            self.dirty.add("frame")
        elif kind == "step":
            self.steps += 1
        elif kind == "export":
            async with self.lock:
                content, name, media = await self._in_pool(export.export, s, msg["kind"])
            await self.send_bytes(frames.file_message(s.seq, name, media, content))
            return
        elif kind in ("focus", "edit"):
            if kind == "edit":
                s.changes += 1
            async with self.lock:
                if kind == "focus":
                    s.set_focus(msg["layer"], msg["i"])
                else:
                    await self._in_pool(s.edit_weight, msg["layer"], msg["i"], msg["j"],
                                        msg["value"])
            self.dirty |= {"frame", "change"}
        else:
            call = {"set": lambda: s.update(msg["state"]), "reset": s.reset,
                    "regenerate": s.regenerate, "upload": lambda: s.upload(msg["csv"])}[kind]
            s.changes += 1
            async with self.lock:
                try:
                    await self._in_pool(call)
                finally:
                    await self.send_json({"type": "state", "state": s.state,
                                          "playing": s.playing})
            self.dirty |= {"curve", "frame", "change"}
        self.wake.set()

    async def _in_pool(self, fn, *args):
        return await self.pg.fair.run(self, self.pg.pool, fn, *args)

    async def _writer(self):
        while True:
            await self.wake.wait()
            self.wake.clear()
            while True:
                messages = await self._produce()
                if not messages:
                    break
                for message in messages:
                    await self.send_bytes(message)
                for notice in self._notices():
                    await self.send_json({"type": "notice", "message": notice})
                wait = self.last_frame + 1.0 / self.limits["max_fps"] - time.monotonic()
                if wait > 0 and "change" not in self.dirty:
                    await asyncio.sleep(wait)

    def _notices(self):
        out, self.session.notices[:] = list(self.session.notices), []
        return out

    async def _produce(self) -> list[bytes]:
        """The messages due now: data and curve after a change, then a frame when the page
        has drawn enough of the previous ones (at most ``max_frames_in_flight`` unacked)."""
        s = self.session
        async with self.lock:
            out = []
            if s.built != self.built:           # new data or network: points, diagram
                out.append(s.data_frame())
                self.built = s.built
            if "curve" in self.dirty:
                out.append(s.curve_frame())
            self.dirty.discard("curve")
            train = s.playing or self.steps > 0
            # a frame that shows a change may go out ahead of the acks: the change is seen
            # one frame sooner (the page draws whatever arrives, in order)
            window = self.limits["max_frames_in_flight"] + ("change" in self.dirty)
            if not (train or "frame" in self.dirty) or s.seq - self.acked >= window:
                return out
            self.dirty.discard("change")
            steps = 1 if train else 0
            self.steps = max(0, self.steps - 1)
            self.dirty.discard("frame")
            self.last_frame = time.monotonic()      # frames start at most max_fps a second
            out.append(await self._in_pool(_advance_and_draw, s, steps,
                                           self.pg.frame_budget()))
            return out


def _advance_and_draw(session, steps, budget):
    if steps:
        session.advance(budget=budget)
    return session.frame()


def _gone(exc) -> bool:
    """A disconnect surfacing as an exception (the page left mid-send)."""
    from starlette.websockets import WebSocketDisconnect

    return isinstance(exc, (WebSocketDisconnect, ConnectionError, RuntimeError))


async def _socket(ws):
    pg = ws.app.state.playground
    if not pg.token_ok(ws.query_params) or not _origin_ok(ws):
        await ws.close(code=1008)          # policy violation: no session for this page
        return
    await ws.accept()
    client = ws.client.host if ws.client else None
    mine = sum(1 for c in pg.connections.values() if c.client == client)
    refusal = None
    if len(pg.connections) >= pg.limits["max_sessions"]:
        refusal = (f"the playground has {pg.limits['max_sessions']} sessions open, its limit; "
                   "close a tab or try again later")
    elif mine >= pg.limits["max_sessions_per_client"]:
        refusal = (f"this address has {mine} sessions open, the most one machine may hold "
                   f"(max_sessions_per_client = {pg.limits['max_sessions_per_client']}); "
                   "close one of its tabs")
    if refusal:
        await ws.send_text(json.dumps({"type": "error", "message": refusal}))
        await ws.close(code=1013, reason=refusal[:120])     # close reasons: ≤ 123 bytes
        return
    sid = secrets.token_urlsafe(16)
    conn = _Connection(ws, Session(limits=pg.limits), pg)
    conn.client = client
    pg.connections[sid] = conn
    try:
        await conn.run(sid)
    finally:
        pg.connections.pop(sid, None)


async def _index(request):
    pg = request.app.state.playground
    if not pg.token_ok(request.query_params):
        return PlainTextResponse("This playground needs the link with its token, as printed "
                                 "where `neuralab playground` was started.", status_code=403)
    headers = _HEADERS
    if pg.embed:
        policy = headers["Content-Security-Policy"].replace("frame-ancestors 'none'",
                                                            f"frame-ancestors {EMBEDDERS}")
        headers = {**headers, "Content-Security-Policy": policy}
    return FileResponse(STATIC / "index.html", headers=headers)


def create_app(token: str | None = None, local: bool = True, limits: dict | None = None,
               workers: int = 2, embed: bool = False) -> Starlette:
    """The ASGI app. ``local``: only ``Host: localhost/127.0.0.1`` requests are served;
    ``token``: every URL must carry ``?token=...`` (required when not local); ``embed``: local
    pages (a notebook's) may show it in a frame."""
    if embed and not local:
        raise ValueError("only a local playground may be embedded in other pages")
    if not local and not token:
        raise ValueError("a playground reachable from other machines needs a token")
    middleware = [Middleware(EveryResponse, headers={"Referrer-Policy": "no-referrer"})]
    if local:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=LOCAL_HOSTS))
    app = Starlette(routes=[
        Route("/", _index),
        WebSocketRoute("/ws", _socket),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], middleware=middleware)
    app.state.playground = Playground(token, limits, workers)
    app.state.playground.embed = embed
    return app


def uvicorn_config(app, **kwargs):
    """uvicorn's settings for the playground: wsproto WebSockets without compression (frames
    are already compact bytes), messages up to 4 MiB (larger ones close the connection; the
    protocol's own limits answer smaller oversize messages with an error), HTTP/1.1 with a
    deadline for headers and a cap per address (:func:`~.guards.guarded_http`), idle
    kept-alive connections closed after 5 s, quiet logs (a repeated error once per 10 s)."""
    import uvicorn

    limits = app.state.playground.limits
    options = {"ws": "wsproto", "ws_per_message_deflate": False, "ws_max_size": 4 * 2**20,
               "http": guarded_http(limits["header_timeout"], limits["max_pending_per_client"]),
               "timeout_keep_alive": 5, "log_level": "warning", "timeout_graceful_shutdown": 2,
               **kwargs}
    config = uvicorn.Config(app, **options)
    quiet_repeated_logs()
    return config


def serve_in_thread(app, host: str = "127.0.0.1"):
    """Run ``app`` on a free port in a daemon thread (tests, benchmarks).

    Returns ``(server, thread, url)``; stop with ``server.should_exit = True`` and
    ``thread.join()``.
    """
    import socket
    import threading

    import uvicorn

    sock = socket.socket()
    sock.bind((host, 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn_config(app, log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError("the playground server did not start")
    return server, thread, f"http://{host}:{sock.getsockname()[1]}/"
