"""Data for the experiments: ``neuralab.data`` when it is there, scikit-learn otherwise.

Every loader returns ``(X_train, y_train, X_test, y_test)`` with samples as rows, split with a
fixed seed and stratified, standardized with the training set's statistics when asked.
"""

from __future__ import annotations

import numpy as np

_SKLEARN_2D = ("moons", "circles", "xor", "blobs")


def _split(X, y, test_size, seed):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)


def _standardize(Xtr, Xte):
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
    sd[sd == 0] = 1.0
    return (Xtr - mu) / sd, (Xte - mu) / sd


def _raw(name, n, seed, noise):
    """(X, y) of the named set, built here (no download)."""
    rng = np.random.default_rng(seed)
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X / 16.0, y
    if name == "iris":
        from sklearn.datasets import load_iris

        return load_iris(return_X_y=True)
    if name == "mnist1d":
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.num_samples, args.seed = n or 4000, seed
        d = make_dataset(args)
        X = np.concatenate([d["x"], d["x_test"]]).astype(np.float64)
        y = np.concatenate([d["y"], d["y_test"]]).astype(np.intp)
        return X, y
    n = n or 400
    if name == "moons":
        from sklearn.datasets import make_moons

        return make_moons(n, noise=noise if noise is not None else 0.15, random_state=seed)
    if name == "circles":
        from sklearn.datasets import make_circles

        return make_circles(n, noise=noise if noise is not None else 0.08, factor=0.5,
                            random_state=seed)
    if name == "xor":
        X = rng.uniform(-1, 1, size=(n, 2))
        X += rng.normal(0, noise if noise is not None else 0.0, size=X.shape)
        return X, (X[:, 0] * X[:, 1] > 0).astype(np.intp)
    if name == "blobs":
        y = rng.integers(0, 2, n)
        centers = np.array([[-1.0, -0.6], [1.0, 0.8]])
        X = centers[y] + rng.normal(0, noise if noise is not None else 0.6, size=(n, 2))
        return X, y
    raise ValueError(f"unknown data set {name!r}")


def load(name: str, seed: int = 0, test_size: float = 0.25, standardize: bool = True,
         n: int | None = None, noise: float | None = None):
    """``(X_train, y_train, X_test, y_test)`` for ``name``.

    ``n`` and ``noise`` size the synthetic sets (moons, circles, xor, blobs) and MNIST-1D.
    Image sets keep pixels in [0, 1] unless ``standardize``.
    """
    X, y = _raw(name, n, seed, noise)
    Xtr, Xte, ytr, yte = _split(np.asarray(X, np.float64), np.asarray(y), test_size, seed)
    if standardize:
        Xtr, Xte = _standardize(Xtr, Xte)
    return Xtr, ytr.astype(np.intp), Xte, yte.astype(np.intp)


def grid(X, steps: int = 200, pad: float = 0.3):
    """A mesh over the range of 2-D ``X``: (xx, yy, points as rows)."""
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps))
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])
