r"""Training: ``fit`` runs mini-batch optimization of a model and returns its ``History``.

``batch_size=None`` is full-batch gradient descent, ``batch_size=1`` stochastic gradient
descent, anything between mini-batch gradient descent. The same seed on the same machine gives
bit-identical results, and so does a run resumed from a checkpoint (``resume_from=``).

Each step takes the batch's rows (a memory-mapped ``X`` is read in file order, then put in batch
order) and updates θ with the optimizer at rate

.. math::

    \alpha_t = s(t) \cdot \prod_c \mu_c

where s is ``schedule`` (or the optimizer's ``lr`` without one) and μ_c the ``lr_multiplier``
of each callback (1 unless, e.g., :class:`~neuralab.callbacks.ReduceLROnPlateau` lowered it).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from . import _trainstate
from . import losses as _losses
from . import optim as _optim
from ._inputs import MappedRows
from ._validation import (
    check_array,
    check_bool,
    check_choice,
    check_float,
    check_fraction,
    check_int,
    check_model,
    check_seed,
)
from .activations import ReLU, Sigmoid, Softmax
from .model import Objective

#: Metric names ``fit(metrics=...)`` and ``evaluate(metrics=...)`` know.
METRICS = ("accuracy", "mse", "mae")
#: Rows of the training set (evenly spaced) on which dead ReLUs are counted after each epoch.
PROBE_SIZE = 128


class DivergenceError(FloatingPointError):
    """Training produced a NaN or infinite loss, gradient or parameter vector.

    Raised by ``fit(on_divergence="raise")`` after θ is restored to its last finite value.
    ``step``, ``epoch``, ``lr``, ``what`` ("loss", "gradient" or "parameters") and ``history``
    (the epochs completed before) say where it happened.
    """

    def __init__(self, message, *, step=None, epoch=None, lr=None, what=None, history=None):
        super().__init__(message)
        self.step, self.epoch, self.lr, self.what, self.history = step, epoch, lr, what, history


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

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


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
    """

    model = None
    optimizer = None
    history = None
    lr_multiplier = 1.0
    keeps_params = False

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


def default_loss(model) -> _losses.Loss:
    """The loss that matches the model's output: CrossEntropy, BinaryCrossEntropy or MSE."""
    last = model.layers[-1]
    if isinstance(last, Softmax):
        return _losses.CrossEntropy()
    if isinstance(last, Sigmoid):
        return _losses.BinaryCrossEntropy()
    return _losses.MSE()


# ---------------------------------------------------------------------------- metrics
def _accuracy(loss, A, Y) -> float | None:
    """Accuracy of column outputs ``A`` against internal targets ``Y`` (None: not a classifier)."""
    if not isinstance(loss, (_losses.CrossEntropy, _losses.BinaryCrossEntropy)):
        return None
    return _metric_sum("accuracy", loss, A, Y) / A.shape[1]


def _metric_sum(name, loss, A, Y) -> float:
    """Sum over the batch's examples of metric ``name`` (accuracy counts correct answers).

    mse and mae average over the outputs of each example; class labels count as one-hot.
    """
    if name == "accuracy":
        if isinstance(loss, _losses.CrossEntropy):
            labels = Y if Y.ndim == 1 else Y.argmax(axis=0)
            return float(np.count_nonzero(A.argmax(axis=0) == labels))
        return float(np.count_nonzero((A >= 0.5) == (Y >= 0.5))) / A.shape[0]
    T = Y
    if Y.ndim == 1:
        T = np.zeros_like(A)
        T[Y, np.arange(A.shape[1])] = 1.0
    D = A - T
    total = np.vdot(D, D) if name == "mse" else np.abs(D).sum()
    return float(total) / A.shape[0]


