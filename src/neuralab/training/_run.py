"""One training run as an object: ``TrainingRun`` (what ``fit`` checks, holds and calls) and the
``History`` it records. The loop that drives it is :func:`neuralab.train.training_loop`.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any

import numpy as np

from .. import _display
from .. import optim as _optim
from .._validation import (
    check_bool,
    check_choice,
    check_float,
    check_fraction,
    check_int,
    check_seed,
)
from ..nn import losses as _losses
from ..nn import regularizers as _regularizers
from ..nn.losses import default_loss
from ..nn.model import Objective, check_model
from . import _comm, _trainstate
from ._batches import check_rows, rows
from ._guard import DivergenceError
from ._guard import DivergenceGuard as _DivergenceGuard
from ._metrics import EpochSums, check_metrics, dead_relu, evaluate_rows
from ._metrics import probe_rows as _probe_rows
from .callbacks import _CallbackList, _progress_callback


class History:
    """Per-epoch records of a training run (``history.history["loss"]``, as in Keras).

    ``divergence`` is None, or a dict (step, epoch, batch, lr, what) when training stopped on a
    NaN or infinite value with ``on_divergence="stop"``.
    """

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.divergence: dict | None = None

    def record(self, epoch: int, logs: dict) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def _repr_html_(self) -> str: return _display.history_html(self)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


@dataclasses.dataclass
class FitOptions:
    """:func:`~neuralab.train.fit`'s options in one place (their meaning: ``fit``'s docstring).

    ``fit`` and :class:`TrainingRun` take them from here, and so may the CLI, a sweep or the
    playground: ``TrainingRun(model, X, y, options=FitOptions(epochs=5), comm=...)``. Checked
    by ``TrainingRun``, not here.
    """

    loss: Any = None
    optimizer: Any = None
    schedule: Any = None
    epochs: int = 10
    batch_size: int | None = 32
    shuffle: bool = True
    seed: int | None = 0
    validation_data: Any = None
    callbacks: Any = None
    schedule_per: str = "epoch"
    verbose: int = 0
    validation_split: float | None = None
    metrics: Any = None
    on_divergence: str = "raise"
    checkpoint: Any = None
    checkpoint_every: int | str = "epoch"
    resume_from: Any = None
    regularizer: Any = None


class TrainingRun:
    """One training run as an object: its checked arguments, its state, and the pieces the
    loop calls. Takes :func:`fit`'s arguments (as keywords, or ``options=FitOptions(...)``
    with keywords overriding them); :func:`training_loop` runs it."""

    def __init__(self, model, X, y, *args, options: FitOptions | None = None, comm=None,
                 **kwargs):
        if options is None:
            options = FitOptions(*args, **kwargs)
        elif args:
            raise TypeError("pass options= or fit's arguments positionally, not both")
        else:
            options = dataclasses.replace(options, **kwargs)
        self.options = options
        self.comm = comm = _check_comm(comm)
        with comm.together():                   # an error on one rank is raised on every rank
            self._setup(model, X, y, options)
        comm.check_same(self)                   # every rank given the same data, model, options

    def _setup(self, model, X, y, o: FitOptions):
        loss, optimizer, schedule, epochs = o.loss, o.optimizer, o.schedule, o.epochs
        batch_size, shuffle, seed, verbose = o.batch_size, o.shuffle, o.seed, o.verbose
        schedule_per, on_divergence, metrics = o.schedule_per, o.on_divergence, o.metrics
        checkpoint, checkpoint_every, resume_from = o.checkpoint, o.checkpoint_every, \
            o.resume_from
        validation_data, validation_split, callbacks, regularizer = o.validation_data, \
            o.validation_split, o.callbacks, o.regularizer
        root = self.comm.rank == 0
        self.model = model = check_model(model)
        self.loss = loss = default_loss(model) if loss is None else _losses.get(loss)
        self.optimizer = optimizer = _optim.SGD(lr=0.01) if optimizer is None else \
            _optim.get(optimizer)
        self.epochs = check_int(epochs, "epochs", minimum=0)
        batch_size = check_int(batch_size, "batch_size", minimum=1, allow_none=True)
        self.shuffle = check_bool(shuffle, "shuffle")
        self.seed = seed = check_seed(seed)
        verbose = check_int(verbose, "verbose", minimum=0)
        if schedule is not None and not callable(schedule):
            raise TypeError(f"schedule must be a callable t -> lr, got {schedule!r}")
        if schedule_per not in ("epoch", "step"):
            raise ValueError(f"schedule_per must be 'epoch' or 'step', got {schedule_per!r}")
        self.schedule, self.schedule_per = schedule, schedule_per
        self.on_divergence = check_choice(on_divergence, "on_divergence", ("raise", "stop"))
        if checkpoint_every != "epoch":
            checkpoint_every = check_int(checkpoint_every, "checkpoint_every", minimum=1)
        self.regularizer = _regularizers.get(regularizer)
        optimizer.check_run(self.regularizer, model)
        if self.comm.size > 1:
            for layer in model.layers:
                if layer.buffers():
                    raise ValueError(f"{type(layer).__name__} keeps statistics of each batch "
                                     "(its buffers), which every rank would compute from its "
                                     "own rows alone; train this model in one process")
        self.names = check_metrics(metrics, loss)
        X = check_rows(model, X, comm=self.comm)     # raw rows through the model's preprocessing
        Y = loss.prepare_targets(np.asarray(model._encode_labels(y)), model.n_out, X.shape[0],
                                 model.dtype)
        self.val: tuple | None
        self.X, self.Y, self.val = _split_validation(model, loss, X, Y, validation_data,
                                                     validation_split)
        self.m = m = self.X.shape[0]
        # the callbacks that write files (and the progress display) run on rank 0 only
        self.callbacks = _CallbackList([cb for cb in callbacks or []
                                        if root or not getattr(cb, "writes_files", False)])
        self.bs = m if batch_size is None else min(batch_size, m)
        self.n_batches = -(-m // self.bs)
        self.rng = np.random.default_rng(seed)
        if model.needs_rng:                     # dropout masks: a generator of the run's own
            model.bind_rng(np.random.default_rng(None if seed is None else [seed, 1]))
        self.history = History()
        self.state = _trainstate.State()
        shape = {"m": m, "batch_size": self.bs, "shuffle": self.shuffle}
        if resume_from is not None:
            self.state = _trainstate.load(resume_from, model, optimizer, self.rng, self.history,
                                          self.callbacks, **shape)
        if verbose and root:
            self.callbacks.append(_progress_callback(self.epochs, self.n_batches))
        self.callbacks.set_context(model, optimizer, self.history)
        self.probe = _probe_rows(m)
        self.writer = None if checkpoint is None or not root else _trainstate.Writer(
            checkpoint, checkpoint_every, model, optimizer, self.rng, self.history,
            self.callbacks, **shape)
        self.checkpoint_every = checkpoint_every
        model.stop_training = False
        self.guard = _DivergenceGuard(model, optimizer, self.callbacks.keep_params())
        self.layer_index = [i for i, layer in enumerate(model.layers) if layer.n_params]
        self.sync = self.comm.sync(model)       # the per-step all-reduce of ∇θ over the ranks
        self.sums: Any = None                   # the epoch's EpochSums (begin_epoch)
        self.lr: float | None = None
        self.batch: Any = None
        self._multiplier, self._t0 = 1.0, 0.0

    # ------------------------------------------------------------------ one epoch
    def begin_epoch(self) -> None:
        """A new permutation of the rows (unless resuming mid-epoch), the epoch's rate."""
        state = self.state
        self._t0 = time.perf_counter()
        self.callbacks.on_epoch_begin(state.epoch)
        if state.batch == 0:
            state.order = self.rng.permutation(self.m) if self.shuffle else None
            state.sums = None
        self.sums = EpochSums(self.names, len(self.layer_index), state.sums,
                              penalized=self.regularizer is not None)
        state.sums = self.sums.sums
        self._multiplier = self.callbacks.lr_multiplier()
        self.lr = self._rate(state.epoch) if self.schedule_per == "epoch" else None

    def batches(self):
        """``(b, A0, Yb)`` for the epoch's batches from ``state.batch`` on: this rank's rows of
        batch b as columns (all of them in one process), and their targets.

        Rank r takes a contiguous share of m_r of the batch's M rows and its gradient enters
        the average with weight m_r / M (``sync.weight``). A rank left without a row (fewer
        rows than ranks) computes the batch's first row with weight 0, so every rank runs the
        same steps.
        """
        state, bs = self.state, self.bs
        for b in range(state.batch, self.n_batches):
            start = b * bs
            n = min(bs, self.m - start)
            lo, hi = self.comm.share(n)
            self.sync.weight = (hi - lo) / n
            if hi == lo:
                lo, hi = 0, 1
            idx = slice(start + lo, start + hi) if state.order is None else \
                state.order[start + lo:start + hi]
            yield b, rows(self.X, idx, self.model.dtype), self.loss.select(self.Y, idx)

    def rate(self):
        """α of the next step: the schedule at the epoch (or step) times the callbacks' μ;
        None means the optimizer's own ``lr`` (read at every step)."""
        if self.callbacks:
            self._multiplier = self.callbacks.lr_multiplier()
        if self.schedule_per == "step" or self.schedule is None:
            self.lr = self._rate(self.state.step)
        return self.lr

    def _rate(self, t):
        multiplier, optimizer = self._multiplier, self.optimizer
        if self.schedule is None:
            return None if multiplier == 1.0 else optimizer.lr * multiplier
        lr = check_float(self.schedule(t), f"schedule({t})", low=0.0)  # 0: cosine's end
        return lr if multiplier == 1.0 else lr * multiplier

    def params_changed(self) -> None:
        """θ or the optimizer's state was changed between steps (e.g. a weight edited by hand):
        the guard copies θ again before the next step instead of trusting its bounds."""
        self.guard.params_changed()

    def retune(self, *, optimizer=None, schedule=..., regularizer=...) -> None:
        """Change the optimizer, the schedule or the regularizer between two steps, for live
        controls (the playground's): the run goes on from where it is, θ as it is.

        A new ``optimizer`` starts with its own state (its moments are not carried over); the
        new ``schedule`` is evaluated at the same t (epoch or step) as the old one would have
        been; ``regularizer`` may be None. A run retuned this way is no longer the run that a
        single ``fit`` call with the final settings makes.
        """
        model = self.model
        optimizer = self.optimizer if optimizer is None else _optim.get(optimizer)
        regularizer = self.regularizer if regularizer is ... else \
            _regularizers.get(regularizer)
        if schedule is not ... and schedule is not None and not callable(schedule):
            raise TypeError(f"schedule must be a callable t -> lr, got {schedule!r}")
        optimizer.check_run(regularizer, model)
        if optimizer is not self.optimizer:
            self.optimizer = optimizer
            self.callbacks.set_context(model, optimizer, self.history)
            self.guard = _DivergenceGuard(model, optimizer, self.callbacks.keep_params())
        self.regularizer = regularizer
        if regularizer is not None and self.sums is not None:
            self.sums.sums.setdefault("penalty", 0.0)      # counted from this step on
        if schedule is not ...:
            self.schedule = schedule
            if self.schedule_per == "epoch":
                self.lr = self._rate(self.state.epoch)

    def average(self, J, Yb) -> float:
        """The global batch's J, with ∇θ (in place) and the step's sums averaged over the
        ranks from this rank's (J of its rows, its outputs, its targets ``Yb``)."""
        self.batch = self.sums.batch(J, self.loss, self.model._output, Yb, self.sync.weight)
        return self.sync.average(self.model.grads, J, self.batch)

    def objective(self, A0, Yb):
        """The objective a second-order optimizer re-evaluates: J(θ) on the global batch."""
        return self.sync.objective(Objective(self.model, A0, Yb, self.loss))

    def penalize(self) -> float:
        """R(W) of the regularizer, its gradient added into ∇θ (0 without one)."""
        return 0.0 if self.regularizer is None else self.regularizer.apply(self.model)

    def end_batch(self, b, J, R, lr) -> None:
        """Count the step in the epoch's sums; callbacks; a checkpoint every k steps."""
        state = self.state
        self.sums.add(self.batch, self.guard.sq, R)
        state.step += 1
        state.batch = b + 1
        self.callbacks.on_batch_end(state.step, {"loss": J, "lr": lr, "batch": b,
                                                 "sums": self.sums.sums})
        if self.writer is not None:
            self.writer.after_step(state)

    def end_epoch(self) -> dict:
        """The epoch's logs (training sums, validation, gradient norms, dead ReLUs, time) into
        the history, then the callbacks and the end-of-epoch checkpoint."""
        state, model = self.state, self.model
        epoch = state.epoch
        logs = {**self.sums.logs(), "lr": self.optimizer.lr if self.lr is None else self.lr}
        if self.val is not None:
            Xv, Yv = self.val
            for key, v in evaluate_rows(model, Xv, Yv, self.loss, self.names,
                                        comm=self.comm).items():
                logs[f"val_{key}"] = v
        logs.update(self.sums.grad_norms(self.layer_index))
        logs.update(dead_relu(model, self.X, self.probe))
        logs["time"] = self.comm.max(time.perf_counter() - self._t0)
        self.history.record(epoch, logs)
        state.epoch, state.batch, state.order = epoch + 1, 0, None
        self.callbacks.on_epoch_end(epoch, logs)
        if self.writer is not None:
            self.writer.after_epoch(state)
        return logs

    def diverged(self, batch, J, lr) -> None:
        """Report a NaN/inf at the current step: raise DivergenceError, or warn and stop."""
        state = self.state
        step, lr = state.step + 1, self.optimizer.lr if lr is None else lr
        what = self.guard.what
        message = self.guard.message(J, step, state.epoch, batch, lr)
        self.history.divergence = {"step": step, "epoch": state.epoch, "batch": batch,
                                   "lr": lr, "what": what}
        if self.on_divergence == "raise":
            raise DivergenceError(message, step=step, epoch=state.epoch, lr=lr, what=what,
                                  history=self.history)
        warnings.warn(message, RuntimeWarning, stacklevel=4)
        self.callbacks.on_train_end({"diverged": True})


