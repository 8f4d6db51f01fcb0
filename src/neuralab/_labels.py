"""Class labels of a model: checked, and turned into class indices (private to model.py).

A model's ``classes`` are its original labels (bools, ints, floats or strings, one type),
``classes[k]`` the label of output class k.
"""

from __future__ import annotations

import numpy as np

from .activations import Sigmoid, Softmax

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


def to_json(classes) -> dict | None:
    """``{"type": "str", "values": [...]}`` for a model file (None stays None)."""
    if classes is None:
        return None
    return {"type": LABEL_TYPES[classes.dtype.kind], "values": classes.tolist()}


def from_json(data):
    """Inverse of :func:`to_json`, for a file's metadata (ValueError on anything odd)."""
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
