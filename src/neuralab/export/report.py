"""Figures and a one-page HTML report for a training run (``neuralab train`` writes them).

matplotlib is imported inside the functions, with the non-interactive ``Agg`` backend, so
``import neuralab`` stays light and nothing needs a display.
"""

from __future__ import annotations

import html
import os

import numpy as np

__all__ = ["confusion_matrix", "write_figures", "write_html"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 11, "axes.titlesize": 13, "axes.labelsize": 11,
                         "figure.dpi": 100})
    return plt


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class i predicted as class j."""
    C = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(C, (np.asarray(y_true, dtype=np.intp), np.asarray(y_pred, dtype=np.intp)), 1)
    return C


def _integer_epochs(ax):
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _curve(plt, history, key, ylabel, title, path):
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = np.arange(1, len(history[key]) + 1)
    ax.plot(epochs, history[key], marker="o", ms=3, label="train")
    if f"val_{key}" in history:
        ax.plot(epochs, history[f"val_{key}"], marker="s", ms=3, label="validation")
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    _integer_epochs(ax)
    if key == "loss":
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_figures(out_dir, history, model=None, X_test=None, y_test=None, n_classes=None,
                  X_train=None, y_train=None) -> dict[str, str]:
    """Write the run's PNG figures into ``out_dir``; returns ``{title: file name}``.

    Loss and accuracy curves (train vs validation), the learning rate per epoch, the
    confusion matrix on the test set (classifiers) and, for 2-D inputs, the decision
    boundary over the training points.
    """
    plt = _plt()
    figs = {}
    h = history.history if hasattr(history, "history") else history
    if h.get("loss"):
        _curve(plt, h, "loss", "loss (log scale)", "Loss per epoch", os.path.join(out_dir,
                                                                                "loss.png"))
        figs["Loss"] = "loss.png"
    if h.get("accuracy"):
        _curve(plt, h, "accuracy", "accuracy", "Accuracy per epoch",
               os.path.join(out_dir, "accuracy.png"))
        figs["Accuracy"] = "accuracy.png"
    if h.get("lr"):
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(np.arange(1, len(h["lr"]) + 1), h["lr"], marker="o", ms=3, label="learning rate")
        ax.set(xlabel="epoch", ylabel="learning rate α", title="Learning rate per epoch")
        _integer_epochs(ax)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "lr.png"))
        plt.close(fig)
        figs["Learning rate"] = "lr.png"
    norms = sorted((k for k in h if k.startswith("grad_norm_") and h[k]),
                   key=lambda k: int(k.rsplit("_", 1)[1]))
    if norms:
        _diagnostics(plt, h, norms, os.path.join(out_dir, "diagnostics.png"))
        figs["Gradient norms and dead ReLUs"] = "diagnostics.png"
    if model is not None and X_test is not None and n_classes:
        pred = _indices(model, model.predict(X_test))
        C = confusion_matrix(_indices(model, y_test), pred, n_classes)
        size = max(4.5, 0.5 * n_classes + 2)
        fig, ax = plt.subplots(figsize=(size, size * 0.9))
        im = ax.imshow(C, cmap="Blues")
        for i in range(n_classes):
            for j in range(n_classes):
                ax.text(j, i, str(C[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if C[i, j] > C.max() / 2 else "black")
        names = _names(model, n_classes)
        ax.set(xticks=range(n_classes), yticks=range(n_classes), xticklabels=names,
               yticklabels=names, xlabel="predicted class", ylabel="true class",
               title=f"Confusion matrix (test, accuracy {np.trace(C) / C.sum():.3f})")
        if max(map(len, names)) > 3:
            ax.tick_params(axis="x", labelrotation=45)
        fig.colorbar(im, ax=ax, label="samples")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "confusion.png"))
        plt.close(fig)
        figs["Confusion matrix"] = "confusion.png"
    if model is not None and X_train is not None and X_train.shape[1] == 2 and n_classes:
        _boundary(plt, model, X_train, y_train, os.path.join(out_dir, "boundary.png"))
        figs["Decision boundary"] = "boundary.png"
    return figs


def _indices(model, labels) -> np.ndarray:
    """Class indices 0..k-1 of labels in the model's form (its ``classes``, if any)."""
    return np.asarray(model._encode_labels(labels), dtype=np.intp)


def _names(model, n_classes) -> list[str]:
    classes = getattr(model, "classes", None)
    return [str(c) for c in (range(n_classes) if classes is None else classes.tolist())]


def _diagnostics(plt, h, norms, path):
    """‖∇θ‖ of each layer (last batch of each epoch) and the dead-ReLU fraction."""
    dead = h.get("dead_relu")
    fig, axes = plt.subplots(1, 2 if dead else 1, figsize=(11 if dead else 6, 4), squeeze=False)
    ax = axes[0, 0]
    for key in norms:
        ax.plot(np.arange(1, len(h[key]) + 1), h[key], marker="o", ms=3,
                label=f"layers[{key.rsplit('_', 1)[1]}] (Dense)")
    ax.set(xlabel="epoch", ylabel="‖∇θ‖₂ (last batch)", title="Gradient norm per layer",
           yscale="log")
    _integer_epochs(ax)
    ax.grid(alpha=0.3)
    ax.legend()
    if dead:
        ax = axes[0, 1]
        ax.plot(np.arange(1, len(dead) + 1), dead, marker="o", ms=3, color="C3",
                label="dead ReLU units")
        ax.set(xlabel="epoch", ylabel="fraction of ReLU units",
               ylim=(0, max(0.05, max(dead) * 1.2)),
               title="Dead ReLUs (zero on every probe sample)")
        _integer_epochs(ax)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _boundary(plt, model, X, y, path):
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (hi - lo)
    g0, g1 = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], 300),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], 300))
    pred = _indices(model, model.predict(np.c_[g0.ravel(), g1.ravel()])).reshape(g0.shape)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(g0, g1, pred, alpha=0.3, cmap="coolwarm")
    k = _indices(model, y)
    sc = ax.scatter(X[:, 0], X[:, 1], c=k, s=12, cmap="coolwarm", edgecolors="k",
                    linewidths=0.3)
    handles, _ = sc.legend_elements()
    names = _names(model, int(k.max()) + 1)
    ax.legend(handles, [names[i] for i in np.unique(k)], title="class", loc="best")
    names = getattr(model, "feature_names", None) or ["feature 1", "feature 2"]
    ax.set(xlabel=names[0], ylabel=names[1], title="Decision boundary (training points)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_html(path, title, summary: dict, figures: dict, config: dict) -> None:
    """One page: the summary table, every figure (linked relatively) and the config."""
    esc = html.escape
    rows = "\n".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>"
                     for k, v in summary.items())
    imgs = "\n".join(f'<figure><img src="{esc(f)}" alt="{esc(t)}"><figcaption>{esc(t)}'
                     "</figcaption></figure>" for t, f in figures.items())
    cfg = "\n".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>"
                    for k, v in config.items())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1300px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
img {{ max-width: 600px; border: 1px solid #eee; }}
figcaption {{ text-align: center; font-size: 0.9em; color: #555; }}
</style></head><body>
<h1>{esc(title)}</h1>
<h2>Summary</h2><table>{rows}</table>
<h2>Figures</h2>{imgs}
<h2>Configuration</h2><table>{cfg}</table>
<p>Files: model.safetensors, config.json, metrics.csv, metrics.jsonl.</p>
</body></html>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
