"""The base class of training callbacks, and the list of them one ``fit`` call runs."""

from __future__ import annotations

import math


class Callback:
    """Base class of training callbacks; override the hooks you need.

    ``self.model``, ``self.optimizer`` and ``self.history`` are set before training starts.
    Setting ``self.model.stop_training = True`` ends training after the current epoch; setting
    ``self.lr_multiplier`` scales the learning rate ``fit`` uses from the next step on.
    A callback whose state must survive a resume returns it from :meth:`state_dict` (numbers,
    strings, lists and ndarrays) and takes it back in :meth:`load_state_dict`.

    ``keeps_params = True`` promises that the hooks called during training (all but
    ``on_train_end``) never change ``model.params`` or the optimizer's state; ``fit`` can then
    skip a copy of θ per step (Adam). Leave it False if unsure: that is always correct.

    ``writes_files = True`` marks a callback that writes files or prints: in data-parallel
    training (``fit(comm=...)``) it runs on rank 0 only; the others run on every rank.
    """

    model = None
    optimizer = None
    history = None
    lr_multiplier = 1.0
    keeps_params = False
    writes_files = False

    def set_context(self, model, optimizer) -> None:
        self.model, self.optimizer = model, optimizer

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    def on_train_begin(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_batch_end(self, step, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_end(self, logs=None): ...


class _CallbackList:
    """The callbacks of one ``fit`` call, each hook called on every one in order (Keras')."""

    def __init__(self, callbacks):
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        self.callbacks = callbacks

    def __iter__(self):
        return iter(self.callbacks)

    def __bool__(self):
        return bool(self.callbacks)

    def append(self, callback) -> None:
        self.callbacks.append(callback)

    def set_context(self, model, optimizer, history) -> None:
        for cb in self.callbacks:
            cb.set_context(model, optimizer)
            cb.history = history

    def lr_multiplier(self) -> float:
        """μ = ∏ μ_c: the callbacks' factor on the learning rate."""
        return math.prod(cb.lr_multiplier for cb in self.callbacks)

    def keep_params(self) -> bool:
        """Whether every callback promises not to change θ during training."""
        return all(getattr(cb, "keeps_params", False) for cb in self.callbacks)

    def on_train_begin(self):
        for cb in self.callbacks:
            cb.on_train_begin()

    def on_epoch_begin(self, epoch):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch)

    def on_batch_end(self, step, logs):
        for cb in self.callbacks:
            cb.on_batch_end(step, logs)

    def on_epoch_end(self, epoch, logs):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_end(self, *logs):
        for cb in self.callbacks:
            cb.on_train_end(*logs)
