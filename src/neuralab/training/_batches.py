"""Training rows as column batches: the boundary between samples-as-rows and the layers.

``X`` may be an array in memory or a memory map (``nl.data.load_npy``) that stays on disk.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array
from ..nn._inputs import MappedRows


def check_rows(model, X, name="X", comm=None):
    """``X`` checked for the model and run through its preprocessing; a memory map is kept on
    disk, checked chunk by chunk (with a communicator, each rank checks its share of the
    chunks) and preprocessed batch by batch (a ``MappedRows`` view)."""
    if not isinstance(X, np.memmap):
        return model._check_X(X, name)
    n = model.n_features_in
    if X.ndim != 2 or X.shape[1] != n or X.shape[0] == 0:
        raise ValueError(f"{name} must have shape (m, {n}) with m >= 1, got {X.shape}")
    rows = max(1, 2**22 // max(1, X.shape[1]))
    chunks = range(0, X.shape[0], rows)
    lo, hi = (0, len(chunks)) if comm is None else comm.share(len(chunks))
    for start in chunks[lo:hi]:
        check_array(X[start:start + rows], f"{name}[{start}:{start + rows}]", dtype=X.dtype)
    return model._rows_view(X)


def rows(X, idx, dtype):
    """Rows ``idx`` of ``X`` as a column batch (n, m) of ``dtype``.

    A memory map is read in file order (sorted indices, for locality) and the rows are put
    back in the order of ``idx``, so a mapped ``X`` trains exactly as the same array in memory.
    """
    if isinstance(X, MappedRows):           # a memory map read through the preprocessing
        return X.rows(idx, dtype).T
    if isinstance(X, np.memmap) and isinstance(idx, np.ndarray):
        order = np.argsort(idx, kind="stable")
        batch = np.empty((len(idx), X.shape[1]), dtype=dtype)
        batch[order] = X[idx[order]]
        return batch.T
    return np.asarray(X[idx], dtype=dtype).T
