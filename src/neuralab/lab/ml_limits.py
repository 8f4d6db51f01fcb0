"""ml-limits: hand-designed features lose what a network learns from the raw input."""

from __future__ import annotations

import numpy as np

from .. import MLP, fit, optim
from . import _data
from ._common import Measured, experiment, pct


def image_features(X: np.ndarray) -> np.ndarray:
    """Eight simple statistics of 8×8 images (rows of 64 pixels in [0, 1]).

    Ink amount, ink area, centre of mass (row, column), spread (row, column) and left-right /
    top-bottom symmetry: the kind of features a person would design.
    """
    img = X.reshape(-1, 8, 8)
    mass = img.sum(axis=(1, 2)) + 1e-9
    r = np.arange(8.0)
    row_p, col_p = img.sum(axis=2) / mass[:, None], img.sum(axis=1) / mass[:, None]
    r_mean, c_mean = row_p @ r, col_p @ r
    r_std = np.sqrt(row_p @ r**2 - r_mean**2)
    c_std = np.sqrt(col_p @ r**2 - c_mean**2)
    lr_sym = np.abs(img - img[:, :, ::-1]).mean(axis=(1, 2))
    tb_sym = np.abs(img - img[:, ::-1, :]).mean(axis=(1, 2))
    return np.column_stack([mass / 64, (img > 0.5).mean(axis=(1, 2)), r_mean, c_mean, r_std,
                            c_std, lr_sym, tb_sym])


def signal_features(X: np.ndarray) -> np.ndarray:
    """Eight simple statistics of 1-D signals: level, spread, extremes and where they are."""
    L = X.shape[1]
    d = np.diff(X, axis=1)
    crossings = (np.diff(np.sign(X - X.mean(axis=1, keepdims=True)), axis=1) != 0).sum(axis=1)
    return np.column_stack([X.mean(axis=1), X.std(axis=1), X.min(axis=1), X.max(axis=1),
                            X.argmin(axis=1) / L, X.argmax(axis=1) / L, np.abs(d).mean(axis=1),
                            crossings / L])


def _standardize(A, B):
    mu, sd = A.mean(axis=0), A.std(axis=0) + 1e-12
    return (A - mu) / sd, (B - mu) / sd


def _train_accuracy(sizes, Xtr, ytr, Xte, yte, steps, seed):
    """Test accuracy after about ``steps`` mini-batch SGD steps (batch 32, at least 15 epochs)."""
    model = MLP(sizes, activation="relu", output="softmax", seed=seed)
    epochs = max(15, int(np.ceil(steps * 32 / len(Xtr))))
    fit(model, Xtr, ytr, optimizer=optim.SGD(lr=0.05), epochs=epochs, batch_size=32, seed=seed)
    return float(np.mean(model.predict(Xte) == yte))


def _compare(Xtr, ytr, Xte, yte, featurize, steps, seed, hidden=256):
    """Test accuracy of (features → logistic regression) and (raw → MLP) on one split."""
    k = int(ytr.max()) + 1
    Ftr, Fte = _standardize(featurize(Xtr), featurize(Xte))
    Rtr, Rte = _standardize(Xtr, Xte)
    feat = _train_accuracy([Ftr.shape[1], k], Ftr, ytr, Fte, yte, steps, seed)
    raw = _train_accuracy([Rtr.shape[1], hidden, hidden, k], Rtr, ytr, Rte, yte, steps, seed)
    return {"n_train": len(Xtr), "n_features": Ftr.shape[1], "n_raw": Rtr.shape[1],
            "features_logreg": feat, "raw_mlp": raw, "gap": raw - feat}


@experiment(
    "ml-limits", "Machine-learning limits: hand-made features vs learned ones",
    "A few hand-designed features feed a linear classifier well only when the problem is "
    "simple (flowers measured by a botanist); on images and signals those features throw away "
    "most of the information, and a network trained on the raw input does far better.")