def _check_metrics(metrics, loss) -> list[str]:
    """Metric names to compute: accuracy for classifiers, plus those asked for."""
    names = ["accuracy"] if isinstance(loss, (_losses.CrossEntropy,
                                              _losses.BinaryCrossEntropy)) else []
    if metrics is None:
        return names
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        raise TypeError(f"metrics must be a list of names such as ['mae'], got {metrics!r}")
    for name in metrics:
        check_choice(name, "metrics entries", METRICS)
        if name == "accuracy" and not names:
            raise ValueError("metrics 'accuracy' needs a classification loss (CrossEntropy or "
                             "BinaryCrossEntropy); use 'mse' or 'mae' for regression")
        if name not in names:
            names.append(name)
    return names


# ---------------------------------------------------------------------------- data rows
def _check_rows(model, X, name="X"):
    """``X`` checked for the model and run through its preprocessing; a memory map is kept on
    disk, checked chunk by chunk, and preprocessed batch by batch (a ``MappedRows`` view)."""
    if not isinstance(X, np.memmap):
        return model._check_X(X, name)
    n = model.n_features_in
    if X.ndim != 2 or X.shape[1] != n or X.shape[0] == 0:
        raise ValueError(f"{name} must have shape (m, {n}) with m >= 1, got {X.shape}")
    rows = max(1, 2**22 // max(1, X.shape[1]))
    for start in range(0, X.shape[0], rows):
        check_array(X[start:start + rows], f"{name}[{start}:{start + rows}]", dtype=X.dtype)
    return model._rows_view(X)


def _rows(X, idx, dtype):
    """Rows ``idx`` of ``X`` as a column batch (n, m) of ``dtype``.

    A memory map is read in file order (sorted indices, for locality) and the rows are put
    back in the order of ``idx``, so a mapped ``X`` trains exactly as the same array in memory.
    """
    if isinstance(X, MappedRows):           # a memory map read through the preprocessing
        return X.rows(idx, dtype).T
    if isinstance(X, np.memmap) and isinstance(idx, np.ndarray):
        order = np.argsort(idx, kind="stable")
        rows = np.empty((len(idx), X.shape[1]), dtype=dtype)
        rows[order] = X[idx[order]]
        return rows.T
    return np.asarray(X[idx], dtype=dtype).T


def _evaluate(model, X, Y, loss, names, batch_size=4096) -> dict:
    """Loss and ``names`` metrics of ``model`` on rows ``X``, internal targets ``Y``, by chunks."""
    m = X.shape[0]
    total, sums = 0.0, dict.fromkeys(names, 0.0)
    last = model.layers[-1]
    for start in range(0, m, batch_size):
        sl = slice(start, start + batch_size)
        A0 = _rows(X, sl, model.dtype)
        Yb = loss.select(Y, sl)
        A = model._forward(A0, training=False)
        if loss.fuses(last):
            # recompute the logits for a finite loss at saturated outputs
            Z = A0
            for layer in model.layers[:-1]:
                Z = layer.forward(Z, training=False)
            value = loss._value_from_logits(Z, A, Yb)
        else:
            value = loss._value(A, Yb)
        mb = A0.shape[1]
        total += float(value) * mb
        for key in names:
            sums[key] += _metric_sum(key, loss, A, Yb)
    return {"loss": total / m, **{key: s / m for key, s in sums.items()}}


def evaluate(model, X, y, loss=None, batch_size: int = 4096, metrics=None) -> dict:
    """Loss (and accuracy for classifiers, plus ``metrics``) of ``model`` on ``(X, y)``.

    ``X`` may be a memory map: it is read ``batch_size`` rows at a time.
    """
    model = check_model(model)
    loss = default_loss(model) if loss is None else _losses.get(loss)
    names = _check_metrics(metrics, loss)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    X = _check_rows(model, X)
    Y = loss.prepare_targets(np.asarray(model._encode_labels(y)), model.n_out, X.shape[0],
                             model.dtype)
    return _evaluate(model, X, Y, loss, names, batch_size)


# ---------------------------------------------------------------------------- diagnostics
def _dead_relu(model, X, idx, chunk=PROBE_SIZE) -> dict:
    """Share of ReLU units that output 0 for every probe row ``idx`` (forward pass only).

    The probe goes through in chunks of ``chunk`` rows: one chunk for the default probe, which
    measured fastest (784-512-512-10: 0.79 ms against 1.17 ms in chunks of 32).
    """
    active = {}
    for start in range(0, len(idx), chunk):
        A = _rows(X, idx[start:start + chunk], model.dtype)
        for i, layer in enumerate(model.layers):
            A = layer.forward(A, training=False)
            if isinstance(layer, ReLU):
                on = (A > 0).any(axis=1)
                active[i] = on if i not in active else active[i] | on
    if not active:
        return {}
    units = sum(on.size for on in active.values())
    return {"dead_relu": sum(int(np.count_nonzero(~on)) for on in active.values()) / units}


def _not_finite(v) -> bool:
    """True if ``v`` holds a NaN or inf: one dot product v·v (NaN/inf propagate), confirmed
    elementwise only when it is not finite (it also overflows for huge finite entries)."""
    return not math.isfinite(v.dot(v)) and not np.isfinite(v).all()


def _grad_not_finite(grad, sq, covered) -> bool:
    """:func:`_not_finite` of ∇θ from its layers' squared norms ``sq`` (their sum is ∇θ·∇θ),
    so the check costs no pass of its own; confirmed elementwise only when the sum is not
    finite. ``covered``: the layers' slices make up all of ``grad`` (else a pass of its own)."""
    if not covered:
        return _not_finite(grad)
    return not math.isfinite(sum(sq)) and not np.isfinite(grad).all()


def _adam(optimizer) -> bool:
    """True for Adam/AdamW with their own ``step`` and ``_update``: the kernel then makes the
    step's last write (and reports whether θ is finite), and the step bound applies."""
    return type(optimizer).step is _optim.Optimizer.step and \
        type(optimizer)._update in (_optim.Adam._update, _optim.AdamW._update)


def _finite_after_step(optimizer, theta) -> bool:
    """Whether θ is all finite after ``optimizer.step``.

    Adam's fused kernel checks each new θ as it writes it (``_theta_finite``); that answer is
    used when the kernel made the step's last write. Otherwise (or without numba):
    :func:`_not_finite`, one pass over θ.
    """
    flag = optimizer.__dict__.pop("_theta_finite", None) if _adam(optimizer) else None
    return not _not_finite(theta) if flag is None else flag


def _needs_backup(optimizer, sq, lr, dtype) -> bool:
    """Whether ``fit`` must copy θ before the step to restore it should the step overflow:
    not when Adam proves the step leaves θ finite (``Adam._next_step_bounded``, with
    2‖∇θ‖ = 2√Σ sq ≥ max |∇θ|, the 2 for the roundings of a float32 sum)."""
    return not (_adam(optimizer) and
                optimizer._next_step_bounded(2.0 * math.sqrt(sum(sq)), lr, dtype))


def _rate(schedule, t, multiplier, optimizer):
    """The learning rate of step/epoch ``t`` (None: the optimizer's own ``lr``, unscaled)."""
    if schedule is None:
        return None if multiplier == 1.0 else optimizer.lr * multiplier
    lr = check_float(schedule(t), f"schedule({t})", low=0.0)   # 0 allowed: cosine's end
    return lr if multiplier == 1.0 else lr * multiplier


# ---------------------------------------------------------------------------- fit
def fit(model, X, y, loss=None, optimizer=None, schedule=None, epochs: int = 10,
        batch_size: int | None = 32, shuffle: bool = True, seed: int | None = 0,
        validation_data=None, callbacks=None, schedule_per: str = "epoch",
        verbose: int = 0, *, validation_split: float | None = None, metrics=None,
        on_divergence: str = "raise", checkpoint=None, checkpoint_every="epoch",
        resume_from=None) -> History:
    r"""Train ``model`` on ``(X, y)`` by mini-batch optimization.

    Parameters
    ----------
    model : Sequential
    X : array (m, n_in)
        Samples as rows. An ``np.memmap`` (``nl.data.load_npy``) stays on disk: each batch's
        rows are gathered when needed, and the finiteness check reads it in chunks.
    y : array
        Targets in the form the loss expects (class indices for CrossEntropy, {0, 1} for
        BinaryCrossEntropy, reals for MSE).
    loss : Loss or str, optional
        Default: the loss that matches the output layer.
    optimizer : Optimizer or str, optional
        Default ``SGD(lr=0.01)``.
    schedule : callable t ↦ α_t, optional
        Evaluated at each epoch start (t = epoch index) or each step (``schedule_per="step"``,
        t = global step index). Without one the optimizer's ``lr`` is used.
    epochs : int ≥ 0
    batch_size : int ≥ 1 or None
        ``None`` is the full batch. With ``shuffle=False`` batches are taken in order and the
        last one may be partial (PyTorch's ``drop_last=False``).
    shuffle : bool
        Reshuffle the samples every epoch with a generator seeded by ``seed``.
    validation_data : (X_val, y_val), optional
        Evaluated at the end of each epoch (``val_loss``, ``val_accuracy``, ...).
    callbacks : list of Callback, optional
    verbose : int
        0 silent; ≥ 1 a progress bar on a terminal (epoch, batch, loss, accuracy, lr, ETA),
        otherwise one line per epoch.
    validation_split : float in (0, 1), optional
        Hold out the *last* fraction of the rows as validation data, before any shuffling
        (Keras' rule; shuffle first, or pass a stratified ``validation_data`` from
        ``nl.data.train_val_test_split``, if the rows are sorted).
    metrics : list of {"accuracy", "mse", "mae"}, optional
        Extra metrics on training and validation data (accuracy is always reported for
        classifiers; mse/mae compare class outputs with one-hot targets).
    on_divergence : {"raise", "stop"}
        A NaN or infinite loss, gradient or θ is detected at the step it appears; θ is restored
        to its last finite value and then ``"raise"`` raises :class:`DivergenceError` (the
        default: a run that failed must not look like one that finished), ``"stop"`` warns,
        records ``history.divergence`` and returns.
    checkpoint : path, optional
        Where to write training state atomically (θ, optimizer state, step, epoch, the
        shuffle generator's state, the epoch's permutation and position, callback states,
        history so far).
    checkpoint_every : int ≥ 1 or "epoch"
        Write the checkpoint every this many steps, or at the end of each epoch.
    resume_from : path, optional
        A checkpoint from a run with the same model, data size, optimizer type, batch size and
        shuffle: training continues where it stopped, and the final θ is bit-identical to the
        run that was never interrupted.

    Returns
    -------
    History
        Per epoch: ``loss``, ``accuracy`` (classifiers), metrics, ``lr`` (the rate of the
        epoch's last step), ``time`` (seconds), ``val_*`` for validation data,
        ``grad_norm_{i}`` for each layer ``model.layers[i]`` with parameters, the root mean
        square over the epoch's T steps of that layer's gradient norm (W and b together),

        .. math::

            \text{grad\_norm}_i = \sqrt{\tfrac{1}{T} \textstyle\sum_{t=1}^{T}
            \lVert \nabla_{\theta_i} J_t \rVert_2^2}

        read from the flat gradient's slices at each step (one dot product per layer), and
        ``dead_relu``, the share of ReLU units that output 0 for every row of a fixed probe of
        up to 128 evenly spaced training rows, after the epoch (a forward pass only).
    """
    model = check_model(model)
    loss = default_loss(model) if loss is None else _losses.get(loss)
    optimizer = _optim.SGD(lr=0.01) if optimizer is None else _optim.get(optimizer)
    epochs = check_int(epochs, "epochs", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1, allow_none=True)
    shuffle = check_bool(shuffle, "shuffle")
    seed = check_seed(seed)
    verbose = check_int(verbose, "verbose", minimum=0)
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule must be a callable t -> lr, got {schedule!r}")
    if schedule_per not in ("epoch", "step"):
        raise ValueError(f"schedule_per must be 'epoch' or 'step', got {schedule_per!r}")
    check_choice(on_divergence, "on_divergence", ("raise", "stop"))
    if checkpoint_every != "epoch":
        checkpoint_every = check_int(checkpoint_every, "checkpoint_every", minimum=1)
    names = _check_metrics(metrics, loss)
    X = _check_rows(model, X)
    m = X.shape[0]
    Y = loss.prepare_targets(np.asarray(model._encode_labels(y)), model.n_out, m, model.dtype)
    val = None
    if validation_split is not None:
        if validation_data is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        cut = m - int(round(m * check_fraction(validation_split, "validation_split")))
        if cut in (0, m):
            raise ValueError(f"validation_split={validation_split} of {m} samples leaves an "
                             "empty training or validation part")
        val = (X[cut:], loss.select(Y, slice(cut, None)))
        X, Y, m = X[:cut], loss.select(Y, slice(0, cut)), cut
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        Xv = _check_rows(model, validation_data[0], "validation_data[0]")
        yv = model._encode_labels(validation_data[1], "validation_data[1]")
        val = (Xv, loss.prepare_targets(np.asarray(yv), model.n_out, Xv.shape[0], model.dtype))
    callbacks = list(callbacks or [])
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")

    bs = m if batch_size is None else min(batch_size, m)
    n_batches = -(-m // bs)
    rng = np.random.default_rng(seed)
    history = History()
    state = _trainstate.State()
    if resume_from is not None:
        state = _trainstate.load(resume_from, model, optimizer, rng, history, callbacks,
                                 m=m, batch_size=bs, shuffle=shuffle)
    if verbose:
        from .callbacks import _progress_callback

        bar = _progress_callback(epochs, n_batches)
        if bar is not None:
            callbacks.append(bar)
    for cb in callbacks:
        cb.set_context(model, optimizer)
        cb.history = history
    probe = np.unique(np.linspace(0, m - 1, min(PROBE_SIZE, m)).astype(np.intp))
    writer = None if checkpoint is None else _trainstate.Writer(
        checkpoint, model, optimizer, rng, history, callbacks, m=m, batch_size=bs,
        shuffle=shuffle)
    model.stop_training = False
    theta, grad = model.params, model.grads
    layer_grads_at = [(i, grad[sl]) for i, (layer, sl) in
                      enumerate(zip(model.layers, model._slices, strict=True)) if layer.n_params]
    layer_grads = [g for _, g in layer_grads_at]
    covered = sum(g.size for g in layer_grads) == grad.size  # the layers' slices make up ∇θ
    backup = np.empty_like(theta)
    # Adam's bounds of θ and m (for skipping the backup) are trusted only from steps of this
    # run, and only while no callback can change θ between steps
    optimizer.__dict__.pop("_bounds", None)
    params_kept = all(getattr(cb, "keeps_params", False) for cb in callbacks)
    last_saved = False      # whether the previous step had to copy θ
    # NaN/inf are detected and reported below; NumPy's overflow warnings would only be noise
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for cb in callbacks:
            cb.on_train_begin()
        while state.epoch < epochs and not model.stop_training:
            epoch = state.epoch
            t0 = time.perf_counter()
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            if state.batch == 0:
                state.order = rng.permutation(m) if shuffle else None
                state.sums = {"steps": 0, "seen": 0.0, "loss": 0.0,
                              "grad_sq": [0.0] * len(layer_grads), **dict.fromkeys(names, 0.0)}
            multiplier = math.prod(cb.lr_multiplier for cb in callbacks)
            lr = _rate(schedule, epoch, multiplier, optimizer) if schedule_per == "epoch" else None
            sums = state.sums
            grad_sq = sums["grad_sq"]
            for b in range(state.batch, n_batches):
                if state.order is None:
                    idx = slice(b * bs, (b + 1) * bs)
                else:
                    idx = state.order[b * bs:(b + 1) * bs]
                A0 = _rows(X, idx, model.dtype)
                Yb = loss.select(Y, idx)
                if callbacks:
                    multiplier = math.prod(cb.lr_multiplier for cb in callbacks)
                if schedule_per == "step" or schedule is None:
                    lr = _rate(schedule, state.step, multiplier, optimizer)
                value = model.loss_and_grad(A0, Yb, loss)
                sq = [float(g.dot(g)) for g in layer_grads]  # ‖∇θ_l‖² of this step, per layer
                what = "loss" if not math.isfinite(value) else \
                    "gradient" if _grad_not_finite(grad, sq, covered) else None
                if not params_kept:    # a callback may have changed θ: no stale bounds
                    optimizer.__dict__.pop("_bounds", None)
                if what is None:
                    saved = _needs_backup(optimizer, sq, lr, theta.dtype)
                    if saved:
                        np.copyto(backup, theta)
                    if optimizer.needs_closure:
                        optimizer.step(theta, grad, lr, closure=Objective(model, A0, Yb, loss))
                        sq = [float(g.dot(g)) for g in layer_grads]  # as the closure left ∇θ
                    else:
                        optimizer.step(theta, grad, lr)
                    if not _finite_after_step(optimizer, theta):
                        if not saved:     # the bound says this cannot happen
                            raise AssertionError("Adam's step bound failed; please report it")
                        theta[...] = backup
                        what = "parameters"
                    elif saved and not last_saved and params_kept and _adam(optimizer):
                        # bounds for the next steps (not again while they stay too loose)
                        optimizer._measure_bounds(theta)
                    last_saved = saved
                if what is not None:
                    _diverged(what, value, state, b, optimizer.lr if lr is None else lr,
                              on_divergence, history, callbacks)
                    return history
                for k, q in enumerate(sq):
                    grad_sq[k] += q
                mb = A0.shape[1]
                sums["steps"] += 1
                sums["seen"] += mb
                sums["loss"] += value * mb
                for key in names:
                    sums[key] += _metric_sum(key, loss, model._output, Yb)
                state.step += 1
                state.batch = b + 1
                for cb in callbacks:
                    cb.on_batch_end(state.step, {"loss": value, "lr": lr, "batch": b, "sums": sums})
                if writer is not None and checkpoint_every != "epoch" \
                        and state.step % checkpoint_every == 0:
                    writer.write(state)
            logs = {"loss": sums["loss"] / sums["seen"],
                    **{key: sums[key] / sums["seen"] for key in names},
                    "lr": optimizer.lr if lr is None else lr}
            if val is not None:
                for key, v in _evaluate(model, val[0], val[1], loss, names).items():
                    logs[f"val_{key}"] = v
            for (i, _), sq in zip(layer_grads_at, grad_sq, strict=True):
                logs[f"grad_norm_{i}"] = math.sqrt(sq / sums["steps"])
            logs.update(_dead_relu(model, X, probe))
            logs["time"] = time.perf_counter() - t0
            history.record(epoch, logs)
            if verbose and not any(getattr(cb, "is_progress_bar", False) for cb in callbacks):
                shown = "  ".join(f"{k} {logs[k]:.4g}" for k in logs
                                  if not k.startswith(("grad_norm", "dead_relu")))
                print(f"epoch {epoch + 1}/{epochs}  {shown}", flush=True)
            state.epoch, state.batch, state.order = epoch + 1, 0, None
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if writer is not None and checkpoint_every == "epoch":
                writer.write(state)
        for cb in callbacks:
            cb.on_train_end()
        return history


def _diverged(what, value, state, batch, lr, on_divergence, history, callbacks):
    """Report a NaN/inf at the current step: raise DivergenceError or warn and stop."""
    step = state.step + 1
    found = {"loss": f"the loss is {value}", "gradient": "the gradient holds NaN or inf",
             "parameters": "the update made a parameter NaN or inf"}[what]
    message = (f"training diverged at step {step} (epoch {state.epoch + 1}, batch {batch + 1}): "
               f"{found} at learning rate {lr:g}; the parameters are restored to their last "
               f"finite values (after step {state.step}). Hint: lower the learning rate (e.g. "
               f"lr={lr / 10:g}), scale the inputs, or clip large targets.")
    history.divergence = {"step": step, "epoch": state.epoch, "batch": batch, "lr": lr,
                          "what": what}
    if on_divergence == "raise":
        raise DivergenceError(message, step=step, epoch=state.epoch, lr=lr, what=what,
                              history=history)
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    for cb in callbacks:
        cb.on_train_end({"diverged": True})
