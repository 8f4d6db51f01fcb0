"""Callbacks for ``nl.fit``: early stopping, model checkpoints, learning-rate reduction, logs.

Each is a :class:`Callback`; write your own by subclassing it and overriding
the hooks you need (``on_epoch_end(epoch, logs)`` sees that epoch's ``loss``, ``val_loss``,
``accuracy``, ``lr``... as in Keras). Their state (best value, patience counter, best θ) is
saved in ``fit``'s checkpoints, so a resumed run decides exactly as the uninterrupted one.

Examples
--------
>>> import numpy as np, neuralab as nl
>>> X = np.random.default_rng(0).normal(size=(60, 2)); y = (X[:, 0] > 0).astype(int)
>>> stop = nl.callbacks.EarlyStopping(monitor="val_loss", patience=2)
>>> h = nl.fit(nl.MLP([2, 8, 2], seed=0), X, y, epochs=5, validation_split=0.25,
...            callbacks=[stop])
>>> len(h.epoch) <= 5
True
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time

import numpy as np

from ._liveplot import LivePlot
from ._validation import check_choice, check_float, check_int, check_writable_file

__all__ = ["Callback", "CSVLogger", "EarlyStopping", "LivePlot", "ModelCheckpoint",
           "ReduceLROnPlateau"]


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
        from .io import save

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


class CSVLogger(Callback):
    """Write the epoch logs to a CSV file (one row per epoch, a column per logged name).

    The file is rewritten from the whole history after each epoch (a temporary file renamed
    over ``path``), so it is always complete, and a resumed run continues it without duplicate
    rows.
    """

    keeps_params = True
    writes_files = True

    def __init__(self, path, separator: str = ","):
        self.path = check_writable_file(path)
        self.separator = separator

    def on_epoch_end(self, epoch, logs=None):
        check_writable_file(self.path)
        history = self.history
        keys = list(history.history)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, delimiter=self.separator)
            writer.writerow(["epoch", *keys])
            for row, e in enumerate(history.epoch):
                writer.writerow([e + 1, *(_cell(history.history[k], row) for k in keys)])
        os.replace(tmp, self.path)


def _cell(values, row):
    return repr(values[row]) if row < len(values) and isinstance(values[row], float) else (
        values[row] if row < len(values) else "")


class _ProgressBar(Callback):
    """A tqdm bar per epoch: batch, running loss and accuracy, lr, ETA."""

    is_progress_bar = True
    keeps_params = True
    writes_files = True

    def __init__(self, epochs, n_batches, file=None, notebook=False):
        self.epochs, self.n_batches, self.file = epochs, n_batches, file
        self.bar, self._shown, self.notebook = None, 0.0, notebook

    def on_epoch_begin(self, epoch, logs=None):
        import shutil

        from tqdm.auto import tqdm

        # a pseudo-terminal may report 0 x 0 (tqdm would then hide the bar): shutil falls back
        size = shutil.get_terminal_size((100, 24))
        shape = {} if self.notebook else {"ncols": size.columns, "nrows": size.lines}
        self.bar = tqdm(total=self.n_batches, desc=f"epoch {epoch + 1}/{self.epochs}",
                        unit="batch", file=self.file, leave=True, mininterval=0.2, **shape)

    def on_batch_end(self, step, logs=None):
        bar = self.bar
        bar.update(logs["batch"] + 1 - bar.n)
        now = time.monotonic()
        if now - self._shown > 0.2:                 # formatting costs more than a step
            self._shown = now
            sums = logs["sums"]
            post = {"loss": f"{sums['loss'] / sums['seen']:.4f}"}
            if "accuracy" in sums:
                post["acc"] = f"{sums['accuracy'] / sums['seen']:.4f}"
            if logs["lr"] is not None:
                post["lr"] = f"{logs['lr']:.3g}"
            bar.set_postfix(post, refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        keys = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
        self.bar.set_postfix({k.replace("accuracy", "acc"): f"{logs[k]:.4g}"
                              for k in keys if k in logs}, refresh=False)
        self.bar.close()

    def on_train_end(self, logs=None):
        if self.bar is not None and not self.bar.disable:
            self.bar.close()


class _EpochLines(Callback):
    """``verbose`` output when stdout is not a terminal: one line per epoch."""

    keeps_params = True
    writes_files = True

    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        shown = "  ".join(f"{k} {logs[k]:.4g}" for k in logs
                          if not k.startswith(("grad_norm", "dead_relu")))
        print(f"epoch {epoch + 1}/{self.epochs}  {shown}", flush=True)


def _progress_callback(epochs, n_batches):
    """A progress bar in a Jupyter kernel (tqdm.auto's widget) or when stdout is a terminal,
    else one line per epoch."""
    from ._display import in_notebook

    if in_notebook():
        return _ProgressBar(epochs, n_batches, file=sys.stdout, notebook=True)
    isatty = getattr(sys.stdout, "isatty", None)
    if isatty is None or not isatty():
        return _EpochLines(epochs)
    return _ProgressBar(epochs, n_batches, file=sys.stdout)
