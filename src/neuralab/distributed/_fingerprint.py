"""Did every rank get the same training? A digest per ingredient, compared across the ranks.

Data-parallel ranks that were handed different rows, a different model (another seed, shape
or dtype), or other options would not fail: they would silently train something else. At the
start of ``fit`` each rank hashes what it was given — the shape, dtype and contents of ``X``
(every byte up to 64 MiB, else 1,024 evenly spaced rows: a memory map is not read whole),
the targets, the validation data, the architecture, θ, the loss, the optimizer and its state,
the options and the resume position — and the ranks compare the digests.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

#: Arrays up to this size are hashed whole; larger ones (and memory maps) by sampled rows.
WHOLE_BYTES = 64 << 20
#: Rows hashed from a large ``X``.
SAMPLED_ROWS = 1024


def _digest(*parts) -> int:
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(f"{part.shape}{part.dtype}".encode())
            h.update(np.ascontiguousarray(part).view(np.uint8).ravel().data)
        else:
            h.update(repr(part).encode())
    return int.from_bytes(h.digest(), "little")


def _text(obj) -> str:
    """``repr(obj)``, or its type's name where the repr holds a memory address."""
    text = repr(obj)
    return type(obj).__qualname__ if " at 0x" in text else text


def _rows_digest(X) -> int:
    """Shape, dtype and contents of ``X`` (sampled rows for a memory map or a large array)."""
    if X is None:
        return _digest(None)
    X = X if isinstance(X, np.memmap) else np.asarray(X)
    if isinstance(X, np.memmap) or X.nbytes > WHOLE_BYTES:
        idx = np.unique(np.linspace(0, X.shape[0] - 1, SAMPLED_ROWS).astype(np.intp))
        return _digest(X.shape, str(X.dtype), np.asarray(X[idx]))
    return _digest(X)


def _schedule(schedule):
    """A schedule's type and numbers (its repr may hold a memory address)."""
    if schedule is None:
        return None
    numbers = {k: v for k, v in sorted(vars(schedule).items())
               if isinstance(v, (int, float, str, bool))} if hasattr(schedule, "__dict__") else {}
    return (type(schedule).__qualname__, getattr(schedule, "__qualname__", None), numbers)


def fingerprint(run) -> tuple[list[str], np.ndarray]:
    """The names and digests (uint64) of what ``run`` (a ``TrainingRun``) trains with."""
    model, optimizer, state = run.model, run.optimizer, run.state
    val = run.val or (None, None)
    items = {
        "X (shape, dtype or values)": _rows_digest(run.X),
        "y (the targets)": _digest(np.asarray(run.Y)),
        "the validation data": _digest(_rows_digest(val[0]), _rows_digest(val[1])),
        "the model's architecture or dtype": _digest(json.dumps(model.get_config(),
                                                                sort_keys=True)),
        "the model's parameters θ (another seed?)": _digest(model.params),
        "the loss": _digest(_text(run.loss)),
        "the optimizer or its state": _digest(_text(optimizer), optimizer.t),
        "epochs, batch_size, shuffle, seed or other fit options": _digest(
            run.epochs, run.bs, run.shuffle, run.seed, run.schedule_per, run.on_divergence,
            run.checkpoint_every, run.names, _text(run.regularizer)),
        "the schedule": _digest(_schedule(run.schedule)),
        "the resume position (epoch, batch, step)": _digest(state.epoch, state.batch,
                                                            state.step),
    }
    return list(items), np.array(list(items.values()), dtype=np.uint64)


def compare(names, table) -> None:
    """Raise (on every rank: each holds the whole ``table``) if any rank's row differs from
    rank 0's."""
    differ = table != table[0]
    if not differ.any():
        return
    what = [name for name, col in zip(names, differ.T, strict=True) if col.any()]
    ranks = [int(r) for r in np.flatnonzero(differ.any(axis=1))]
    raise ValueError(
        f"the ranks were not given the same training: {'; '.join(what)} differ between rank 0 "
        f"and rank(s) {', '.join(map(str, ranks))} of {len(table)}. Every rank must call fit "
        "with the same X and y (or the same memory-mapped file), the same model (same sizes, "
        "dtype and seed) and the same options; load or generate the data identically on "
        "every rank (same seed)")
