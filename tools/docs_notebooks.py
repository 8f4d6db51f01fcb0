"""The course notebooks as the site publishes them: executed at build time, outputs embedded.

The notebooks are stored in ``docs/notebooks`` without outputs. ``executed(paths)`` runs a copy
of each in a fresh Python kernel (nbclient + ipykernel, as ``tests/test_notebooks.py`` does),
two at a time, in a scratch folder (nothing is written next to the stored notebooks), and
returns the paths of the executed copies, which mkdocs-jupyter renders. A cell that raises
fails the build, naming the notebook and the cell.

A copy is kept in ``.cache/notebooks/`` under a key made of the notebook and of every file of
``src/neuralab``, so ``mkdocs serve`` does not run the course again on each edit of a page;
any change to a notebook or to the library runs it again.

Output that only works next to the kernel is made static: the frame of
``nl.playground.show()`` (an ``<iframe>`` on the kernel's own ``http://127.0.0.1:PORT``, a
server that ends with the kernel) becomes a note saying how to open the playground, and the
Jupyter widgets (tqdm's progress bars, from ``verbose=1``) become the text of their final
state, so the page needs no widget manager from another host.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import os
import re
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "notebooks"
#: Seconds one cell may run before the build fails.
CELL_TIMEOUT = 300
#: Kernels run at once (the build machine has two cores).
WORKERS = 2

#: A frame or resource served by the kernel's machine (loopback), not by the site.
_LOCAL_FRAME = re.compile(r"<iframe[^>]*\bsrc=\"https?://(127\.0\.0\.1|localhost|\[::1\])",
                          re.IGNORECASE)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")        # the colors of IPython's tracebacks

PLAYGROUND_NOTE = (
    '<div class="admonition note"><p class="admonition-title">The playground runs in the '
    "notebook</p><p>Opened in Jupyter, Colab or VS Code, this cell shows the live playground "
    "(<code>pip install \"neuralab[notebook]\"</code>), trained by the notebook's kernel. "
    "Without a notebook, <code>neuralab playground</code> starts it and prints its "
    "link.</p></div>")


#: How the playground widget (``neuralab.playground.widget.TEXT``) begins its plain text.
PLAYGROUND_TEXT = "The playground runs on your machine, or wherever"


class NotebookFailed(RuntimeError):
    """A course notebook raised while the site was being built."""


def _library_key() -> bytes:
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "neuralab").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".js", ".css", ".html", ".json"):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.digest()


def cache_path(path: Path, library_key: bytes, cache: Path = CACHE) -> Path:
    """``.cache/notebooks/NAME/KEY/NAME.ipynb`` (the page's download keeps the name)."""
    path = Path(path)
    key = hashlib.sha256(library_key + path.read_bytes()).hexdigest()[:16]
    return Path(cache) / path.stem / key / path.name


def without_local_frames(nb):
    """``nb`` with every output that frames the kernel's own server replaced by the note."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            html = out.get("data", {}).get("text/html", "")
            if isinstance(html, list):
                html = "".join(html)
            if out.output_type in ("display_data", "execute_result") and _LOCAL_FRAME.search(html):
                out.data = {"text/html": PLAYGROUND_NOTE,
                            "text/plain": "(the playground: open the notebook on your machine)"}
    return nb


_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _widget_text(model_id: str, state: dict) -> str | None:
    """The final text of a widget: a box's children side by side, a label's value, a
    progress bar as tqdm draws it in a terminal."""
    model = state.get(model_id)
    if model is None:
        return None
    name, values = model["model_name"], model["state"]
    if name in ("HBoxModel", "VBoxModel", "BoxModel"):
        parts = [_widget_text(c.removeprefix("IPY_MODEL_"), state) for c in values["children"]]
        return ("|" if name == "HBoxModel" else "\n").join(p for p in parts if p is not None)
    if name in ("HTMLModel", "LabelModel", "TextModel"):
        text = html.unescape(re.sub(r"<[^>]+>", "", str(values.get("value", ""))))
        return text.replace("\u2007", " ").replace("\xa0", " ").strip()
    if name in ("FloatProgressModel", "IntProgressModel"):
        span = (values.get("max", 100) - values.get("min", 0)) or 1
        filled = round(10 * (values.get("value", 0) - values.get("min", 0)) / span)
        return "█" * filled + " " * (10 - filled)
    return None


def without_widgets(nb):
    """``nb`` with each widget output replaced by the text of its final state (consecutive
    ones joined in one text block), and without the widget state the page would need a
    widget manager for."""
    import nbformat

    state = nb.metadata.pop("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            view = out.get("data", {}).get(_WIDGET_VIEW)
            if view is None:
                outputs.append(out)
                continue
            if str(out.data.get("text/plain", "")).startswith(PLAYGROUND_TEXT):  # live only
                outputs.append(nbformat.v4.new_output("display_data", data={
                    "text/html": PLAYGROUND_NOTE,
                    "text/plain": "(the playground: open the notebook to run it)"}))
                continue
            text = _widget_text(view["model_id"], state)
            if text is None:
                text = out.data.get("text/plain", "")
            if outputs and outputs[-1].get("name") == "widgets":
                outputs[-1].text += text + "\n"
            else:
                outputs.append(nbformat.v4.new_output("stream", name="widgets", text=text + "\n"))
        for out in outputs:
            if out.get("name") == "widgets":
                out.name = "stdout"
        cell.outputs = outputs
    return nb


async def _run(path: Path, target: Path, gate: asyncio.Semaphore) -> None:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    async with gate:
        nb = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory(prefix=f"nb-{path.stem}-") as scratch:
            client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                                    allow_errors=False,
                                    resources={"metadata": {"path": scratch}})
            try:
                await client.async_execute()
            except CellExecutionError as exc:
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                raise NotebookFailed(f"{shown} failed while building the site:\n"
                                     + _ANSI.sub("", str(exc))) from None
        without_widgets(without_local_frames(nb))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        nbformat.write(nb, partial)
        partial.replace(target)


def executed(paths, cache: Path = CACHE) -> dict[Path, Path]:
    """{stored notebook: executed copy} for ``paths``, running those not in ``cache``."""
    paths = [Path(p) for p in paths]
    library = _library_key()
    targets = {p: cache_path(p, library, cache) for p in paths}
    todo = [p for p, t in targets.items() if not t.is_file()]
    if todo:
        # the kernels import this checkout's neuralab, installed or not
        old = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [old])])
        try:
            asyncio.run(_run_all(todo, targets))
        finally:
            if old is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = old
        for target in targets.values():                  # older runs of the same notebook
            for stale in target.parent.parent.iterdir():
                if stale != target.parent:
                    shutil.rmtree(stale, ignore_errors=True)
    return targets


async def _run_all(todo, targets) -> None:
    gate = asyncio.Semaphore(WORKERS)
    tasks = [asyncio.create_task(_run(p, targets[p], gate)) for p in todo]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
