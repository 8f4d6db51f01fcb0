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

import json
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from .connection import Playground, _Connection
from .guards import EveryResponse, guarded_http, quiet_repeated_logs
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


def _origin_ok(ws) -> bool:
    """A browser's page must come from this server (no Origin: not a browser)."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == ws.headers.get("host")


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
