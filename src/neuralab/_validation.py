"""Input checks shared by every public entry point.

Each check raises ``ValueError``/``TypeError`` naming the argument and the fix, before any work
is done, so that bad input never surfaces as a deep NumPy traceback or silent garbage.
"""

from __future__ import annotations

import numbers
import os

import numpy as np


def check_array(X, name: str = "X", *, dtype=np.float64, ndim: int | None = 2,
                allow_empty: bool = False) -> np.ndarray:
    """Convert ``X`` to a finite floating array of ``dtype``; raise a clear error otherwise."""
    if isinstance(X, (str, bytes)) or X is None:
        raise TypeError(f"{name} must be a numeric array, got {type(X).__name__}")
    arr = np.asarray(X)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be numeric; it holds values of type {arr.dtype} that cannot be "
                "converted to float (check for text or missing entries)") from None
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        hint = " (reshape a single sample with X.reshape(1, -1))" if ndim == 2 and arr.ndim == 1 \
            else ""
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}{hint}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one sample")
    arr = np.asarray(arr, dtype=dtype)
    if not all_finite(arr):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); clean or impute them")
    return arr


def all_finite(arr) -> bool:
    """Whether every entry of ``arr`` is finite, without a temporary array when possible.

    For a contiguous floating array: one dot product of the values with themselves,
    Σ x² (NaN and ±inf propagate into it, and squares never cancel), so a finite sum proves
    every entry finite; a sum that is not finite (a NaN or inf, or huge finite entries whose
    squares overflow) is confirmed entry by entry. That reads ``arr`` once instead of writing
    and reading an array of booleans of its size (``np.isfinite(arr).all()``).
    """
    if arr.dtype in (np.float32, np.float64) and arr.flags.c_contiguous and arr.size:
        v = arr.reshape(-1)
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(v.dot(v)):
                return True
    return bool(np.isfinite(arr).all())


def check_int(value, name: str, *, minimum: int | None = None, allow_none: bool = False):
    """Check that ``value`` is an integer (not bool) >= ``minimum``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(value, name: str, *, low: float | None = None, high: float | None = None,
                low_inclusive: bool = True, high_inclusive: bool = True) -> float:
    """Check that ``value`` is a finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {op} {low}, got {value}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {op} {high}, got {value}")
    return value


def lookup(name, table: dict, kind: str):
    """Look ``name`` up in ``table``; unknown names raise listing the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} must be a name (str) or callable, got {name!r}")
    key = name.lower().replace("-", "_")
    if key not in table:
        raise ValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(table))}")
    return table[key]


def check_bool(value, name: str) -> bool:
    """Check that ``value`` is a bool (``True``/``False`` or a NumPy bool), not a truthy object.

    ``shuffle="no"`` is truthy; accepting it would silently do the opposite of what was meant.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_seed(seed, name: str = "seed"):
    """Check a random seed: ``None`` (fresh entropy) or an integer >= 0."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative integer or None, got {seed}")
    return int(seed)


def check_fraction(value, name: str) -> float:
    """Check a fraction strictly between 0 and 1 (``validation_split``, ``test_size``...)."""
    return check_float(value, name, low=0.0, high=1.0, low_inclusive=False,
                       high_inclusive=False)


def check_lr(value, name: str = "lr") -> float:
    """Check a learning rate α > 0 (finite); ``name`` says where it came from.

    Use it on what a schedule returns, e.g. ``check_lr(schedule(t), f"schedule({t})")``, so a
    schedule that yields a negative or NaN rate is reported instead of silently training
    uphill.
    """
    return check_float(value, name, low=0.0, low_inclusive=False)


def check_choice(value, name: str, choices) -> str:
    """Check that ``value`` is one of the strings ``choices``; the error lists them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; "
                         f"got {value!r}")
    return value


def check_writable_file(path, name: str = "path") -> str:
    """``path`` as a string, refused when something other than a regular file is there.

    Atomic writes rename a new file over ``path``: over ``/dev/null`` or a named pipe that
    would replace the device itself (and a directory cannot be replaced).
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isfile(path):
        raise ValueError(f"{name} {path!r} exists and is not a regular file (a directory, "
                         "device or pipe); give the path of a file to write")
    return path
