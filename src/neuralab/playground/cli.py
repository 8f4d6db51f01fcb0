"""``neuralab playground [--port N] [--host H] [--no-browser] [--workers N]``: start the server,
print the URL, open the browser; Ctrl-C stops it.

With ``--workers N`` the server runs in N processes that share the listening socket: a page's
WebSocket (and so its session) stays with the process that accepted it, and the sessions
train on N cores instead of one (Python's interpreter lock keeps one process on one core).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
import threading
import time
import webbrowser

MISSING = ('neuralab playground needs the "playground" extra (starlette, uvicorn, wsproto): '
           'pip install "neuralab[playground]"')
LOCAL = ("127.0.0.1", "localhost", "::1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuralab playground",
        description="Train and watch networks live in the browser (neuralab's own engine).")
    parser.add_argument("--port", type=int, default=None,
                        help="port to listen on (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1, this machine only); any "
                             "other host requires the printed link's token")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--max-sessions", type=int, default=None,
                        help="most pages at once, per worker process (default 32)")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes (default 1); for a classroom, the number of "
                             "cores: each page's session trains in one of them")
    return parser


def _missing() -> str | None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
        import wsproto  # noqa: F401
    except ImportError:
        return MISSING
    return None


def _bind(host: str, port: int | None) -> socket.socket:
    """A listening socket on ``host``: ``port``, or a free port chosen by the system."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port or 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    problem = _missing()
    if problem:
        print(f"neuralab: error: {problem}", file=sys.stderr)
        return 2
    if args.port is not None and not 0 < args.port < 65536:
        print(f"neuralab: error: --port must be 1-65535, got {args.port}", file=sys.stderr)
        return 2
    if not 1 <= args.workers <= 64:
        print(f"neuralab: error: --workers must be 1-64, got {args.workers}", file=sys.stderr)
        return 2
    from .server import create_app, uvicorn_config

    local = args.host in LOCAL
    token = None if local else secrets.token_urlsafe(24)
    limits = {} if args.max_sessions is None else {"max_sessions": args.max_sessions}
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"neuralab: error: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if local else (socket.gethostname() if args.host in ("0.0.0.0", "::")
                                       else args.host)
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    if token:
        url += f"?token={token}"
    print(f"neuralab playground: {url}", flush=True)
    if token:
        print("  (reachable from other machines: share this link, token included; "
              "connections without it are refused)", flush=True)
    if args.workers > 1:
        print(f"  {args.workers} worker processes", flush=True)
    print("  Ctrl-C stops it.", flush=True)
    if not args.no_browser:
        threading.Thread(target=_open_when_listening, args=(sock, url), daemon=True).start()
    try:
        if args.workers > 1:
            _serve_in_processes(sock, args.workers, token, local, limits)
        else:
            _serve(sock, create_app(token=token, local=local, limits=limits), uvicorn_config)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("neuralab playground: stopped", flush=True)
    return 0


def _serve(sock, app, uvicorn_config) -> None:
    import uvicorn

    try:
        uvicorn.Server(uvicorn_config(app)).run(sockets=[sock])
    finally:
        app.state.playground.pool.shutdown(wait=False, cancel_futures=True)


def _serve_in_processes(sock, workers, token, local, limits) -> None:
    """uvicorn's supervisor: ``workers`` processes accept on ``sock``; each builds its app
    from the settings put in the environment (:func:`~.server.app_from_env`)."""
    from uvicorn.supervisors import Multiprocess

    from .server import SETTINGS, uvicorn_config

    os.environ[SETTINGS] = json.dumps({"token": token, "local": local, "limits": limits})
    config = uvicorn_config("neuralab.playground.server:app_from_env", factory=True,
                            workers=workers)
    Multiprocess(config, sockets=[sock]).run()


def _open_when_listening(sock, url, timeout=10.0):
    """Open the browser once the server answers on ``sock``'s address."""
    host, port = sock.getsockname()[:2]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1" if host in ("0.0.0.0", "") else host,
                                           port), timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    webbrowser.open(url)


if __name__ == "__main__":
    sys.exit(main())
