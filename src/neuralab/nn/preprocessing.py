r"""Input transforms without trainable parameters: what a model does to raw rows first.

A model's ``preprocessing`` (``nl.Sequential(..., preprocessing=[...])``) is a list of steps
applied in order to the raw rows ``X`` (m, n_features_in) before the first layer, so a trained
model is a function of the raw inputs: ``forward``, ``predict``, ``fit``, ``evaluate``,
``nl.save``/``nl.load`` and the ONNX export all see the same pipeline.

Every step follows one small protocol, :class:`Transform`:

* ``transform(X)``: (m, n_features_in) → (m, n_features_out), float64;
* ``n_features_in`` / ``n_features_out``: widths (``None``: any width, kept as is);
* ``get_config()`` / ``from_config(config)``: the step as plain JSON data (model files).

Two steps ship with neuralab:

* :class:`Standardizer` (also ``nl.data.Standardizer``): :math:`x' = (x - \mu) / \sigma`;
* :class:`FeatureMap`: input features by name, ``"x1"``, ``"x1^2"``, ``"x1*x2"``,
  ``"sin(x1)"``, e.g. TensorFlow Playground's seven inputs.
"""

from __future__ import annotations

import re

import numpy as np

from .._validation import check_array, check_int

__all__ = ["FeatureMap", "Standardizer", "Transform"]


