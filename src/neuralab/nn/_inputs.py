"""What a model takes in and gives out: its preprocessing, its class labels (private).

:class:`ModelInputs` is the part of :class:`~neuralab.model.Sequential` that turns raw rows into
the first layer's input (``preprocessing``) and class indices into labels (``classes``); the
functions below check a pipeline of steps (:mod:`neuralab.preprocessing`), store it and the
labels in a model file, and read a memory-mapped ``X`` through the steps batch by batch.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array
from .activations import Sigmoid, Softmax
from .preprocessing import STEPS, Standardizer


class ModelInputs:
    """Mixin of ``Sequential``: ``preprocessing``, ``classes``, ``target``, ``feature_names``.

    Needs ``n_in``, ``n_out``, ``dtype`` and ``layers`` from the model.
    """

    n_in: int
    n_out: int
    dtype: np.dtype
    layers: list

    @property
    def preprocessing(self) -> list:
        """Input steps applied in order to raw rows before the first layer (may be empty)."""
        return self._preprocessing

    @preprocessing.setter
    def preprocessing(self, steps):
        steps = check_steps(steps, self.n_in)
        names = getattr(self, "_feature_names", None)
        width = input_width(steps, self.n_in)
        if names is not None and len(names) != width:
            raise ValueError(f"feature_names has {len(names)} names but this preprocessing "
                             f"reads {width} columns; set model.feature_names = None (or to "
                             f"{width} names) first")
        self._preprocessing = steps

    @property
    def n_features_in(self) -> int:
        """Width of the raw rows the model takes (``n_in`` when there is no preprocessing)."""
        return input_width(self._preprocessing, self.n_in)

    @property
    def classes(self) -> np.ndarray | None:
        """Label of each output class (``classes[k]`` for class k), or None: indices."""
        return self._classes

    @classes.setter
    def classes(self, values):
        self._classes = None if values is None else check_classes(values, self)

    @property
    def target(self) -> str | None:
        """Name of the label column, or None."""
        return self._target

    @target.setter
    def target(self, name):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"target must be the label column's name (a str) or None, got "
                            f"{name!r}")
        self._target = name

    @property
    def feature_names(self) -> list[str] | None:
        """Names of the raw input columns, or None."""
        return self._feature_names

    @feature_names.setter
    def feature_names(self, names):
        if names is not None:
            if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
                raise TypeError(f"feature_names must be a list of str, got {names!r}")
            names = list(names)
            if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
                raise ValueError("feature_names must be distinct strings")
            if len(names) != self.n_features_in:
                raise ValueError(f"feature_names has {len(names)} names but the model takes "
                                 f"{self.n_features_in} raw columns")
        self._feature_names = names

    def _encode_labels(self, y, name: str = "y"):
        """Labels in the form of :attr:`classes` → class indices (``y`` as is without classes).

        One-hot or probability rows (m, k) pass through unchanged.
        """
        return y if self._classes is None else encode(self._classes, y, name)

    def _rows_view(self, X):
        """A memory map as the first layer sees it: itself, or read through the steps."""
        if not self._preprocessing:
            return X
        steps = check_steps(self._preprocessing, self.n_in)
        return MappedRows(X, steps, self.n_in)

    def _columns_by_name(self, X, name="X"):
        """A table with named columns (a pandas DataFrame) -> the model's columns, by name.

        With :attr:`feature_names` recorded and text column names, every model column must be
        found by name (any order; other columns, such as the label, are ignored), else a
        ``ValueError`` names the missing and the unknown ones. Anything else is used by
        position: arrays, tables whose columns are unnamed (0, 1, ...), models without names.
        """
        wanted = self._feature_names
        columns = getattr(X, "columns", None)
        if not wanted or columns is None or not hasattr(X, "iloc"):
            return X
        columns = list(columns)
        if not columns or not all(isinstance(c, str) for c in columns):
            return X
        missing = [c for c in wanted if c not in columns]
        if missing:
            unknown = [c for c in columns if c not in wanted and c != self._target]
            others = f"the unknown {', '.join(map(repr, unknown))}" if unknown else \
                "no other columns"
            raise ValueError(
                f"{name} lacks the model's column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))} (the model takes {', '.join(wanted)}; "
                f"{name} has {others}); rename the columns, or pass X.to_numpy() to take "
                "them by position")
        return X[wanted]

    def _check_X(self, X, name="X"):
        """Raw rows ``X`` checked, run through the preprocessing: the first layer's input."""
        X = self._columns_by_name(X, name)
        if not self._preprocessing:
            X = check_array(X, name, dtype=self.dtype)
            if X.shape[1] != self.n_in:
                raise ValueError(f"{name} has {X.shape[1]} features per sample but the model "
                                 f"expects {self.n_in} (shape (m, {self.n_in}))")
            return X
        steps = check_steps(self._preprocessing, self.n_in)
        X = check_array(X, name, dtype=np.float64)     # the steps compute in float64
        n = self.n_features_in
        if X.shape[1] != n:
            raise ValueError(f"{name} has {X.shape[1]} features per sample but the model takes "
                             f"{n} raw columns (shape (m, {n})); its preprocessing "
                             f"({', '.join(type(s).__name__ for s in steps)}) makes the "
                             f"{self.n_in} inputs of the first layer")
        return check_array(apply(steps, X), f"{name} after the model's preprocessing",
                           dtype=self.dtype)


