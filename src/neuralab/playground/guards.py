"""The server's guards against a page, a client or a flood taking more than its share.

* :class:`FairShare`: the training pool's time shared between sessions (fair queuing);
* :func:`guarded_http`: uvicorn's HTTP/1.1 protocol with a deadline for a request's headers
  and a cap on the connections one address holds before they become pages;
* :class:`RepeatedLogFilter`: an error repeated many times a second (``socket.accept() out of
  system resource`` when the process runs out of file descriptors) logged once per interval,
  with a count;
* :class:`EveryResponse`: headers on every HTTP response (``Referrer-Policy``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time


class FairShare:
    """The pool's time shared fairly between sessions (start-time fair queuing): at most
    ``slots`` jobs run at once; when one ends, the waiting session that has used the least
    pool time goes next. Each session's ``vtime`` grows by the seconds its jobs took, and a
    session that was idle starts level with the others (no credit saved up), so a page with
    light frames is served between every two heavy frames of the others."""

    def __init__(self, slots: int):
        self.free, self.clock = slots, 0.0
        self.waiting: list = []             # heap of (vtime, arrival, future)
        self.order = itertools.count()

    async def run(self, conn, pool, fn, *args):
        loop = asyncio.get_running_loop()
        conn.vtime = max(conn.vtime, self.clock)
        if self.free and not self.waiting:
            self.free -= 1
        else:
            turn = loop.create_future()
            heapq.heappush(self.waiting, (conn.vtime, next(self.order), turn))
            try:
                await turn                      # the slot is handed over
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._release()             # handed over as we left: pass it on
                raise
        self.clock = max(self.clock, conn.vtime)
        start = time.perf_counter()
        try:
            return await loop.run_in_executor(pool, fn, *args)
        finally:
            conn.vtime += time.perf_counter() - start
            self._release()

    def _release(self):
        while self.waiting:
            _, _, turn = heapq.heappop(self.waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1


def guarded_http(header_timeout: float, max_pending: int):
    """uvicorn's h11 protocol class with two guards (``uvicorn.Config(http=...)``):

    * a request whose headers have not all arrived ``header_timeout`` s after the connection
      opened (or after the previous response, on a kept-alive connection) is closed: sockets
      held open by half-sent requests cannot pile up until the process runs out of files;
    * one address holds at most ``max_pending`` connections that are not yet pages
      (WebSockets): more are closed at once, so no one client fills the server.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    pending: dict = {}                  # address -> connections at the HTTP stage
    refused = logging.getLogger("neuralab.playground")

    class GuardedH11(H11Protocol):
        _timer = None
        _address = None                 # counted in ``pending`` while set

        def connection_made(self, transport):
            super().connection_made(transport)
            address = self.client[0] if self.client else None
            if pending.get(address, 0) >= max_pending:
                refused.warning("refused a connection from %s: it holds %d already, the most "
                                "one address may open", address, max_pending)
                transport.close()
                return
            self._address = address
            pending[address] = pending.get(address, 0) + 1
            self._arm()

        def _arm(self):
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_later(header_timeout, self._headers_late)

        def _headers_late(self):
            self._timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()          # a request begun, never finished (or none)

        def _forget(self):
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            address, self._address = self._address, None
            if address is not None:
                pending[address] -= 1
                if not pending[address]:
                    del pending[address]

        def on_response_complete(self):
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()                     # the next request's headers: same deadline

        def handle_websocket_upgrade(self, event):
            self._forget()                      # a page now: the session limits apply
            super().handle_websocket_upgrade(event)

        def connection_lost(self, exc):
            self._forget()
            super().connection_lost(exc)

    return GuardedH11


class RepeatedLogFilter(logging.Filter):
    """Lets a message (its first line, per logger) through once per ``interval`` seconds;
    the next one through says how many were held back meanwhile."""

    def __init__(self, interval: float = 10.0, clock=time.monotonic):
        super().__init__()
        self.interval, self.clock = interval, clock
        self.seen: dict = {}            # (logger, first line) -> [window start, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg).split("\n", 1)[0])
        now = self.clock()
        seen = self.seen.get(key)
        if seen is not None and now - seen[0] < self.interval:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.msg = (f"{record.msg}\n(and {seen[1]} more like it in the last "
                          f"{now - seen[0]:.0f} s, not logged)")
        self.seen[key] = [now, 0]
        if len(self.seen) > 1000:       # many different messages: keep the table small
            self.seen = {key: self.seen[key]}
        return True


#: The loggers whose repeated errors are held back: asyncio's (accept errors) and uvicorn's.
NOISY = ("asyncio", "uvicorn.error", "uvicorn", "neuralab.playground")


def quiet_repeated_logs(interval: float = 10.0) -> None:
    """Install :class:`RepeatedLogFilter` on the :data:`NOISY` loggers (once)."""
    for name in NOISY:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatedLogFilter) for f in logger.filters):
            logger.addFilter(RepeatedLogFilter(interval))


class EveryResponse:
    """ASGI middleware: ``headers`` added to every HTTP response (pages, static files, errors),
    e.g. ``Referrer-Policy: no-referrer``: a link followed from the page does not carry the
    page's URL, token included, to another site."""

    def __init__(self, app, headers: dict):
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
