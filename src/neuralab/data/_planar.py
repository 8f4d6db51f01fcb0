r"""TensorFlow Playground's 2-D data sets, and their multi-class siblings (``nl.data.planar``).

Every set lives in the square [−6, 6]² of the playground's plane. ``noise`` is the
playground's slider, a percentage from 0 to 50; ν = ``noise`` / 100 below.

============ ============== =========================================================
name         task           points
============ ============== =========================================================
circle       binary         half inside radius 2.5, half in the ring 3.5–5; the label
                            says whether the point, moved by ν·U(−5, 5)², lies inside
xor          binary         U(−5, 5)² pushed 0.3 away from the axes; label x₁x₂ ≥ 0
                            of the point moved by ν·U(−5, 5)²
gauss        binary         two Gaussians at ±(2, 2), variance 0.5 + 7ν
spiral       binary         two arms r = 5i/n, θ = 3.5πi/n + kπ, moved by ν·U(−1, 1)²
sine         binary         U(−6, 6)²; label x₂ ≥ 3 sin(πx₁/4) (a sine boundary) of the
                            point moved by ν·U(−6, 6)²
reg-plane    regression     U(−6, 6)², target (x₁ + x₂)/10 of the point moved by ν·U(−6, 6)²
reg-gauss    regression     U(−6, 6)², target ±max(0, 1 − d/2) of the nearest of six
                            Gaussian bumps (d the distance to its centre)
gaussians    ``n_classes``  Gaussians on a circle of radius 4, variance 0.5 + 7ν
spirals      ``n_classes``  ``n_classes`` arms of the spiral, 2π/K apart
============ ============== =========================================================

Binary and multi-class labels are integer classes 0..K−1 (the playground's −1/+1 is 0/1
here, the form :class:`~neuralab.losses.BinaryCrossEntropy` takes); regression targets are
reals in [−1, 1]. The rows come shuffled.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_float, check_int, check_seed

#: name -> (task, one-line description); task is "binary", "regression" or "multiclass".
PLANAR = {
    "circle": ("binary", "a disc inside a ring"),
    "xor": ("binary", "the four quadrants, labelled by the sign of x1*x2"),
    "gauss": ("binary", "two Gaussian blobs"),
    "spiral": ("binary", "two interleaved spiral arms"),
    "sine": ("binary", "the two sides of the curve x2 = 3 sin(pi x1 / 4)"),
    "reg-plane": ("regression", "a tilted plane, target (x1 + x2) / 10"),
    "reg-gauss": ("regression", "six Gaussian bumps of either sign"),
    "gaussians": ("multiclass", "n_classes Gaussian blobs on a circle"),
    "spirals": ("multiclass", "n_classes interleaved spiral arms"),
}

#: Half the side of the square the points live in (the plane is [-EXTENT, EXTENT]²).
EXTENT = 6.0


def _split(n, k):
    """Sizes of ``k`` groups that add up to ``n`` (the first ones one larger)."""
    return [n // k + (i < n % k) for i in range(k)]


def _circle(n, nu, rng, _):
    radius = 5.0
    parts = []
    for (low, high), size in zip([(0.0, 0.5 * radius), (0.7 * radius, radius)], _split(n, 2),
                                 strict=True):
        r = rng.uniform(low, high, size)
        angle = rng.uniform(0.0, 2.0 * np.pi, size)
        P = np.column_stack([r * np.sin(angle), r * np.cos(angle)])
        moved = P + nu * rng.uniform(-radius, radius, (size, 2))
        parts.append((P, (np.hypot(moved[:, 0], moved[:, 1]) < 0.5 * radius).astype(np.int64)))
    return parts


def _xor(n, nu, rng, _):
    P = rng.uniform(-5.0, 5.0, (n, 2))
    P += np.where(P > 0, 0.3, -0.3)
    moved = P + nu * rng.uniform(-5.0, 5.0, (n, 2))
    return [(P, (moved[:, 0] * moved[:, 1] >= 0).astype(np.int64))]


def _blobs(n, nu, rng, centers, labels):
    std = np.sqrt(0.5 + (4.0 - 0.5) * nu / 0.5)   # variance 0.5 at ν = 0, 4 at ν = 0.5
    parts = []
    for (cx, cy), label, size in zip(centers, labels, _split(n, len(centers)), strict=True):
        P = rng.normal(0.0, std, (size, 2)) + [cx, cy]
        parts.append((P, np.full(size, label, dtype=np.int64)))
    return parts


def _gauss(n, nu, rng, _):
    return _blobs(n, nu, rng, [(2.0, 2.0), (-2.0, -2.0)], [1, 0])


def _gaussians(n, nu, rng, k):
    angles = 2.0 * np.pi * np.arange(k) / k + np.pi / 4
    return _blobs(n, nu, rng, 4.0 * np.column_stack([np.cos(angles), np.sin(angles)]), range(k))


def _arms(n, nu, rng, k, labels):
    parts = []
    for j, (label, size) in enumerate(zip(labels, _split(n, k), strict=True)):
        i = np.arange(size)
        r = 5.0 * i / size
        t = 1.75 * 2.0 * np.pi * i / size + 2.0 * np.pi * j / k
        P = np.column_stack([r * np.sin(t), r * np.cos(t)])
        P += nu * rng.uniform(-1.0, 1.0, (size, 2))
        parts.append((P, np.full(size, label, dtype=np.int64)))
    return parts


def _spiral(n, nu, rng, _):
    return _arms(n, nu, rng, 2, [1, 0])


def _spirals(n, nu, rng, k):
    return _arms(n, nu, rng, k, range(k))


def _sine(n, nu, rng, _):
    P = rng.uniform(-EXTENT, EXTENT, (n, 2))
    moved = P + nu * rng.uniform(-EXTENT, EXTENT, (n, 2))
    return [(P, (moved[:, 1] >= 3.0 * np.sin(np.pi * moved[:, 0] / 4.0)).astype(np.int64))]


def _reg_plane(n, nu, rng, _):
    P = rng.uniform(-EXTENT, EXTENT, (n, 2))
    moved = P + nu * rng.uniform(-EXTENT, EXTENT, (n, 2))
    return [(P, (moved[:, 0] + moved[:, 1]) / 10.0)]


#: (x, y, sign) of reg-gauss's six bumps.
_BUMPS = np.array([[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1],
                   [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]], dtype=np.float64)


def _reg_gauss(n, nu, rng, _):
    P = rng.uniform(-EXTENT, EXTENT, (n, 2))
    moved = P + nu * rng.uniform(-EXTENT, EXTENT, (n, 2))
    d = np.hypot(moved[:, :1] - _BUMPS[:, 0], moved[:, 1:] - _BUMPS[:, 1])   # (n, 6)
    value = _BUMPS[:, 2] * np.clip(1.0 - d / 2.0, 0.0, 1.0)
    pick = np.abs(value).argmax(axis=1)           # the bump of largest |value| (first on ties)
    return [(P, value[np.arange(n), pick])]


_GENERATORS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral, "sine": _sine,
               "reg-plane": _reg_plane, "reg-gauss": _reg_gauss, "gaussians": _gaussians,
               "spirals": _spirals}


def planar(name: str, n_samples: int = 500, noise: float = 0, seed: int | None = 0,
           n_classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """One of TensorFlow Playground's 2-D data sets (or a multi-class one), as ``(X, y)``.

    Parameters
    ----------
    name : str
        A key of :data:`PLANAR`: ``circle``, ``xor``, ``gauss``, ``spiral``, ``sine`` (binary),
        ``reg-plane``, ``reg-gauss`` (regression), ``gaussians``, ``spirals`` (multi-class).
    n_samples : int ≥ 2
    noise : float in [0, 50]
        The playground's noise slider, in percent.
    seed : int ≥ 0 or None
        Seed of the generator (same seed, same points); "regenerate" is a new seed.
    n_classes : int in [2, 8]
        Classes of ``gaussians`` and ``spirals`` (ignored by the others).

    Returns
    -------
    X : ndarray (n_samples, 2), float64, in [−6, 6]² (plus the noise of the blobs)
    y : ndarray (n_samples,)
        int64 classes, or float64 targets for the regression sets.

    Examples
    --------
    >>> import neuralab as nl
    >>> X, y = nl.data.planar("xor", n_samples=200, noise=10, seed=1)
    >>> X.shape, sorted(set(y.tolist()))
    ((200, 2), [0, 1])
    """
    generator = _GENERATORS[_name(name)]
    n = check_int(n_samples, "n_samples", minimum=2)
    nu = check_float(noise, "noise", low=0.0, high=50.0) / 100.0
    k = check_int(n_classes, "n_classes", minimum=2)
    if k > 8:
        raise ValueError(f"n_classes must be <= 8, got {k}")
    rng = np.random.default_rng(check_seed(seed))
    parts = generator(n, nu, rng, k)
    X = np.concatenate([P for P, _ in parts])
    y = np.concatenate([t for _, t in parts])
    order = rng.permutation(n)
    return X[order], y[order]


def planar_task(name: str) -> str:
    """``"binary"``, ``"regression"`` or ``"multiclass"``: what :func:`planar` ``name`` is."""
    return PLANAR[_name(name)][0]


def _name(name) -> str:
    """``name`` as a key of :data:`PLANAR` (case and ``_``/``-`` forgiven), or a clear error."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a planar data set name (str), got {name!r}")
    key = name.lower().replace("_", "-")
    if key not in PLANAR:
        raise ValueError(f"unknown planar data set {name!r}; choose one of: {', '.join(PLANAR)}")
    return key
