"""``LivePlot``: learning curves redrawn while ``fit`` runs, in a notebook or as a PNG file.

Exported as :class:`neuralab.callbacks.LivePlot`.
"""

from __future__ import annotations

import os
import uuid

from ... import _display
from ..._validation import check_int, check_writable_file
from .base import Callback


class LivePlot(Callback):
    """Redraw learning curves every ``every`` epochs while training runs.

    In a Jupyter notebook the figure is one output that is replaced in place (IPython's
    ``display`` with a ``display_id``, then ``update_display``); elsewhere the PNG at ``path``
    is rewritten (a temporary file renamed over it, so a viewer never reads half a file). In a
    notebook ``path``, when given, is written too. One panel per quantity: ``loss`` with
    ``val_loss``, ``accuracy`` with ``val_accuracy``, and so on.

    Parameters
    ----------
    metrics : list of str, default ["loss", "val_loss"]
        Logged names to draw (see :func:`neuralab.fit`'s History). A ``val_*`` name is skipped
        when ``fit`` has no validation data; any other name ``fit`` does not log is an error.
    every : int ≥ 1, default 1
        Redraw after every this many epochs (and always after the last one).
    path : str, optional
        The PNG to rewrite. Required outside a notebook.

    Examples
    --------
    >>> import numpy as np, neuralab as nl
    >>> X = np.random.default_rng(0).normal(size=(60, 2)); y = (X[:, 0] > 0).astype(int)
    >>> import tempfile, os; png = os.path.join(tempfile.mkdtemp(), "curves.png")
    >>> live = nl.callbacks.LivePlot(metrics=["loss", "accuracy"], path=png)
    >>> h = nl.fit(nl.MLP([2, 8, 2], seed=0), X, y, epochs=3, callbacks=[live])
    >>> os.path.getsize(png) > 0, live.draws
    (True, 3)
    """

    keeps_params = True

    def __init__(self, metrics=("loss", "val_loss"), every: int = 1, path=None):
        if isinstance(metrics, str) or not all(isinstance(m, str) and m for m in metrics):
            raise TypeError(f"metrics must be a list of logged names such as "
                            f"['loss', 'val_loss'], got {metrics!r}")
        self.metrics = list(metrics)
        if not self.metrics:
            raise ValueError("metrics is empty; name at least one, e.g. ['loss']")
        self.every = check_int(every, "every", minimum=1)
        self.notebook = _display.in_notebook()
        if path is None and not self.notebook:
            raise ValueError("LivePlot outside a Jupyter notebook needs path='curves.png' "
                             "(the PNG file it rewrites)")
        self.path = None if path is None else check_writable_file(path)
        self.draws = 0
        self._handle: str | None = None
        self._drawn_epoch = None

    def _shown(self, logs) -> list[str]:
        """The names of ``metrics`` to draw, given one epoch's ``logs``."""
        has_val = any(k.startswith("val_") for k in logs)
        missing = [m for m in self.metrics if m not in logs
                   and not (m.startswith("val_") and not has_val)]
        if missing:
            raise ValueError(f"LivePlot: fit does not log {', '.join(map(repr, missing))}; "
                             f"logged: {', '.join(logs)}")
        return [m for m in self.metrics if m in logs]

    def on_train_begin(self, logs=None):
        self._handle, self._drawn_epoch = None, None

    def on_epoch_end(self, epoch, logs=None):
        self._shown(logs)           # an unknown name fails at the first epoch, not at the end
        if (epoch + 1) % self.every == 0:
            self.draw()

    def on_train_end(self, logs=None):
        if self.history is not None and self.history.epoch \
                and self._drawn_epoch != self.history.epoch[-1]:
            self.draw()

    def draw(self) -> None:
        """Render the curves of the history so far and show or write them now."""
        history = self.history
        if history is None or not history.epoch:
            return
        names = self._shown({k: v[-1] for k, v in history.history.items()})
        png = _display.curves_png({k: history.history[k] for k in names}, history.epoch,
                                  title=f"epoch {history.epoch[-1] + 1}")
        if self.notebook:
            self._show(png)
        if self.path is not None:
            _write_atomic(self.path, png)
        self.draws += 1
        self._drawn_epoch = history.epoch[-1]

    def _show(self, png: bytes) -> None:
        from IPython.display import Image, display, update_display

        image = Image(data=png, format="png")
        if self._handle is None:
            self._handle = f"neuralab-liveplot-{uuid.uuid4().hex}"
            display(image, display_id=self._handle)
        else:
            update_display(image, display_id=self._handle)


def _write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
