"""The playground as a Jupyter widget: the page's frames and controls on the kernel's own channel.

``nl.playground.show()`` returns a :class:`PlaygroundWidget` (anywidget). Its page is the
server's page, the same modules of ``static/``: the widget's JavaScript loads them, puts
``index.html``'s body in a shadow root (its style sheet, scoped there, cannot touch
JupyterLab's) and hands ``main.js`` the comm instead of a WebSocket (``transport.js``).
Nothing travels outside the notebook's connection to its kernel, so it works wherever the
notebook runs: JupyterLab, Colab, JupyterHub, VS Code with a remote kernel.

In the kernel, each page that shows the widget gets a
:class:`~neuralab.playground.connection._Connection`, the server's own message handler, on a
:class:`_CommChannel`: the same protocol messages, the same checks and limits, frames paced by
the page's acks. The connections run in one event loop in a background thread of the kernel
and train in the playground's thread pool, so the kernel stays free for other cells. Training
stops when the widget is closed, when its page goes (a closed view pauses it; frames that no
page acknowledges are not trained), and at most ``max_fps`` frames a second are drawn.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import secrets
import threading
from concurrent.futures import Future
from pathlib import Path

import anywidget
import traitlets

from . import protocol
from .connection import Playground, _Connection
from .session import Session

STATIC = Path(__file__).parent / "static"

#: The server's limits, for a page that only its own notebook reaches: it may sit paused for
#: a week, and draws at most 30 frames a second (each one crosses the kernel's channel).
LIMITS = {**protocol.LIMITS, "idle_timeout": 7 * 24 * 3600.0, "max_fps": 30.0}


#: What a page that cannot show widgets (the static site, a terminal) shows instead.
TEXT = ("The playground runs on your machine, or wherever this notebook's kernel runs: open the "
        "notebook in JupyterLab, Colab, JupyterHub or VS Code and run this cell to train it "
        "live (`neuralab playground` starts it without a notebook).")


def _scoped_css(css: str) -> str:
    """``style.css`` for the page inside a shadow root: ``:root`` is the widget's host,
    ``body`` the page's own element (``.page-body``), the box floating boxes are placed in."""
    css = css.replace(":root", ":host")
    css = re.sub(r"(^|[\s,{}(])body\b", r"\1.page-body", css, flags=re.MULTILINE)
    # the tooltip and the weight editor are placed in the widget's element (network.js)
    return css + "\n.page-body { position: relative; }\n"


def _page_body(html: str) -> str:
    """The contents of ``index.html``'s ``<body>`` (its scripts are loaded by the widget)."""
    body = html[html.index("<body>") + len("<body>"):html.index("</body>")]
    return re.sub(r"<script\b.*?</script>", "", body, flags=re.DOTALL)


_LOADER = """
const MODULES = %(modules)s, CSS = %(css)s, BODY = %(body)s;

// each view loads its own instances of the page's modules (blob URLs; "./x.js" imports
// rewritten to the blob of x.js), so two views of the playground do not share a page
function loader() {
  const urls = {};
  const url = (name) => urls[name] ??= URL.createObjectURL(new Blob(
    [MODULES[name].replace(/from\\s+"\\.\\/([\\w-]+\\.js)"/g, (_, dep) => `from "${url(dep)}"`)],
    {type: "text/javascript"}));
  return {url, revoke: () => Object.values(urls).forEach((u) => URL.revokeObjectURL(u))};
}

export default {
  async render({model, el}) {
    const host = document.createElement("div");
    host.className = "neuralab-playground";
    el.append(host);
    const root = host.attachShadow({mode: "open"});
    const style = document.createElement("style");
    style.textContent = CSS;
    const body = document.createElement("div");
    body.className = "page-body";
    body.innerHTML = BODY;
    body.querySelector("#classroom-link")?.parentElement.remove();   // no address to share
    root.append(style, body);
    const modules = loader();
    const {page} = await import(modules.url("page.js"));
    const {commTransport} = await import(modules.url("transport.js"));
    Object.assign(page, {root, body, hash: model.get("hash"), transport: commTransport(model)});
    await import(modules.url("main.js"));
    return () => {        // the view goes (cell cleared, output closed): its training pauses
      page.transport.send(JSON.stringify({type: "pause"}));
      page.transport.dispose();
      modules.revoke();
    };
  },
};
"""