# ---------------------------------------------------------------------------- labels
#: Label types a model's classes may have, by NumPy dtype kind (the names model files use).
LABEL_TYPES = {"b": "bool", "i": "int", "u": "int", "f": "float", "U": "str"}


def as_labels(values, name: str) -> np.ndarray:
    """``values`` as a 1-D array of bools, ints, floats or strings (never objects)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "U" and not isinstance(values, np.ndarray):
        items = np.asarray(values, dtype=object).ravel().tolist()
        if not all(isinstance(v, str) for v in items):      # [1, "b"]: NumPy made it text
            arr = np.asarray(values, dtype=object)
    if arr.dtype == object:
        items = arr.ravel().tolist()
        if items and all(isinstance(v, str) for v in items):
            arr = arr.astype(str)
        else:
            try:
                arr = np.asarray(items)
            except (TypeError, ValueError):
                arr = np.asarray(items, dtype=object)
            if arr.dtype.kind == "U":                # NumPy turned mixed types into text
                arr = np.asarray(items, dtype=object)
            arr = arr.reshape(np.shape(values))
    elif arr.dtype.kind == "S":
        arr = arr.astype(str)
    if arr.dtype.kind not in LABEL_TYPES:
        raise TypeError(f"{name} must hold ints, floats, bools or strings (one type), got "
                        f"dtype {arr.dtype}")
    return arr


def preview(values, limit: int = 10) -> str:
    items = [v.item() if isinstance(v, np.generic) else v for v in values[:limit]]
    return repr(items)[:-1] + (", ...]" if len(values) > limit else "]")


def check_classes(values, model) -> np.ndarray:
    """The ``classes`` of ``model``, checked: distinct labels, one per output class."""
    labels = as_labels(values, "classes")
    if labels.ndim != 1:
        raise ValueError(f"classes must be a 1-D list of labels, got shape {labels.shape}")
    last = model.layers[-1]
    if isinstance(last, Softmax):
        n = model.n_out
    elif isinstance(last, Sigmoid) and model.n_out == 1:
        n = 2
    else:
        raise ValueError(f"classes need a classifier output: Softmax, or one Sigmoid unit; "
                         f"this model ends with {type(last).__name__} of {model.n_out} units")
    if len(labels) != n:
        how = "two for one sigmoid unit" if model.n_out == 1 else "one per output unit"
        raise ValueError(f"classes has {len(labels)} labels but the model has {n} classes "
                         f"({how})")
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise ValueError("classes must not contain NaN or infinite values")
    if len(np.unique(labels)) != len(labels):
        raise ValueError(f"classes must be distinct, got {preview(labels)}")
    labels = labels.copy()
    labels.flags.writeable = False
    return labels


def encode(classes: np.ndarray, y, name: str = "y"):
    """Labels ``y`` (m,) or (m, 1) in the form of ``classes`` → indices k with classes[k] = y.

    Other shapes (one-hot or probability rows) are returned as they are.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        return y
    labels = as_labels(y, name)
    if (labels.dtype.kind == "U") != (classes.dtype.kind == "U"):
        kind = "text" if labels.dtype.kind == "U" else "numbers"
        raise ValueError(f"{name} holds {kind} but the model's classes are "
                         f"{preview(classes)}; pass labels in that form (or set "
                         "model.classes = None to pass class indices 0..k-1)")
    order = np.argsort(classes, kind="stable")
    ordered = classes[order]
    pos = np.minimum(np.searchsorted(ordered, labels), len(ordered) - 1)
    found = ordered[pos] == labels
    if not found.all():
        unknown = np.unique(labels[~found])
        raise ValueError(f"{name} holds {len(unknown)} label(s) not among the model's classes: "
                         f"{preview(unknown)}; the classes are {preview(classes)}")
    return order[pos]


def classes_to_json(classes) -> dict | None:
    """``{"type": "str", "values": [...]}`` for a model file (None stays None)."""
    if classes is None:
        return None
    return {"type": LABEL_TYPES[classes.dtype.kind], "values": classes.tolist()}


