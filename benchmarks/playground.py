"""The playground's speed: ``python -m benchmarks.playground [--seconds S] [--sessions N]``.

Runs the server (uvicorn, in this process) and headless Chromium (Debian's, through
Playwright) on this machine and measures, for a 2-8-8-8-1 tanh network on 500 points with the
100×100 output and every neuron's thumbnail:

* frames/s drawn by the page at 25 steps per frame (one epoch of the 250 training points at
  batch 10), and training steps/s at 100 steps per frame;
* the latency from a control change (the learning rate) to the first frame drawn with it;
* N pages at once (default 20) against ``neuralab playground --workers W`` (default: one
  process per core) started as a process of its own: frames/s of each page, and the server's
  resident memory per session (the growth of its processes' RSS, divided by N);
* N sessions driven by bare WebSocket clients (in a process of their own) that acknowledge
  every frame at once: what the server alone sustains when the pages run on other machines
  (a classroom);
* a normal session (the network above) beside 4 heavy ones (8 classes, 2,000 points, 6×8
  layers, a race of 4, 100 steps per frame at batch 1), bare clients: the normal one's frames/s
  shows the compute share per session at work (``--only-heavy``: this alone, no browser);
* the session alone, without server or browser: milliseconds per frame (training + drawing).

Prints a Markdown table (paste it into BENCHMARKS.md under "Playground").
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from neuralab.playground.server import create_app, serve_in_thread
from neuralab.playground.session import Session

CHROMIUM = "/usr/bin/chromium"
SETUP = "#dataset=circle&hidden=8%2C8%2C8&activation=tanh&points=500&batchSize=10"


def _rss_mb(pid="self") -> float:
    """Resident memory of process ``pid`` and its children (a server's workers), MB."""
    total, pids = 0.0, [pid]
    if pid != "self":
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += f.read().split()
    for p in pids:
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


def _start_server(workers):
    """``neuralab playground --workers N`` in a process of its own; (process, url)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "neuralab.cli", "playground", "--no-browser",
                             "--workers", str(workers), "--max-sessions", "64",
                             "--max-per-client", "64"],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split()[-1]
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:              # the workers import neuralab, then listen
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    time.sleep(2.0)                                 # every worker, not only the first
    return proc, url


def _stop_server(proc):
    import signal

    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


def _session_alone(seconds):
    s = Session({"dataset": "circle", "hidden": [8, 8, 8], "stepsPerFrame": 25})
    out = {}
    for spf in (25, 100):
        s.update({"stepsPerFrame": spf})
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 2:
            s.advance()
            s.frame()
            n += 1
        dt = time.perf_counter() - t0
        out[spf] = (1000 * dt / n, n * spf / dt)
    return out


def _open(context, url, setup=SETUP):
    page = context.new_page()
    page.goto(url + setup)
    page.wait_for_function("() => location.hash.includes('hidden=8%2C8%2C8')", timeout=30000)
    page.wait_for_function("() => window.playground && window.playground.frames >= 1",
                           timeout=30000)
    return page


def _rate(page, seconds):
    """(frames/s drawn, steps/s trained) over ``seconds`` while playing."""
    f0, s0 = page.evaluate("() => [window.playground.frames, window.playground.scalars.step]")
    t0 = time.perf_counter()
    time.sleep(seconds)
    f1, s1 = page.evaluate("() => [window.playground.frames, window.playground.scalars.step]")
    dt = time.perf_counter() - t0
    return (f1 - f0) / dt, (s1 - s0) / dt


def _latency(page, trials=12):
    """Milliseconds from a learning-rate change to the first frame drawn with it."""
    out = []
    for k in range(trials):
        lr = [0.01, 0.03][k % 2]
        ms = page.evaluate("""(lr) => new Promise((done) => {
            const select = document.querySelector('[data-field="lr"]');
            const t0 = performance.now();
            select.value = String(lr);
            select.dispatchEvent(new Event('change'));
            const poll = () => window.playground.scalars.lr === lr
                ? done(performance.now() - t0) : requestAnimationFrame(poll);
            requestAnimationFrame(poll);
        })""", lr)
        out.append(ms)
    return statistics.median(out), max(out)


#: The heaviest page the protocol allows (issue 22): 8 classes, 2,000 points, 6×8 layers, a race
#: of 4, 100 steps per frame at batch 1.
HEAVY = {"problem": "multiclass", "dataset": "gaussians", "classes": 8, "points": 2000,
         "hidden": [8] * 6, "stepsPerFrame": 100, "batchSize": 1,
         "race": [{"optimizer": "momentum", "lr": 0.03}, {"optimizer": "adam", "lr": 0.01},
                  {"optimizer": "rmsprop", "lr": 0.01}]}
NORMAL = {"hidden": [8, 8, 8], "dataset": "circle"}


def _raw_sessions(url, n, seconds, states=None):
    """Frames/s of each of ``n`` sessions driven by bare WebSocket clients that acknowledge
    every frame at once (no browser): what the server alone sustains for a classroom whose
    pages run on the students' machines. ``states``: each client's settings (default: the
    2-8-8-8-1 network on the circle)."""
    import json
    import selectors
    import socket
    import struct
    from urllib.parse import urlsplit

    from wsproto import WSConnection
    from wsproto.connection import ConnectionType
    from wsproto.events import AcceptConnection, BytesMessage, Request, TextMessage

    port = urlsplit(url).port
    sel = selectors.DefaultSelector()
    clients = []
    states = states or [NORMAL] * n
    for k in range(n):
        conn = WSConnection(ConnectionType.CLIENT)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(conn.send(Request(host=f"127.0.0.1:{port}", target="/ws")))
        client = {"conn": conn, "sock": sock, "frames": 0, "buf": bytearray(),
                  "state": states[k]}
        sel.register(sock, selectors.EVENT_READ, client)
        clients.append(client)

    def say(client, message):
        client["sock"].sendall(client["conn"].send(TextMessage(data=json.dumps(message))))

    counting, end = None, time.perf_counter() + seconds + 2.0
    while time.perf_counter() < end:
        if counting is None and time.perf_counter() > end - seconds:
            counting = [c["frames"] for c in clients]
        for key, _ in sel.select(timeout=0.1):
            client = key.data
            client["conn"].receive_data(client["sock"].recv(1 << 20))
            for event in client["conn"].events():
                if isinstance(event, AcceptConnection):
                    say(client, {"type": "set", "state": client["state"]})
                    say(client, {"type": "play"})
                elif isinstance(event, BytesMessage):
                    client["buf"] += event.data
                    if event.message_finished:
                        kind, seq = struct.unpack_from("<HI", client["buf"], 6)
                        client["buf"] = bytearray()
                        if kind == 1:
                            client["frames"] += 1
                            say(client, {"type": "ack", "seq": seq})
    rates = [(c["frames"] - c0) / seconds for c, c0 in zip(clients, counting, strict=True)]
    for c in clients:
        sel.unregister(c["sock"])
        c["sock"].close()
    return rates


def _beside_heavy(workers, seconds, heavy=4):
    """Frames/s of a normal session beside ``heavy`` sessions at the heaviest settings, all
    on ``neuralab playground --workers W`` (bare clients in a process of their own): the
    compute share per session (``frame_budget``, fair queuing) keeps the normal one going."""
    import multiprocessing

    proc, url = _start_server(workers)
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            rates = pool.apply(_raw_sessions, (url, heavy + 1, seconds,
                                               [NORMAL] + [HEAVY] * heavy))
    finally:
        _stop_server(proc)
    return rates[0], rates[1:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.playground")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--sessions", type=int, default=20, help="pages at once")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="server processes for the many-pages measurements (default: cores)")
    parser.add_argument("--only-heavy", action="store_true",
                        help="only the normal session beside 4 heavy ones (no browser)")
    args = parser.parse_args(argv)
    if args.only_heavy:
        load = os.getloadavg()
        _print_rows(load, [_heavy_row(args.workers, args.seconds)])
        return 0
    from playwright.sync_api import sync_playwright

    load = os.getloadavg()
    alone = _session_alone(args.seconds)
    app = create_app(limits={"max_sessions": max(32, args.sessions + 2)})
    server, thread, url = serve_in_thread(app)
    rows = []
    try:
        with sync_playwright() as p:
            # every page stands for a student's foreground tab: no background throttling
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-renderer-backgrounding",
                "--disable-background-timer-throttling",
                "--disable-backgrounding-occluded-windows"])
            context = browser.new_context(bypass_csp=True, viewport={"width": 1400,
                                                                     "height": 1000})
            page = _open(context, url)
            page.get_by_role("button", name="Play").click()
            time.sleep(1.0)
            fps, steps = _rate(page, args.seconds)
            rows.append(("one page, 25 steps/frame (1 epoch)", f"{fps:.1f} frames/s",
                         f"{steps / max(fps, 1e-9) / 25:.2f} epochs/frame", "≥ 30 frames/s, "
                         "≥ 1 epoch/frame"))
            latency = _latency(page)
            rows.append(("control change → next frame drawn", f"{latency[0]:.0f} ms median",
                         f"{latency[1]:.0f} ms worst of 12", "≤ 100 ms"))
            page.get_by_label("Steps per frame", exact=True).fill("100")
            page.get_by_label("Steps per frame", exact=True).press("Enter")
            page.wait_for_function("() => location.hash.includes('stepsPerFrame=100')")
            time.sleep(1.0)
            fps, steps = _rate(page, args.seconds)
            rows.append(("one page, 100 steps/frame", f"{steps:,.0f} steps/s",
                         f"{fps:.1f} frames/s", "≥ 2,000 steps/s"))
            page.close()
            # a classroom: the server in its own processes (--workers: one per core); first
            # its own capacity, with bare clients in a process of their own (in this one they
            # would take the GIL from a server in a thread; here they keep theirs apart)
            server_proc, url = _start_server(args.workers)
            import multiprocessing

            with multiprocessing.get_context("spawn").Pool(1) as pool:
                bare = pool.apply(_raw_sessions, (url, args.sessions, args.seconds))
            rss0 = _rss_mb(server_proc.pid)
            pages = [_open(browser.new_context(bypass_csp=True), url)
                     for _ in range(args.sessions)]
            for pg in pages:
                pg.get_by_role("button", name="Play").click()
            time.sleep(2.0)
            starts = [pg.evaluate("() => window.playground.frames") for pg in pages]
            t0 = time.perf_counter()
            time.sleep(args.seconds)
            ends = [pg.evaluate("() => window.playground.frames") for pg in pages]
            dt = time.perf_counter() - t0
            rates = [(b - a) / dt for a, b in zip(starts, ends, strict=True)]
            rss1 = _rss_mb(server_proc.pid)
            rows.append((f"{args.sessions} pages at once ({args.workers} server processes)",
                         f"{min(rates):.1f} frames/s slowest",
                         f"{statistics.median(rates):.1f} median, "
                         f"{sum(rates):.0f} in all", "each ≥ 10 frames/s"))
            rows.append((f"server memory per session ({args.sessions}, all processes)",
                         f"{(rss1 - rss0) / args.sessions:.1f} MB", f"RSS {rss0:.0f} → "
                         f"{rss1:.0f} MB", "≤ 20 MB"))
            browser.close()
        _stop_server(server_proc)
        heavy = _heavy_row(args.workers, args.seconds)
        rates = bare
        rows.append((f"{args.sessions} sessions, bare WebSocket clients (no browser, "
                     f"{args.workers} server processes)",
                     f"{min(rates):.1f} frames/s slowest", f"{statistics.median(rates):.1f} "
                     f"median, {sum(rates):.0f} in all", "each ≥ 10 frames/s"))
        rows.append(heavy)
    finally:
        server.should_exit = True
        thread.join(10)
    for spf, (ms, sps) in alone.items():
        rows.append((f"session alone, {spf} steps/frame", f"{ms:.2f} ms/frame",
                     f"{sps:,.0f} steps/s", "(no server, no browser)"))
    _print_rows(load, rows)
    return 0


def _heavy_row(workers, seconds):
    normal, heavy = _beside_heavy(workers, seconds)
    return (f"a normal session beside 4 heavy ones (8 classes, 2,000 points, 6×8, race of 4, "
            f"100 steps/frame, batch 1; {workers} server processes)",
            f"{normal:.1f} frames/s normal",
            "heavy: " + ", ".join(f"{r:.1f}" for r in heavy) + " frames/s", "≥ 20 frames/s")


def _print_rows(load, rows):
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"({os.cpu_count()} cores); end: {os.getloadavg()[0]:.2f}")
    print("| measurement | result | detail | target |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
