"""Rich displays for Jupyter: the HTML behind ``_repr_html_`` of models, histories, data sets.

A notebook shows an object by calling its ``_repr_html_``; the classes keep a one-line method
that calls the renderer here, so the HTML (and the matplotlib figure a history draws) lives in
one place. :func:`curves_png` is shared with :class:`neuralab.callbacks.LivePlot`, which redraws
the same figure while ``fit`` runs. Nothing here is imported by ``import neuralab`` until an
object is displayed.
"""

from __future__ import annotations

import base64
import html
import io
import math
import sys

import numpy as np

#: Rows and columns of a data set's preview table.
PREVIEW_ROWS, PREVIEW_COLS = 5, 8

_STYLE = ("<style>.nl-repr table{border-collapse:collapse;font-size:0.9em;margin:0.3em 0}"
          ".nl-repr th,.nl-repr td{border:1px solid #ccc;padding:0.15em 0.6em;text-align:right}"
          ".nl-repr th{background:#f3f3f3}.nl-repr td.l,.nl-repr th.l{text-align:left}"
          ".nl-repr caption{text-align:left;font-weight:600;padding:0.2em 0}</style>")


def in_notebook() -> bool:
    """True when running inside a Jupyter kernel (notebook, lab, VS Code, Colab).

    The kernel's shell is an ``ipykernel`` ``ZMQInteractiveShell`` (or a subclass); a terminal
    IPython or a plain interpreter is not. IPython is not imported here: a kernel has it loaded.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and any(c.__name__ == "ZMQInteractiveShell"
                                     for c in type(shell).__mro__)


# ---------------------------------------------------------------------------- HTML pieces
def _esc(value) -> str:
    return html.escape(str(value))


def _table(header, rows, caption=None, left=(0,)) -> str:
    """An HTML table; the columns in ``left`` are left-aligned (text), the others numbers."""
    def cells(row, tag):
        return "".join(f'<{tag}{" class=l" if j in left else ""}>{_esc(v)}</{tag}>'
                       for j, v in enumerate(row))

    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    return f"<table>{cap}<thead><tr>{cells(header, 'th')}</tr></thead><tbody>{body}</tbody></table>"


def _wrap(*parts) -> str:
    return f'<div class="nl-repr">{_STYLE}{"".join(parts)}</div>'


def _number(x) -> str:
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    x = float(x)
    return f"{x:.4g}" if math.isfinite(x) else str(x)


# ---------------------------------------------------------------------------- Sequential
def model_html(model) -> str:
    """The model's summary as a table: layer, output shape and parameters of each layer."""
    n, rows = model.n_in, []
    for i, layer in enumerate(model.layers):
        n = layer.output_size(n)
        rows.append((i, repr(layer), f"(m, {n})", f"{layer.n_params:,}"))
    title = (f"<p><b>{_esc(type(model).__name__)}</b>: input (m, {model.n_in}), "
             f"dtype {_esc(model.dtype.name)}, {model.n_params:,} parameters</p>")
    return _wrap(title, _table(("#", "layer", "output", "params"), rows, left=(1,)))


# ---------------------------------------------------------------------------- History
def _groups(names):
    """Metric names grouped by panel: ``val_loss`` goes with ``loss``, in first-seen order."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.removeprefix("val_"), []).append(name)
    return list(groups.values())


def curves_png(series: dict, epochs, title: str | None = None, dpi: int = 80) -> bytes:
    """A PNG of learning curves: ``series`` maps a metric name to its values per epoch.

    One panel per quantity (``loss`` with ``val_loss``, ``accuracy`` with ``val_accuracy``...),
    epochs (1-based) on the x axis. Drawn with matplotlib's Agg canvas, without pyplot, so a
    notebook's inline backend does not show the figure a second time, and no figure is left
    open.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups = _groups(series)
    n = max(1, len(groups))
    width, height = 3.6 * n, 2.6 + (0.25 if title else 0.0)
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    # fixed margins in inches: cheaper at every redraw than a layout engine
    fig.subplots_adjust(left=0.55 / width, right=1 - 0.15 / width, bottom=0.45 / height,
                        top=1 - (0.6 if title else 0.3) / height, wspace=0.3)
    x = np.asarray(epochs) + 1
    for k, names in enumerate(groups):
        ax = fig.add_subplot(1, n, k + 1)
        for name in names:
            values = np.asarray(series[name], dtype=np.float64)
            ax.plot(x[:len(values)], values, marker="o" if len(values) < 30 else None, ms=3,
                    label=name, ls="--" if name.startswith("val_") else "-")
        ax.set_xlabel("epoch")
        ax.set_title(names[0].removeprefix("val_"), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right" if "loss" in names[0] else "lower right")
        if len(x):
            ax.set_xlim(0.5, max(x[-1], 1) + 0.5)
    if title:
        fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'


def history_html(history) -> str:
    """Loss and accuracy curves (an inline PNG) and the last epoch's values."""
    n = len(history.epoch)
    title = f"<p><b>History</b>: {n} epoch{'s' if n != 1 else ''}"
    if history.divergence:
        d = history.divergence
        title += (f", <b>stopped: diverged</b> at step {d['step']} ({_esc(d['what'])} not "
                  f"finite, lr {_number(d['lr'])})")
    title += "</p>"
    if n == 0:
        return _wrap(title)
    shown = [k for k in history.history if k.removeprefix("val_") in ("loss", "accuracy")]
    png = curves_png({k: history.history[k] for k in shown}, history.epoch)
    last = [(k, _number(v[-1])) for k, v in history.history.items()
            if not k.startswith(("grad_norm", "time")) and len(v)]
    table = _table(("quantity", "last epoch"), last)
    return _wrap(title, '<div style="display:flex;gap:1em;align-items:flex-start">',
                 _img(png, "learning curves"), table, "</div>")


# ---------------------------------------------------------------------------- Dataset
def _preview_rows(X, y):
    cols = min(X.shape[1], PREVIEW_COLS)
    header = ["row", *(f"x{j}" for j in range(cols))]
    if X.shape[1] > cols:
        header.append("…")
    header.append("y")
    rows = []
    for i in range(min(len(X), PREVIEW_ROWS)):
        row = [i, *(_number(v) for v in X[i, :cols])]
        if X.shape[1] > cols:
            row.append("…")
        row.append(_number(y[i]))
        rows.append(row)
    return header, rows


def dataset_html(ds) -> str:
    """The data set's parts with their shapes, and its first training rows."""
    title = (f"<p><b>Dataset {_esc(ds.name)}</b> ({_esc(ds.task)}, {ds.n_features} features"
             + (f", {ds.n_classes} classes" if ds.n_classes is not None else "") + ")"
             + (f"<br><small>{_esc(ds.description)}</small>" if ds.description else "") + "</p>")
    parts = []
    for part in ("train", "val", "test"):
        X, y = getattr(ds, f"X_{part}"), getattr(ds, f"y_{part}")
        if X is None:
            continue
        counts = ""
        if ds.n_classes is not None:
            counts = " ".join(str(c) for c in np.bincount(np.asarray(y, np.int64),
                                                          minlength=ds.n_classes))
        parts.append((part, str(tuple(X.shape)), str(tuple(np.shape(y))), counts))
    header = ("part", "X", "y", "samples per class") if ds.n_classes is not None else \
        ("part", "X", "y")
    shapes = _table(header, [p if ds.n_classes is not None else p[:3] for p in parts])
    head, rows = _preview_rows(ds.X_train, ds.y_train)
    preview = _table(head, rows, caption=f"first {len(rows)} training rows")
    return _wrap(title, shapes, preview)