def classes_from_json(data):
    """Inverse of :func:`classes_to_json`, for a file's metadata (ValueError on anything odd)."""
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) != {"type", "values"} \
            or not isinstance(data["values"], list):
        raise ValueError("classes must be an object with 'type' and a 'values' list")
    kind, values = data["type"], data["values"]
    checks = {"bool": lambda v: isinstance(v, bool),
              "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "str": lambda v: isinstance(v, str)}
    if kind not in checks:
        raise ValueError(f"classes type must be one of {', '.join(checks)}, got {kind!r}")
    if not all(checks[kind](v) for v in values):
        raise ValueError(f"classes values must all be of type {kind}")
    dtype = {"bool": bool, "int": np.int64, "float": np.float64, "str": str}[kind]
    try:
        return np.array(values, dtype=dtype)
    except OverflowError:
        raise ValueError("classes values do not fit in 64-bit integers") from None


# ---------------------------------------------------------------------------- pipelines
def _is_step(step) -> bool:
    return all(hasattr(step, a) for a in ("transform", "get_config", "n_features_in",
                                          "n_features_out")) and callable(step.transform)


def check_steps(steps, n_in: int) -> list:
    """``steps`` (None, one step or a list) as a list whose widths chain into ``n_in``."""
    if steps is None:
        return []
    if _is_step(steps):
        steps = [steps]
    if isinstance(steps, (str, bytes, dict)) or not hasattr(steps, "__iter__"):
        raise TypeError(f"preprocessing must be a list of steps (nl.data.Standardizer, "
                        f"nl.preprocessing.FeatureMap, ...), got {steps!r}")
    steps = list(steps)
    width = None                               # None: whatever the raw input has
    for i, step in enumerate(steps):
        if not _is_step(step):
            raise TypeError(f"preprocessing[{i}] must have transform(), get_config(), "
                            f"n_features_in and n_features_out (a nl.preprocessing.Transform)"
                            f", got {type(step).__name__}")
        if isinstance(step, Standardizer) and step.mean_ is None:
            raise ValueError(f"preprocessing[{i}] is a Standardizer that is not fitted yet; "
                             "call fit(X_train) first")
        if width is not None and step.n_features_in is not None \
                and step.n_features_in != width:
            raise ValueError(f"preprocessing does not chain: preprocessing[{i}] "
                             f"({step!r}) reads {step.n_features_in} columns but the step "
                             f"before writes {width}")
        if step.n_features_out is not None:
            width = step.n_features_out
        elif step.n_features_in is not None:
            width = step.n_features_in
    if width is not None and width != n_in:
        raise ValueError(f"preprocessing writes {width} columns but the model's first layer "
                         f"takes {n_in}; make them agree (e.g. nl.MLP([{width}, ...]))")
    return steps


def input_width(steps, n_in: int) -> int:
    """Raw columns a pipeline reads: the first ``n_features_in`` a step fixes (else ``n_in``:
    steps of any width keep it)."""
    fixed = [step.n_features_in for step in steps if step.n_features_in is not None]
    return fixed[0] if fixed else n_in


def apply(steps, X) -> np.ndarray:
    """Run ``X`` through every step in order."""
    for step in steps:
        X = step.transform(X)
    return X


def steps_to_config(steps) -> list[dict]:
    """The steps as JSON data for a model file: ``[{"type": "FeatureMap", ...}, ...]``."""
    out = []
    for i, step in enumerate(steps):
        name = type(step).__name__
        if STEPS.get(name) is not type(step):
            raise TypeError(f"preprocessing[{i}] ({name}) cannot be stored in a model file; "
                            f"the stored steps are {', '.join(STEPS)}")
        out.append({"type": name, **step.get_config()})
    return out


def steps_from_config(config) -> list:
    """Steps rebuilt from :func:`steps_to_config`'s output (ValueError naming what is wrong)."""
    if not isinstance(config, list):
        raise ValueError(f"preprocessing must be a list of steps, got {type(config).__name__}")
    steps = []
    for i, spec in enumerate(config):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in STEPS:
            raise ValueError(f"preprocessing[{i}] has unknown type {kind!r}; known: "
                             f"{', '.join(STEPS)}")
        try:
            steps.append(STEPS[kind].from_config({k: v for k, v in spec.items() if k != "type"}))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"preprocessing[{i}] ({kind}): {exc}") from None
    return steps


class MappedRows:
    """A memory-mapped ``X`` seen through preprocessing steps, read a batch at a time.

    ``fit`` and ``evaluate`` keep a memory map on disk; with a model's preprocessing they get
    this view instead, which reads only the rows asked for (in file order, for locality) and
    transforms them. ``shape`` is the transformed shape; slicing rows gives another view.
    """

    def __init__(self, X, steps, n_out: int):
        self.raw, self.steps = X, steps
        self.shape = (X.shape[0], n_out)
        self.ndim = 2

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        if not isinstance(idx, slice):
            raise TypeError("index a MappedRows view with a slice of rows, or use rows()")
        return MappedRows(self.raw[idx], self.steps, self.shape[1])

    def rows(self, idx, dtype) -> np.ndarray:
        """Rows ``idx`` (a slice or an index array), transformed, as (len, n_out) of dtype."""
        if isinstance(idx, np.ndarray):
            order = np.argsort(idx, kind="stable")
            raw = np.empty((len(idx), self.raw.shape[1]), dtype=self.raw.dtype)
            raw[order] = self.raw[idx[order]]
        else:
            raw = np.asarray(self.raw[idx])
        return np.asarray(apply(self.steps, raw), dtype=dtype)
