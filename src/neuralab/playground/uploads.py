"""Your own data: a 2-D CSV (two feature columns, one label column), checked line by line.

Rules: comma-separated, an optional header line, then rows ``x1,x2,label`` of finite numbers
with |x| ≤ 10⁶; at most ``max_rows`` rows and at least 10. Labels that are all integers make a
classification problem: 2 classes (0/1, or −1/+1 as TensorFlow Playground writes them) are
binary, 3 to 8 classes 0..K−1 are multi-class. Any other numbers make a regression problem.
Each problem is reported with its line number and what to fix.
"""

from __future__ import annotations

import math

import numpy as np

from .protocol import ProtocolError

MIN_ROWS = 10
MAX_ABS = 1e6


def parse_csv(text: str, max_rows: int = 2000):
    """``(X, y, task)`` from CSV text; raises :class:`ProtocolError` naming the line."""
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not lines:
        raise ProtocolError("the CSV file is empty; it needs rows x1,x2,label", "csv")
    first = lines[0][1].split(",")
    if len(first) == 3 and not all(_is_number(v) for v in first):
        lines = lines[1:]                          # a header line
    if len(lines) > max_rows:
        raise ProtocolError(f"the CSV file has {len(lines):,} rows, over the limit of "
                            f"{max_rows:,}", "csv")
    if len(lines) < MIN_ROWS:
        raise ProtocolError(f"the CSV file has {len(lines)} data rows; at least {MIN_ROWS} "
                            "are needed", "csv")
    rows = np.empty((len(lines), 3))
    for k, (n, line) in enumerate(lines):
        values = line.split(",")
        if len(values) != 3:
            raise ProtocolError(f"line {n}: expected 3 values (x1, x2, label), got "
                                f"{len(values)}: {line[:60]!r}", "csv")
        for c, value in enumerate(values):
            try:
                v = float(value)
            except ValueError:
                raise ProtocolError(f"line {n}, column {c + 1}: {value.strip()[:30]!r} is not "
                                    "a number", "csv") from None
            if not math.isfinite(v) or abs(v) > MAX_ABS:
                raise ProtocolError(f"line {n}, column {c + 1}: {v!r} is not a finite number "
                                    f"within ±{MAX_ABS:g}", "csv")
            rows[k, c] = v
    X, labels = rows[:, :2], rows[:, 2]
    if np.ptp(X[:, 0]) == 0 or np.ptp(X[:, 1]) == 0:
        raise ProtocolError("a feature column holds one value only; the plane needs both "
                            "x1 and x2 to vary", "csv")
    if not np.all(labels == np.round(labels)):
        return X, labels, "regression"
    classes = np.unique(labels)
    if set(classes.tolist()) <= {-1.0, 1.0} and len(classes) == 2:
        return X, (labels > 0).astype(np.int64), "binary"
    if classes.min() < 0 or len(classes) > 8 or not np.array_equal(
            classes, np.arange(len(classes))):
        raise ProtocolError(f"integer labels must be the classes 0..K-1 with 2 <= K <= 8 (or "
                            f"-1/+1); found {_show(classes)}. Real-valued labels make a "
                            "regression problem", "csv")
    if len(classes) < 2:
        raise ProtocolError("all labels are the same class; a classifier needs two or more",
                            "csv")
    return X, labels.astype(np.int64), "binary" if len(classes) == 2 else "multiclass"


def _is_number(text) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _show(classes) -> str:
    shown = ", ".join(f"{c:g}" for c in classes[:10])
    return shown + (", ..." if len(classes) > 10 else "")