class Transform:
    """The protocol of a preprocessing step (subclass it, or match it by duck typing).

    A step has no trainable parameters: whatever it learned (μ, σ) was fixed before it was put
    in a model. Steps whose class is in :data:`STEPS` are stored in model files.
    """

    #: Columns the step reads (None: any width).
    n_features_in: int | None = None
    #: Columns the step writes (None: as many as it reads).
    n_features_out: int | None = None

    def transform(self, X) -> np.ndarray:
        """Rows (m, n_features_in) → rows (m, n_features_out), float64."""
        raise NotImplementedError

    def get_config(self) -> dict:
        """The step as plain JSON data; ``type(self).from_config(config)`` rebuilds it."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


# ---------------------------------------------------------------------------- Standardizer
class Standardizer(Transform):
    r"""Scale each feature to zero mean and unit variance, with statistics from ``fit``.

    .. math::

        x' = \frac{x - \mu}{\sigma}

    μ is ``mean_`` and σ is ``scale_`` (the population standard deviation) of each column of
    the ``X`` given to :meth:`fit`. A constant column has σ = 0 (or, computed in floating
    point, σ within rounding noise of μ); its ``scale_`` is set to 1 so it maps to 0 instead of
    NaN or noise amplified to ±1 (scikit-learn's ``StandardScaler`` uses the same test). Fit on the
    training set only, then transform validation and test data with the same μ and σ.

    A fitted Standardizer is a model preprocessing step (:class:`Transform`):
    ``get_config()`` is ``{"mean": [...], "scale": [...]}`` (numbers when μ and σ are
    scalars, as in ``from_stats(0, 255)`` for pixels, which then fits any width).

    Examples
    --------
    >>> import numpy as np
    >>> s = Standardizer().fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
    >>> s.transform(np.array([[1.0, 5.0], [4.0, 5.0]]))
    array([[0., 0.],
           [3., 0.]])
    """

    def __init__(self):
        self.mean_ = self.scale_ = None

    @property
    def n_features_in(self) -> int | None:  # type: ignore[override]  # read from the fitted μ
        return None if self.mean_ is None or self.mean_.ndim == 0 else int(self.mean_.shape[0])

    @property
    def n_features_out(self) -> int | None:  # type: ignore[override]  # as many as it reads
        return self.n_features_in

    def fit(self, X, chunk_size: int | None = None) -> Standardizer:
        """Learn μ and σ from ``X`` (m, n) in one pass, ``chunk_size`` rows at a time.

        Chunks keep memory flat when ``X`` is a memory map larger than RAM (:func:`load_npy`);
        by default a chunk holds about 4 million values (32 MB). The chunks' means and sums of
        squared deviations, taken about the first chunk's mean for precision, are merged with
        Chan, Golub and LeVeque's pairwise update, so the file is read once.
        """
        if not isinstance(X, np.ndarray) or X.ndim != 2 or X.size == 0:
            X = check_array(X, "X")            # lists, wrong shapes: a clear error
        m, n = X.shape
        rows = max(1, 2**22 // n) if chunk_size is None else \
            check_int(chunk_size, "chunk_size", minimum=1)
        count, mean, M2 = 0, np.zeros(n), np.zeros(n)     # of X - shift, for precision
        lo, hi, shift = np.full(n, np.inf), np.full(n, -np.inf), None
        for start in range(0, m, rows):
            C = check_array(X[start:start + rows], "X")
            lo, hi = np.minimum(lo, C.min(axis=0)), np.maximum(hi, C.max(axis=0))
            shift = C.mean(axis=0) if shift is None else shift
            C = C - shift
            k, mu = len(C), C.mean(axis=0)
            D = C - mu
            delta, total = mu - mean, count + k
            mean = mean + delta * (k / total)
            M2 = M2 + np.einsum("ij,ij->j", D, D) + delta**2 * (count * k / total)
            count = total
        mean, var = shift + mean, M2 / m
        eps = np.finfo(np.float64).eps   # σ below rounding noise of μ: a constant column
        constant = (lo == hi) | (var <= m * eps * var + (m * np.abs(mean) * eps) ** 2)
        self.mean_ = np.where(lo == hi, lo, mean)
        self.scale_ = np.where(constant, 1.0, np.sqrt(var))
        return self

    def _check(self, X):
        if self.mean_ is None:
            raise ValueError("this Standardizer is not fitted yet; call fit(X_train) first")
        X = check_array(X, "X")
        if self.mean_.ndim and X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features but the Standardizer was fit on "
                             f"{self.mean_.shape[0]}")
        return X

    def transform(self, X) -> np.ndarray:
        return (self._check(X) - self.mean_) / self.scale_

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, X) -> np.ndarray:
        return self._check(X) * self.scale_ + self.mean_

    @classmethod
    def from_stats(cls, mean, scale) -> Standardizer:
        """A fitted Standardizer with the given μ and σ (e.g. mean 0, scale 255 for pixels).

        ``mean`` and ``scale`` are numbers or 1-D arrays of one length; σ must be finite and
        > 0 (a constant feature takes σ = 1).
        """
        mean = check_array(mean, "mean", ndim=None, allow_empty=False)
        scale = check_array(scale, "scale", ndim=None, allow_empty=False)
        if mean.ndim > 1 or scale.ndim > 1 or (mean.ndim and scale.ndim
                                               and mean.shape != scale.shape):
            raise ValueError(f"mean and scale must be numbers or 1-D arrays of one length, "
                             f"got shapes {mean.shape} and {scale.shape}")
        if np.any(scale <= 0):
            raise ValueError("scale must be > 0 for every feature (use 1 for a constant one)")
        if mean.ndim != scale.ndim:               # one vector, one number: both vectors
            mean, scale = np.broadcast_arrays(mean, scale)
        s = cls()
        s.mean_, s.scale_ = np.array(mean, dtype=np.float64), np.array(scale, np.float64)
        return s

    def get_config(self) -> dict:
        if self.mean_ is None:
            raise ValueError("this Standardizer is not fitted yet; a model can only store a "
                             "fitted one (call fit(X_train) first)")
        return {"mean": self.mean_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_config(cls, config: dict) -> Standardizer:
        if not isinstance(config, dict) or set(config) != {"mean", "scale"}:
            raise ValueError(f"a Standardizer config holds exactly 'mean' and 'scale', got "
                             f"{sorted(config) if isinstance(config, dict) else config!r}")
        try:
            return cls.from_stats(config["mean"], config["scale"])
        except TypeError as exc:
            raise ValueError(f"Standardizer config: {exc}") from None

    def __repr__(self):
        if self.mean_ is None:
            return "Standardizer()"
        return f"Standardizer(n_features={self.n_features_in or 'any'})"


# ---------------------------------------------------------------------------- FeatureMap
#: The feature names a FeatureMap understands: (regex, kind). Indices are 1-based.
_GRAMMAR = [
    (re.compile(r"x(\d+)"), "x"),
    (re.compile(r"x(\d+)\^2"), "square"),
    (re.compile(r"x(\d+)\*x(\d+)"), "product"),
    (re.compile(r"sin\(x(\d+)\)"), "sin"),
]
_GRAMMAR_TEXT = "'x<i>', 'x<i>^2', 'x<i>*x<j>', 'sin(x<i>)' with 1-based column indices i, j"


def _parse_feature(name, where):
    """``"x1*x2"`` → ``("product", (0, 1))`` (0-based columns); a clear error otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"{where} must be a string such as 'x1^2', got {name!r}")
    text = name.replace(" ", "")
    for pattern, kind in _GRAMMAR:
        match = pattern.fullmatch(text)
        if match:
            columns = tuple(int(g) for g in match.groups())
            if min(columns) < 1:
                raise ValueError(f"{where} = {name!r}: column indices start at 1 (x1 is the "
                                 "first column)")
            return text, kind, tuple(c - 1 for c in columns)
    raise ValueError(f"{where} = {name!r} is not a feature name; use {_GRAMMAR_TEXT} "
                     "(e.g. 'x1', 'x1^2', 'x1*x2', 'sin(x2)')")


