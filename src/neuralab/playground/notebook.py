"""``nl.playground.show()``: the playground inside a notebook's output cell.

By default a Jupyter widget (``neuralab.playground.widget``) on the kernel's own channel.
With ``iframe=True`` (and in :func:`url`), the first call starts the playground's server in
a background thread of the kernel (local only: 127.0.0.1, a free port) and every call returns
a frame showing a new page of it, set up as ``state`` says (the fields of
:mod:`~neuralab.playground.protocol`, as in the page's URL).
The frame loads from the machine the kernel runs on, so this works when the notebook's
browser runs there too (Jupyter, JupyterLab, VS Code on this machine); for a remote kernel,
run ``neuralab playground`` there and open its link instead.
"""

from __future__ import annotations

import functools

from . import protocol


def url(state: dict | None = None) -> str:
    """The address of a page set up as ``state`` (checked: a bad field or value raises
    :class:`~neuralab.playground.protocol.ProtocolError` naming it); starts the server once."""
    checked = protocol.check_changes(dict(state or {}), protocol.default_state())
    given = {k: checked[k] for k in (state or {})}
    return _start() + protocol.to_fragment(given)


def show(state: dict | None = None, *, iframe: bool = False, width: str | int = "100%",
         height: int = 880):
    """The playground in the notebook: a widget whose page talks to the kernel over the
    notebook's own channel (``neuralab.playground.widget``; works in JupyterLab, Colab,
    JupyterHub and VS Code), which the cell displays. ``state`` sets it up, e.g.
    ``{"dataset": "xor", "hidden": [4, 4]}``.

    ``iframe=True``: the page of a server started in the kernel instead, in an
    ``IPython.display.IFrame`` of ``width`` × ``height`` (only where the browser runs on the
    kernel's machine)."""
    if iframe:
        from IPython.display import IFrame

        return IFrame(url(state), width=width, height=height)
    try:
        from .widget import PlaygroundWidget
    except ImportError as exc:
        raise ImportError("the playground widget needs anywidget: pip install "
                          f"'neuralab[notebook]' (or show(..., iframe=True)): {exc}") from exc
    return PlaygroundWidget(state)


def _start() -> str:
    """The URL of this kernel's playground server, started on first use (again if its
    thread has ended)."""
    if not _server()[1].is_alive():
        _server.cache_clear()
    return _server()[2]


@functools.cache
def _server():
    """(uvicorn server, thread, url): one per kernel, local, framable by local pages."""
    from .server import create_app, serve_in_thread

    return serve_in_thread(create_app(embed=True))