def run(quick=False, seed=0):
    """Softmax regression on 8 hand-made statistics vs a 2-hidden-layer MLP on raw inputs.

    On MNIST-1D the comparison is repeated for growing training sets (a learning curve): the
    features saturate, the network keeps learning from the raw signal.
    """
    steps = 2500 if quick else 6000
    digits = _data.load("digits", seed=seed, standardize=False)
    iris = _data.load("iris", seed=seed, standardize=False)
    n_1d = 8000 if quick else 20000
    m1d_tr, y1d_tr, m1d_te, y1d_te = _data.load("mnist1d", seed=seed, standardize=False,
                                                n=n_1d, test_size=0.2)
    sizes = [len(m1d_tr)] if quick else [500, 2000, 6000, len(m1d_tr)]
    curve = [_compare(m1d_tr[:n], y1d_tr[:n], m1d_te, y1d_te, signal_features, steps, seed)
             for n in sizes]
    sets = {
        "digits": _compare(*digits, image_features, steps, seed),
        "mnist1d": curve[-1],
        # iris: the four measured lengths *are* the hand-designed features
        "iris": _compare(*iris, lambda X: X, steps, seed, hidden=16),
    }
    numbers = {name: {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
               for name, r in sets.items()}
    numbers["mnist1d_curve"] = {
        f"n_train={r['n_train']}": f"{pct(r['features_logreg'])} vs {pct(r['raw_mlp'])}"
        for r in curve}
    d, m, i = sets["digits"], sets["mnist1d"], sets["iris"]
    margin = 0.03 if quick else 0.10
    passed = d["gap"] > margin and m["gap"] > margin and abs(i["gap"]) < 0.05
    conclusion = (
        f"Features + logistic regression vs MLP on raw input: digits {pct(d['features_logreg'])} "
        f"vs {pct(d['raw_mlp'])}, MNIST-1D ({m['n_train']} training signals) "
        f"{pct(m['features_logreg'])} vs {pct(m['raw_mlp'])}; on iris, where 4 measured "
        f"features suffice, the gap closes ({pct(i['features_logreg'])} vs {pct(i['raw_mlp'])}).")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(1, 3, width=5.0, height=4.4,
                                 title="Hand-designed features vs a network on the raw input")
        ax = axes[0, 0]
        names = list(sets)
        x = np.arange(len(names))
        w = 0.38
        a = ax.bar(x - w / 2, [100 * sets[n]["features_logreg"] for n in names], w,
                   label="features + logistic regression", color="#aaaaaa")
        b = ax.bar(x + w / 2, [100 * sets[n]["raw_mlp"] for n in names], w,
                   label="raw input + MLP", color="#1f77b4")
        ax.bar_label(a, fmt="%.0f", fontsize=10)
        ax.bar_label(b, fmt="%.0f", fontsize=10)
        ax.set_xticks(x, ["digits\n8×8 images", "MNIST-1D\nsignals", "iris\n4 lengths"])
        ax.set(ylabel="test accuracy (%)", ylim=(0, 130), title="Test accuracy")
        ax.legend(loc="upper center", fontsize=9, ncols=2)

        ax = axes[0, 1]
        n = [r["n_train"] for r in curve]
        ax.plot(n, [100 * r["features_logreg"] for r in curve], "o-", color="#777777",
                label="8 features + logistic regression")
        ax.plot(n, [100 * r["raw_mlp"] for r in curve], "o-", color="#1f77b4",
                label="raw 40 samples + MLP")
        ax.set_xscale("log")
        ax.set(xlabel="training signals (log scale)", ylabel="test accuracy (%)",
               title="MNIST-1D: learning curve", ylim=(0, 100))
        ax.legend(loc="lower right")

        ax = axes[0, 2]
        F = image_features(digits[0])
        for c in range(10):
            sel = digits[1] == c
            ax.scatter(F[sel, 3], F[sel, 2], s=8, alpha=0.6, label=str(c))
        ax.set(xlabel="ink centre, column (pixel)", ylabel="ink centre, row (pixel)",
               title="Digits through 2 of the 8 features:\nthe classes overlap")
        ax.legend(title="digit", fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                  markerscale=2)
        return fig

    return Measured(numbers, conclusion, passed, plot)