def _check_comm(comm):
    """The communicator ``comm`` (one process without one), checked for what ``fit`` calls."""
    if comm is None:
        return _comm.Local()
    needed = ("rank", "size", "share", "sync", "sum", "max", "check_same", "together",
              "abort_on_error")
    missing = [name for name in needed if not hasattr(comm, name)]
    if missing:
        raise TypeError(f"comm must be a neuralab communicator such as nl.distributed.world(), "
                        f"got {type(comm).__name__} (it lacks {', '.join(missing)})")
    return comm


def _split_validation(model, loss, X, Y, validation_data, validation_split):
    """``(X, Y, val)``: the training rows and the validation pair (or None)."""
    m = X.shape[0]
    if validation_split is not None:
        if validation_data is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        cut = m - int(round(m * check_fraction(validation_split, "validation_split")))
        if cut in (0, m):
            raise ValueError(f"validation_split={validation_split} of {m} samples leaves an "
                             "empty training or validation part")
        return X[:cut], loss.select(Y, slice(0, cut)), (X[cut:], loss.select(Y, slice(cut, None)))
    if validation_data is None:
        return X, Y, None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a pair (X_val, y_val)")
    Xv = check_rows(model, validation_data[0], "validation_data[0]")
    yv = model._encode_labels(validation_data[1], "validation_data[1]")
    return X, Y, (Xv, loss.prepare_targets(np.asarray(yv), model.n_out, Xv.shape[0],
                                           model.dtype))
