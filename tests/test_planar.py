"""nl.data.planar: TensorFlow Playground's 2-D data sets and their multi-class siblings."""

import numpy as np
import pytest

import neuralab as nl
from neuralab.data._planar import planar_task


@pytest.mark.parametrize("name", list(nl.data.PLANAR))
def test_every_set_has_its_shape_labels_and_seed(name):
    X, y = nl.data.planar(name, n_samples=301, noise=20, seed=4, n_classes=4)
    assert X.shape == (301, 2) and X.dtype == np.float64 and y.shape == (301,)
    assert np.isfinite(X).all() and np.abs(X).max() < 12
    task = planar_task(name)
    if task == "regression":
        assert y.dtype == np.float64 and np.abs(y).max() <= 1.3
    else:
        k = 4 if task == "multiclass" else 2
        assert set(np.unique(y).tolist()) == set(range(k))
    X2, y2 = nl.data.planar(name, n_samples=301, noise=20, seed=4, n_classes=4)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    X3, _ = nl.data.planar(name, n_samples=301, noise=20, seed=5, n_classes=4)
    assert not np.array_equal(X, X3)


def test_noiseless_sets_follow_their_rule():
    X, y = nl.data.planar("xor", n_samples=400, noise=0, seed=0)
    assert np.array_equal(y, (X[:, 0] * X[:, 1] >= 0).astype(int))
    assert np.abs(X).min() >= 0.3                      # pushed away from the axes
    X, y = nl.data.planar("circle", n_samples=400, noise=0, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.array_equal(y, (r < 2.5).astype(int)) and (r[y == 0] >= 3.5).all()
    X, y = nl.data.planar("reg-plane", n_samples=400, noise=0, seed=0)
    assert np.allclose(y, (X[:, 0] + X[:, 1]) / 10)
    X, y = nl.data.planar("gauss", n_samples=400, noise=0, seed=0)
    assert np.allclose(X[y == 1].mean(axis=0), [2, 2], atol=0.3)
    assert np.allclose(X[y == 0].mean(axis=0), [-2, -2], atol=0.3)


def test_noise_flips_labels_and_widens_blobs():
    X, y = nl.data.planar("xor", n_samples=2000, noise=50, seed=1)
    wrong = np.mean(y != (X[:, 0] * X[:, 1] >= 0))
    assert 0.1 < wrong < 0.5
    quiet = nl.data.planar("gauss", 2000, noise=0, seed=1)[0]
    loud = nl.data.planar("gauss", 2000, noise=50, seed=1)[0]
    assert loud.std() > quiet.std() * 1.3


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "moons"}, "unknown planar data set"),
    ({"name": "xor", "noise": 51}, "noise must be <= 50"),
    ({"name": "xor", "noise": float("nan")}, "noise must be finite"),
    ({"name": "xor", "n_samples": 1}, "n_samples must be >= 2"),
    ({"name": "spirals", "n_classes": 9}, "n_classes must be <= 8"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nl.data.planar(**kwargs)


def test_names_forgive_case_and_underscores():
    assert np.array_equal(nl.data.planar("REG_PLANE", 50)[1], nl.data.planar("reg-plane", 50)[1])
