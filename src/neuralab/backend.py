"""The array namespace and the floating-point types neuralab computes in.

Everything numeric goes through ``xp`` (NumPy today). Keeping the namespace in one place is
what lets a CuPy backend slot in later without touching the layers.
"""

from __future__ import annotations

import numpy as np

xp = np

#: dtypes a model may compute in, by the names users type.
DTYPES = {"float32": np.float32, "float64": np.float64}


def resolve_dtype(dtype) -> np.dtype:
    """Return the NumPy dtype for ``dtype`` ("float32", "float64" or a NumPy float type).

    Raises
    ------
    ValueError
        For any other type, naming the accepted ones.
    """
    if isinstance(dtype, str) and dtype in DTYPES:
        return np.dtype(DTYPES[dtype])
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is not None and dt in (np.dtype(np.float32), np.dtype(np.float64)):
        return dt
    raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
