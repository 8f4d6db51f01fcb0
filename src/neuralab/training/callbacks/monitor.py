"""Callbacks that watch one logged quantity: early stopping, checkpoints of the best model,
learning-rate reduction on a plateau."""

from __future__ import annotations

import numpy as np

from ..._validation import check_choice, check_float, check_int, check_writable_file
from .base import Callback


class _Monitor(Callback):
    """Shared rule of the callbacks that watch one logged quantity for improvement.

    An epoch improves on the best value when ``value < best − min_delta`` (``mode="min"``) or
    ``value > best + min_delta`` (``mode="max"``); ``"auto"`` is "max" for accuracies.
    """

    keeps_params = True     # EarlyStopping restores θ only in on_train_end

    def __init__(self, monitor, mode, min_delta):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be a logged name such as 'val_loss', got {monitor!r}")
        self.monitor = monitor
        mode = check_choice(mode, "mode", ("auto", "min", "max"))
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.min_delta = check_float(min_delta, "min_delta", low=0.0)
        self.best = None
        self._resumed = False

    def _reset(self):
        """Start afresh at ``on_train_begin`` unless state was just restored from a checkpoint."""
        resumed, self._resumed = self._resumed, False
        return not resumed

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self._resumed = True

    def _value(self, logs) -> float:
        if self.monitor not in logs:
            hint = (" (pass validation_data or validation_split to fit, or monitor='loss')"
                    if self.monitor.startswith("val_") else "")
            raise ValueError(f"{type(self).__name__} monitors {self.monitor!r}, which fit does "
                             f"not log{hint}; logged: {', '.join(logs)}")
        return float(logs[self.monitor])

    def _improved(self, value) -> bool:
        if self.best is None or not np.isfinite(self.best):
            return bool(np.isfinite(value))
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs ("val_loss", "val_accuracy", "loss"...).
    patience : int ≥ 0, default 5
        Stop after this many epochs in a row without improvement (Keras' rule: 0 stops at
        the first epoch that does not improve).
    min_delta : float ≥ 0, default 0
        Smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}
    restore_best : bool, default True
        At the end of training, set θ to the parameters of the best epoch.

    Attributes
    ----------
    best, best_epoch, stopped_epoch : the best value, its epoch (0-based), and the epoch that
        stopped training (None if it ran to the end).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best: bool = True):
        super().__init__(monitor, mode, min_delta)
        self.patience = check_int(patience, "patience", minimum=0)
        self.restore_best = bool(restore_best)
        self.wait, self.best_epoch, self.stopped_epoch, self.best_params = 0, None, None, None

    def on_train_begin(self, logs=None):
        if self._reset():
            self.best, self.wait, self.best_epoch, self.stopped_epoch = None, 0, None, None
            self.best_params = None

    def on_epoch_end(self, epoch, logs=None):
        value = self._value(logs)
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_params = self.model.params.copy()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_params is not None:
            self.model.params[...] = self.best_params

    def state_dict(self):
        state = {"best": self.best, "wait": self.wait, "best_epoch": self.best_epoch,
                 "stopped_epoch": self.stopped_epoch}
        if self.best_params is not None:
            state["best_params"] = self.best_params
        return state


class ModelCheckpoint(_Monitor):
    """Save the model (``nl.save``, atomic) at the end of each epoch, or only when it improves.

    Parameters
    ----------
    path : str
        Destination; may hold ``{epoch}`` (1-based) and log names, e.g.
        ``"model-{epoch:03d}-{val_loss:.3f}.safetensors"``.
    monitor : str, default "val_loss"
        Used with ``save_best_only``.
    save_best_only : bool, default False
    mode : {"auto", "min", "max"}
    """

    writes_files = True

    def __init__(self, path, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto", min_delta: float = 0.0):
        super().__init__(monitor, mode, min_delta)
        self.path = check_writable_file(path)
        self.save_best_only = bool(save_best_only)
        self.saved: list[str] = []

    def on_train_begin(self, logs=None):
        if self._reset():
            self.best = None

    def on_epoch_end(self, epoch, logs=None):
        from ...export.io import save

        if self.save_best_only:
            value = self._value(logs)
            if not self._improved(value):
                return
            self.best = value
        path = self.path.format(epoch=epoch + 1, **logs)
        save(self.model, path)
        self.saved.append(path)

    def state_dict(self):
        return {"best": self.best}


class ReduceLROnPlateau(_Monitor):
    r"""Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    The rate ``fit`` uses is :math:`\alpha_t = s(t)\,\mu`, where s is the schedule (or the
    optimizer's ``lr``) and μ this callback's ``lr_multiplier``, which starts at 1. After
    ``patience`` epochs without improvement μ becomes :math:`\max(\mu f, \alpha_{min}/s)`,
    f being ``factor``, α_min ``min_lr`` and s the rate of the epoch just finished: the reduction
    composes with a schedule instead of replacing it, and the schedule keeps its shape.

    Parameters
    ----------
    monitor : str, default "val_loss"
    factor : float in (0, 1), default 0.1
    patience : int ≥ 0, default 10
        Reduce after this many epochs in a row without improvement (Keras' rule).
    min_delta : float ≥ 0, default 1e-4
    cooldown : int ≥ 0, default 0
        Epochs after a reduction that are not counted as misses (PyTorch's rule; in Keras
        a cooldown of 1 has no effect).
    min_lr : float ≥ 0, default 0
    mode : {"auto", "min", "max"}
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0,
                 mode: str = "auto"):
        super().__init__(monitor, mode, min_delta)
        self.factor = check_float(factor, "factor", low=0.0, high=1.0, low_inclusive=False,
                                  high_inclusive=False)
        self.patience = check_int(patience, "patience", minimum=0)
        self.cooldown = check_int(cooldown, "cooldown", minimum=0)
        self.min_lr = check_float(min_lr, "min_lr", low=0.0)
        self.wait = self.cooldown_counter = 0
        self.lr_multiplier = 1.0

    def on_train_begin(self, logs=None):
        if self._reset():
            self.best, self.wait, self.cooldown_counter, self.lr_multiplier = None, 0, 0, 1.0

    def on_epoch_end(self, epoch, logs=None):
        value = self._value(logs)
        in_cooldown = self.cooldown_counter > 0
        if in_cooldown:
            self.cooldown_counter -= 1
        if self._improved(value):
            self.best, self.wait = value, 0
        elif not in_cooldown:
            self.wait += 1
            if self.wait >= self.patience:
                base = float(logs["lr"]) / self.lr_multiplier
                floor = self.min_lr / base if base > 0 else 0.0
                self.lr_multiplier = max(self.lr_multiplier * self.factor, floor)
                self.wait, self.cooldown_counter = 0, self.cooldown

    def state_dict(self):
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter,
                "lr_multiplier": self.lr_multiplier}
