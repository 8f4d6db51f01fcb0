"""The lab's figure style and drawing helpers (matplotlib, Agg, imported lazily).

Figures are built with the object-oriented API (``matplotlib.figure.Figure``), never pyplot, so
the lab neither changes a user's backend nor keeps figures alive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

STYLE: dict[Any, Any] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "figure.titlesize": 14,
    "figure.titleweight": "bold",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 2.0,
    "savefig.dpi": 110,
    "figure.dpi": 110,
}

#: one colour per named thing, the same in every figure
COLORS = {
    "GD": "#2ca02c", "SGD": "#2ca02c", "Newton": "#d62728", "Momentum": "#1f77b4",
    "Nesterov": "#17becf", "AdaGrad": "#9467bd", "RMSProp": "#ff7f0e", "Adam": "#8c564b",
    "AdamW": "#e377c2", "NewtonCG": "#7f7f7f",
    "sigmoid": "#1f77b4", "tanh": "#ff7f0e", "relu": "#2ca02c", "leaky_relu": "#d62728",
    "identity": "#7f7f7f",
}
CLASS_COLORS = ("#1f77b4", "#ff7f0e")


def figure(nrows: int = 1, ncols: int = 1, width: float = 5.0, height: float = 4.2,
           title: str | None = None, **kwargs):
    """A constrained-layout figure of ``nrows × ncols`` panels, each ``width × height`` inches."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    if title:
        fig.suptitle(title)
    return fig, axes


def save(plot, path: Path) -> Path:
    """Draw ``plot()`` under the lab style and write it to ``path`` as PNG."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig = plot()
        fig.savefig(path, format="png")
    return Path(path)


def decision_regions(ax, predict_proba, X, y, title: str, steps: int = 150,
                     colorbar: bool = True):
    """Probability of class 1 as a filled contour, the 0.5 boundary, and the points."""
    from . import _data

    xx, yy, pts = _data.grid(X, steps)
    p = np.asarray(predict_proba(pts)).reshape(xx.shape)
    cs = ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.5)
    for k, c in enumerate(CLASS_COLORS):
        ax.scatter(*X[y == k].T, s=14, color=c, edgecolor="white", linewidth=0.4,
                   label=f"class {k}")
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$")
    ax.set_aspect("equal", adjustable="box")
    if colorbar:
        ax.figure.colorbar(cs, ax=ax, label="P(class 1)", shrink=0.85, ticks=[0, 0.5, 1])
    return cs


def table(ax, rows, col_labels, title: str | None = None, fontsize: int = 10):
    """A table drawn in an axes (for a figure that must carry its numbers)."""
    ax.axis("off")
    tab = ax.table(cellText=rows, colLabels=col_labels, loc="center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(fontsize)
    tab.scale(1.0, 1.4)
    if title:
        ax.set_title(title)
    return tab
