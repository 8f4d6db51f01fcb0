"""``neuralab playground [--port N] [--host H] [--no-browser] [--workers N]``: start the server,
print the URL, open the browser; Ctrl-C stops it.

With ``--workers N`` the server runs in N processes listening on the same port (SO_REUSEPORT:
the kernel spreads the connections over them); a page's WebSocket, and so its session, stays
with the process that accepted it, and the sessions train on N cores instead of one (Python's
interpreter lock keeps one process on one core).
"""

from __future__ import annotations

import argparse
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


def _bind(host: str, port: int | None, listen: bool = True,
          reuse_port: bool = False) -> socket.socket:
    """A socket bound to ``host``: ``port`` (or a free port the system chooses), listening
    unless ``listen`` is False; ``reuse_port`` lets several processes bind the same port and
    the kernel spread the connections over the listening ones (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port or 0))
    if listen:
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
    if args.workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
        print("neuralab: error: --workers needs SO_REUSEPORT, which this system lacks "
              "(Linux and macOS have it); run one process", file=sys.stderr)
        return 2
    from .server import create_app, uvicorn_config

    local = args.host in LOCAL
    token = None if local else secrets.token_urlsafe(24)
    limits = {} if args.max_sessions is None else {"max_sessions": args.max_sessions}
    try:      # with workers, this process only holds the port; each worker listens on it
        sock = _bind(args.host, args.port, listen=args.workers == 1,
                     reuse_port=args.workers > 1)
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
            _serve_in_processes(args.host, port, args.workers,
                                {"token": token, "local": local, "limits": limits})
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


def _serve_in_processes(host, port, workers, settings) -> None:
    """``workers`` processes, each listening on ``host``: ``port`` with SO_REUSEPORT, so the
    kernel spreads the pages' connections over them (one shared socket would let the process
    that happens to wait in accept() take most of them). A page's WebSocket, and so its
    session, stays with the process that accepted it. Returns when one process ends (the
    others are then stopped) or on Ctrl-C."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_worker, args=(host, port, settings), daemon=True)
                 for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        while all(process.is_alive() for process in processes):
            time.sleep(0.2)
    finally:
        for process in processes:
            process.terminate()             # SIGTERM: uvicorn closes its connections
        for process in processes:
            process.join(10)


def _worker(host, port, settings) -> None:
    """One worker process: its own listening socket on the shared port, its app, its sessions."""
    import signal

    from .server import create_app, uvicorn_config

    signal.signal(signal.SIGINT, signal.SIG_IGN)       # the parent decides when to stop
    sock = _bind(host, port, reuse_port=True)
    try:
        _serve(sock, create_app(**settings), uvicorn_config)
    finally:
        sock.close()


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