@functools.cache
def _esm() -> str:
    modules = {p.name: p.read_text(encoding="utf-8") for p in sorted(STATIC.glob("*.js"))}
    return _LOADER % {
        "modules": json.dumps(modules),
        "css": json.dumps(_scoped_css((STATIC / "style.css").read_text(encoding="utf-8"))),
        "body": json.dumps(_page_body((STATIC / "index.html").read_text(encoding="utf-8")))}


@functools.cache
def _kernel_side() -> tuple[Playground, asyncio.AbstractEventLoop]:
    """The playground (thread pool, fair shares) and the event loop of this kernel's widgets,
    running in a daemon thread (it ends with the kernel)."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="playground-widgets", daemon=True).start()
    return Playground(limits=LIMITS), loop


class _CommChannel:
    """What a connection reads and writes, on the widget's comm (the shape of Starlette's
    WebSocket, :mod:`~neuralab.playground.connection`): text messages as ``{"text": ...}``,
    binary frames as one buffer of ``{"binary": true}``."""

    def __init__(self, widget: PlaygroundWidget, loop: asyncio.AbstractEventLoop):
        self.widget, self.loop = widget, loop
        self.inbox: asyncio.Queue = asyncio.Queue()

    def put(self, message: dict) -> None:
        """From any thread (the kernel's comm handler): a message for the connection."""
        self.loop.call_soon_threadsafe(self.inbox.put_nowait, message)

    def hang_up(self) -> None:
        self.put({"type": "websocket.disconnect"})

    async def receive(self) -> dict:
        return await self.inbox.get()

    async def send_text(self, text: str) -> None:
        self.widget.send({"text": text})

    async def send_bytes(self, data: bytes) -> None:
        self.widget.send({"binary": True}, buffers=[data])

    async def close(self, code: int = 1000) -> None:
        self.widget.send({"closed": "the session ended"})


class PlaygroundWidget(anywidget.AnyWidget):
    """The playground in a notebook's output (see the module's text). ``state``: how the page
    starts, the fields of :mod:`~neuralab.playground.protocol` (checked here: a bad field or
    value raises :class:`~neuralab.playground.protocol.ProtocolError` naming it)."""

    _esm = _esm()
    #: the page's setup, as the server page's address carries it (``#dataset=xor&...``)
    hash = traitlets.Unicode("").tag(sync=True)
    session: Session | None = None
    _channel: _CommChannel | None = None

    def __init__(self, state: dict | None = None, **kwargs):
        checked = protocol.check_changes(dict(state or {}), protocol.default_state())
        playground, self._loop = _kernel_side()
        self._playground = playground
        super().__init__(hash=protocol.to_fragment({k: checked[k] for k in (state or {})}),
                         **kwargs)
        self.session = Session(limits=playground.limits)
        self._running: Future | None = None     # the connection's future, in the widgets' loop
        self.on_msg(self._on_page_message)

    def _repr_mimebundle_(self, **kwargs):
        """The widget's view, and a text for what cannot show widgets (a static page)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):           # (data, metadata)
            return {**bundle[0], "text/plain": TEXT}, bundle[1]
        return None if bundle is None else {**bundle, "text/plain": TEXT}

    def _on_page_message(self, _widget, content, buffers) -> None:
        if not isinstance(content, dict):
            return
        if content.get("ready"):            # a page appeared: it gets a connection (hello)
            self._connect()
        elif isinstance(content.get("text"), str) and self._channel is not None:
            self._channel.put({"type": "websocket.receive", "text": content["text"]})

    def _connect(self) -> None:
        """A new connection to this widget's session (the newest page drives it; an older
        one's connection ends)."""
        self._disconnect()
        self._channel = _CommChannel(self, self._loop)
        conn = _Connection(self._channel, self.session, self._playground)
        sid = secrets.token_urlsafe(16)
        previous = self._running

        async def run():
            if previous is not None:        # one connection drives the session at a time
                await asyncio.gather(asyncio.wrap_future(previous), return_exceptions=True)
            self._playground.connections[sid] = conn
            try:
                await conn.run(sid)
            finally:
                self._playground.connections.pop(sid, None)

        self._running = asyncio.run_coroutine_threadsafe(run(), self._loop)

    def _disconnect(self) -> None:
        if self._channel is not None:
            self._channel.hang_up()
            self._channel = None
        if self.session is not None:
            self.session.pause()

    def close(self) -> None:
        """Stop training and close the widget (its page says so)."""
        self._disconnect()
        super().close()
