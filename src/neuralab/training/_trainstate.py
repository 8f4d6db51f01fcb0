"""Training state for ``fit(checkpoint=..., resume_from=...)``: what a resume needs, exactly.

A checkpoint (written atomically by :func:`neuralab.io.write_checkpoint`) holds θ, the layers'
buffers (running statistics), the optimizer's state arrays and step count, the bit-generator
states of the shuffle generator and of the layers' generator (dropout masks), the
epoch, the global step, the current epoch's permutation and the position in it, the running
sums of the epoch's metrics, each callback's state and the history so far. Restoring all of it
makes the rest of the run repeat, bit for bit, what the uninterrupted run does: the schedule is
a pure function of the step or epoch, so its position is the step or epoch.
"""

from __future__ import annotations

import os

import numpy as np

from ..export import io as _io

#: ``meta["kind"]`` of a fit checkpoint.
KIND = "neuralab.fit"


class State:
    """Where the loop is: next ``epoch``, next ``batch`` in it, ``step`` done, permutation."""

    def __init__(self):
        self.epoch = self.batch = self.step = 0
        self.order = None
        self.sums = None


def _split(prefix, state: dict, arrays: dict) -> dict:
    """Move the ndarray values of ``state`` into ``arrays`` (``prefix/key``); return the rest."""
    rest = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            arrays[f"{prefix}/{key}"] = value
        elif isinstance(value, np.generic):
            rest[key] = value.item()
        else:
            rest[key] = value
    return rest


def _join(prefix, rest: dict, arrays: dict) -> dict:
    state = dict(rest)
    head = prefix + "/"
    for name, value in arrays.items():
        if name.startswith(head):
            state[name[len(head):]] = value
    return state


class Writer:
    """Writes the training state of one ``fit`` call to ``path``, every ``every`` steps
    (:meth:`after_step`) or at each epoch's end (``every="epoch"``, :meth:`after_epoch`)."""

    def __init__(self, path, every, model, optimizer, rng, history, callbacks, **shape):
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"checkpoint directory {directory!r} does not exist; "
                                    "create it first")
        self.path, self.every, self.model, self.optimizer = path, every, model, optimizer
        self.rng, self.history, self.callbacks, self.shape = rng, history, callbacks, shape

    def after_step(self, state: State) -> None:
        if self.every != "epoch" and state.step % self.every == 0:
            self.write(state)

    def after_epoch(self, state: State) -> None:
        if self.every == "epoch":
            self.write(state)

    def write(self, state: State) -> None:
        arrays = {"params": self.model.params}
        arrays.update({f"buffer/{k}": v for k, v in self.model.buffers().items()})
        if state.order is not None:
            arrays["order"] = state.order
        optim = _split("optimizer", self.optimizer.state_dict(), arrays)
        cbs = [(type(cb).__name__, _split(f"callback{i}", cb.state_dict(), arrays))
               for i, cb in enumerate(self.callbacks)]
        meta = {
            "kind": KIND, "n_params": self.model.n_params, "dtype": self.model.dtype.name,
            "optimizer": type(self.optimizer).__name__, **self.shape,
            "epoch": state.epoch, "batch": state.batch, "step": state.step,
            "sums": state.sums, "rng": self.rng.bit_generator.state,
            "layer_rng": (self.model._layer_rng.bit_generator.state
                          if self.model.needs_rng else None),
            "optimizer_state": optim, "callbacks": cbs,
            "history": {"epoch": self.history.epoch, "history": self.history.history},
        }
        _io.write_checkpoint(self.path, arrays, meta)


def load(path, model, optimizer, rng, history, callbacks, **shape) -> State:
    """Restore θ, optimizer, generator, callbacks and history from ``path``; return the State."""
    arrays, meta = _io.read_checkpoint(path)
    where = f"resume_from={os.fspath(path)!r}"
    if meta.get("kind") != KIND:
        raise ValueError(f"{where} is not a checkpoint written by nl.fit")
    expected = {"n_params": model.n_params, "dtype": model.dtype.name,
                "optimizer": type(optimizer).__name__, **shape}
    for key, value in expected.items():
        if meta.get(key) != value:
            raise ValueError(f"{where} was written with {key}={meta.get(key)!r} but this run has "
                             f"{key}={value!r}; resume with the same model, data, optimizer, "
                             "batch_size and shuffle")
    params = arrays.get("params")
    if params is None or params.shape != model.params.shape:
        raise ValueError(f"{where} has no parameter vector of shape {model.params.shape}")
    try:
        optimizer.load_state_dict(_join("optimizer", meta["optimizer_state"], arrays))
        rng.bit_generator.state = meta["rng"]
        if model.needs_rng:
            model._layer_rng.bit_generator.state = meta["layer_rng"]
        model.load_buffers(_join("buffer", {}, arrays), where)
        state = State()
        state.epoch, state.batch, state.step = (int(meta[k]) for k in ("epoch", "batch", "step"))
        state.sums = meta["sums"]
        state.order = arrays.get("order")
        if state.batch > 0 and shape["shuffle"] and state.order is None:
            raise ValueError("the permutation of the interrupted epoch is missing")
        pending = list(enumerate(callbacks))
        for i, (name, rest) in enumerate(meta["callbacks"]):
            match = next((j for j, (_, cb) in enumerate(pending)
                          if type(cb).__name__ == name), None)
            if match is not None:
                pending.pop(match)[1].load_state_dict(_join(f"callback{i}", rest, arrays))
        history.epoch = list(meta["history"]["epoch"])
        history.history = {k: list(v) for k, v in meta["history"]["history"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where} is damaged or incomplete: {exc}") from None
    model.params[...] = params
    return state
