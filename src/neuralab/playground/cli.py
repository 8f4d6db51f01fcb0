"""``neuralab playground [--port N] [--host H] [--no-browser] [--workers N]``: start the server,
print the URL, open the browser; Ctrl-C stops it.

With ``--workers N`` the server runs in N processes listening on the same port (SO_REUSEPORT:
the kernel spreads the connections over them); a page's WebSocket, and so its session, stays
with the process that accepted it, and the sessions train on N cores instead of one (Python's
interpreter lock keeps one process on one core).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
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
    parser.add_argument("--max-per-client", type=int, default=None,
                        help="most pages one address may hold, per worker process (default "
                             "8); raise it when a class reaches the server through one "
                             "address (a proxy, NAT)")
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
    for option in ("max_sessions", "max_per_client"):
        value = getattr(args, option)
        if value is not None and value < 1:
            print(f"neuralab: error: --{option.replace('_', '-')} must be at least 1, got "
                  f"{value}", file=sys.stderr)
            return 2
    if not 1 <= args.workers <= 64:
        print(f"neuralab: error: --workers must be 1-64, got {args.workers}", file=sys.stderr)
        return 2
    if args.workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
        print("neuralab: error: --workers needs SO_REUSEPORT, which this system lacks "
              "(Linux and macOS have it); run one process", file=sys.stderr)
        return 2
    stop_signals = _stop_on_signals()         # before the port exists: no moment unguarded
    try:
        return _run(args)
    except KeyboardInterrupt:                 # stopped before the server began
        return 0
    finally:
        for sig, handler in stop_signals.items():
            signal.signal(sig, handler)


def _run(args) -> int:
    from .server import create_app, uvicorn_config

    local = args.host in LOCAL
    token = None if local else secrets.token_urlsafe(24)
    limits = {key: value for key, value in (("max_sessions", args.max_sessions),
                                            ("max_sessions_per_client", args.max_per_client))
              if value is not None}
    try:      # with workers, this process only holds the port; each worker listens on it
        sock = _bind(args.host, args.port, listen=args.workers == 1,
                     reuse_port=args.workers > 1)
    except OSError as exc:
        print(f"neuralab: error: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    try:
        url = _announce(args, port, token)
        if not args.no_browser:
            threading.Thread(target=_open_when_listening, args=(sock, url),
                             daemon=True).start()
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


def _announce(args, port, token) -> str:
    """Print the link(s) to the page; returns the first (the one the browser opens)."""
    urls = links(args.host, port, token)
    print(f"neuralab playground: {urls[0]}", flush=True)
    for other in urls[1:]:
        print(f"  also: {other}", flush=True)
    if args.host in WILDCARD and urls[0].startswith("http://127.0.0.1:"):
        print("  (no network address found: other machines cannot reach this link; give them "
              "this machine's address with the same port and token)", flush=True)
    if token:
        print("  (reachable from other machines: share this link, token included; "
              "connections without it are refused)", flush=True)
    if args.workers > 1:
        print(f"  {args.workers} worker processes", flush=True)
    print("  Ctrl-C stops it.", flush=True)
    return urls[0]


#: Hosts that mean "every interface of this machine".
WILDCARD = ("0.0.0.0", "::", "")


def links(host: str, port: int, token: str | None = None) -> list[str]:
    """The page's links for a server bound to ``host``: the loopback address for a local
    server (``[::1]`` for ``::1``), the machine's LAN addresses for ``0.0.0.0``/``::`` (the
    ones students can type; 127.0.0.1 when there are none), else ``host`` itself."""
    if host in ("127.0.0.1", "localhost"):
        shown = ["127.0.0.1"]
    elif host in WILDCARD:
        shown = lan_addresses(ipv6=host == "::") or ["127.0.0.1"]
    else:
        shown = [host]
    query = f"?token={token}" if token else ""
    return [f"http://{f'[{h}]' if ':' in h else h}:{port}/{query}" for h in shown]


def lan_addresses(ipv6: bool = False) -> list[str]:
    """This machine's addresses that other machines can reach (no loopback, no link-local),
    most likely first: the one the system routes outward by (:func:`_route_address`), then
    what the host name resolves to, then every interface's (:func:`_interface_addresses`).
    IPv4 ones; with ``ipv6`` also IPv6 ones (a ``::`` socket accepts both)."""
    import ipaddress

    families = [socket.AF_INET] + ([socket.AF_INET6] if ipv6 else [])
    found = []
    for family in families:
        found += [a for a in [_route_address(family)] if a]
        try:
            found += [str(info[4][0]) for info in socket.getaddrinfo(
                socket.gethostname(), None, family, socket.SOCK_STREAM)]
        except (OSError, UnicodeError):
            pass
    found += _interface_addresses()
    out = []
    for address in found:
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            continue
        if (ip.version == 6 and not ipv6) or ip.is_loopback or ip.is_link_local \
                or ip.is_unspecified or ip.is_multicast or str(ip) in out:
            continue
        out.append(str(ip))
    return out


def _route_address(family) -> str | None:
    """The local address of the interface that routes outward: a UDP socket "connected" to a
    documentation address (TEST-NET-1, 2001:db8::) sends nothing, but makes the system pick
    its source address. None without a route."""
    target = ("2001:db8::1", 9) if family == socket.AF_INET6 else ("192.0.2.1", 9)
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.connect(target)
            return udp.getsockname()[0]
    except OSError:
        return None


def _interface_addresses() -> list[str]:
    """Every network interface's IPv4 address (Linux: the SIOCGIFADDR ioctl); [] elsewhere."""
    if not sys.platform.startswith("linux"):
        return []
    import fcntl
    import struct

    out = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(udp.fileno(), 0x8915,          # SIOCGIFADDR
                                     struct.pack("256s", name.encode()[:15]))
            except OSError:                                         # no IPv4 address
                continue
            out.append(socket.inet_ntoa(packed[20:24]))
    return out


