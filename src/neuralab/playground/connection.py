"""One page's connection to its session, whatever carries the messages.

The server's WebSocket (:mod:`~neuralab.playground.server`) and the notebook widget's comm
(:mod:`~neuralab.playground.widget`) both hand a :class:`_Connection` a *channel*: an object
with ``receive()`` (awaitable; ``{"type": "websocket.receive", "text": ...}`` or
``{"type": "websocket.disconnect"}``), ``send_text(str)``, ``send_bytes(bytes)`` and
``close(code)``, as Starlette's WebSocket has them. The connection checks every message
(:mod:`~neuralab.playground.protocol`), drives the :class:`~.session.Session` and sends its
frames paced by the page's acks, so both pages see one handler. Training runs in the
:class:`Playground`'s small thread pool so that the event loop keeps answering.

Nothing here imports Starlette or uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

from . import _config, export, frames, protocol
from .guards import FairShare
from .protocol import ProtocolError


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
                                          "playing": s.playing, "changes": s.changes})
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
    if isinstance(exc, (ConnectionError, RuntimeError)):
        return True
    try:
        from starlette.websockets import WebSocketDisconnect
    except ImportError:             # the widget's channel: no Starlette installed
        return False
    return isinstance(exc, WebSocketDisconnect)