class FeatureMap(Transform):
    r"""Input features computed by name from the raw columns x₁, x₂, ...

    ======================  ===============================
    name                    column of the output
    ======================  ===============================
    ``"x<i>"``              :math:`x_i`
    ``"x<i>^2"``            :math:`x_i^2`
    ``"x<i>*x<j>"``         :math:`x_i x_j`
    ``"sin(x<i>)"``         :math:`\sin x_i`
    ======================  ===============================

    Indices are 1-based, as on the slides (``x1`` is the first column).

    Parameters
    ----------
    features : list of str
        The output columns, in order. ``["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)",
        "sin(x2)"]`` are TensorFlow Playground's seven inputs.
    n_features_in : int, optional
        Raw columns expected; default the highest index used (it may be larger, e.g. to skip
        a column).

    Attributes
    ----------
    features : list of str
        The names, spaces removed.
    n_features_in, n_features_out : int

    Examples
    --------
    >>> import numpy as np
    >>> fm = FeatureMap(["x1", "x2", "x1^2", "x1*x2", "sin(x2)"])
    >>> fm.n_features_in, fm.n_features_out
    (2, 5)
    >>> fm.transform(np.array([[2.0, 0.0]]))
    array([[2., 0., 4., 0., 0.]])
    """

    def __init__(self, features, n_features_in: int | None = None):
        if isinstance(features, (str, bytes)) or not hasattr(features, "__iter__"):
            raise TypeError(f"features must be a list of names such as ['x1', 'x1^2'], got "
                            f"{features!r}")
        parsed = [_parse_feature(f, f"features[{i}]") for i, f in enumerate(features)]
        if not parsed:
            raise ValueError("features is empty; name at least one feature, e.g. ['x1']")
        names = [p[0] for p in parsed]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features lists {', '.join(map(repr, dupes))} more than once")
        highest = 1 + max(max(p[2]) for p in parsed)
        if n_features_in is None:
            n_features_in = highest
        n_features_in = check_int(n_features_in, "n_features_in", minimum=1)
        if n_features_in < highest:
            raise ValueError(f"n_features_in={n_features_in} but features use x{highest}; "
                             f"pass n_features_in >= {highest}")
        self.features = names
        self.n_features_in: int = n_features_in
        self.n_features_out: int = len(names)
        self._plan = [(kind, columns) for _, kind, columns in parsed]

    def transform(self, X) -> np.ndarray:
        X = check_array(X, "X")
        if X.shape[1] != self.n_features_in:
            raise ValueError(f"X has {X.shape[1]} columns but this FeatureMap reads "
                             f"{self.n_features_in} (x1..x{self.n_features_in})")
        out = np.empty((X.shape[0], self.n_features_out))
        for k, (kind, cols) in enumerate(self._plan):
            x = X[:, cols[0]]
            if kind == "x":
                out[:, k] = x
            elif kind == "square":
                np.multiply(x, x, out=out[:, k])
            elif kind == "product":
                np.multiply(x, X[:, cols[1]], out=out[:, k])
            else:
                np.sin(x, out=out[:, k])
        return out

    def terms(self) -> list[tuple[str, tuple[int, ...]]]:
        """Each output column as ``(kind, 0-based columns)``; kind is x, square, product, sin."""
        return list(self._plan)

    def get_config(self) -> dict:
        return {"features": list(self.features), "n_features_in": self.n_features_in}

    @classmethod
    def from_config(cls, config: dict) -> FeatureMap:
        if not isinstance(config, dict) or not set(config) <= {"features", "n_features_in"} \
                or "features" not in config:
            raise ValueError(f"a FeatureMap config holds 'features' (and 'n_features_in'), "
                             f"got {config!r}")
        return cls(config["features"], config.get("n_features_in"))

    def __repr__(self):
        return f"FeatureMap({self.features!r}, n_features_in={self.n_features_in})"


# ---------------------------------------------------------------------------- pipelines
#: Step types stored in model files, by name.
STEPS: dict[str, type[Transform]] = {"Standardizer": Standardizer, "FeatureMap": FeatureMap}