#: The signals that stop the server: Ctrl-C, ``kill``/a supervisor, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGHUP,) if hasattr(signal, "SIGHUP")
                                                  else ())


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop_on_signals() -> dict:
    """SIGTERM and SIGHUP stop the server as Ctrl-C does (the default would end this process
    at once: with ``--workers`` its workers would live on, still serving). Returns the
    handlers it replaced. Only the main thread may set them (tests call ``main`` elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS[1:]}


def _serve(sock, app, uvicorn_config) -> None:
    """uvicorn on ``sock`` until a stop signal: uvicorn itself turns SIGINT and SIGTERM into
    a graceful stop (connections closed, at most ``timeout_graceful_shutdown`` s), and so does
    SIGHUP here."""
    import uvicorn

    server = uvicorn.Server(uvicorn_config(app))
    hangup = getattr(signal, "SIGHUP", None)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(hangup, server.handle_exit) if hangup and main_thread else None
    try:
        server.run(sockets=[sock])
    finally:
        if hangup is not None and previous is not None:
            signal.signal(hangup, previous)
        app.state.playground.pool.shutdown(wait=False, cancel_futures=True)


def _serve_in_processes(host, port, workers, settings) -> None:
    """``workers`` processes, each listening on ``host``: ``port`` with SO_REUSEPORT, so the
    kernel spreads the pages' connections over them (one shared socket would let the process
    that happens to wait in accept() take most of them). A page's WebSocket, and so its
    session, stays with the process that accepted it. Returns when one process ends (the
    others are then stopped) or on Ctrl-C."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_worker, args=(host, port, settings, os.getpid()),
                               daemon=True) for _ in range(workers)]
    try:
        for process in processes:
            process.start()
        while all(process.is_alive() for process in processes):
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.pid is not None:
                process.terminate()         # SIGTERM: uvicorn closes its connections
        deadline = time.monotonic() + 5
        for process in processes:
            if process.pid is not None:
                process.join(max(0.1, deadline - time.monotonic()))
                if process.is_alive():      # stuck in a frame: no more waiting
                    process.kill()
                    process.join(2)


def _worker(host, port, settings, parent) -> None:
    """One worker process: its own listening socket on the shared port, its app, its sessions.
    It stops on SIGTERM (from the parent) and by itself when the parent is gone."""
    from .server import create_app, uvicorn_config

    for sig in STOP_SIGNALS:
        if sig != signal.SIGTERM:                      # the parent decides when to stop
            signal.signal(sig, signal.SIG_IGN)
    _exit_with_parent(parent)
    sock = _bind(host, port, reuse_port=True)
    try:
        _serve(sock, create_app(**settings), uvicorn_config)
    finally:
        sock.close()


def _exit_with_parent(parent: int, interval: float = 0.5, grace: float = 5.0) -> None:
    """Stop this worker when process ``parent`` ends, however it ends (SIGKILL included):
    Linux sends SIGTERM at once (``prctl(PR_SET_PDEATHSIG)``); elsewhere, and for a parent
    that died before this ran, a watchdog thread sees ``os.getppid()`` change within
    ``interval`` s, sends SIGTERM, and ends the process ``grace`` s later if still running."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)            # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass

    def watch():
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os._exit(1)

    threading.Thread(target=watch, name="playground-parent-watchdog", daemon=True).start()


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
