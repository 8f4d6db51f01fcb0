"""Training: ``fit`` runs mini-batch optimization of a model and returns its ``History``.

``batch_size=None`` is full-batch gradient descent, ``batch_size=1`` stochastic gradient
descent, anything between mini-batch gradient descent. The same seed on the same machine gives
bit-identical results.
"""

from __future__ import annotations

import time

import numpy as np

from . import losses as _losses
from . import optim as _optim
from ._validation import check_int
from .activations import Sigmoid, Softmax
from .model import Objective


class History:
    """Per-epoch records of a training run (``history.history["loss"]``, as in Keras)."""

    def __init__(self):
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

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

    ``self.model`` and ``self.optimizer`` are set before training starts. Setting
    ``self.model.stop_training = True`` ends training after the current epoch.
    """

    model = None
    optimizer = None

    def set_context(self, model, optimizer) -> None:
        self.model, self.optimizer = model, optimizer

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


def _accuracy(loss, A, Y) -> float | None:
    """Accuracy of column outputs ``A`` against internal targets ``Y`` (None: not a classifier)."""
    if isinstance(loss, _losses.CrossEntropy):
        labels = Y if Y.ndim == 1 else Y.argmax(axis=0)
        return float(np.mean(A.argmax(axis=0) == labels))
    if isinstance(loss, _losses.BinaryCrossEntropy):
        return float(np.mean((A >= 0.5) == (Y >= 0.5)))
    return None


def evaluate(model, X, y, loss=None, batch_size: int = 4096) -> dict:
    """Loss (and accuracy for classifiers) of ``model`` on ``(X, y)``, without training."""
    loss = default_loss(model) if loss is None else _losses.get(loss)
    X = model._check_X(X)
    Y = loss.prepare_targets(y, model.n_out, X.shape[0], model.dtype)
    m = X.shape[0]
    total = correct = 0.0
    acc_seen = False
    for start in range(0, m, batch_size):
        sl = slice(start, start + batch_size)
        A0 = X[sl].T
        Yb = loss.select(Y, sl)
        last = model.layers[-1]
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
        acc = _accuracy(loss, A, Yb)
        if acc is not None:
            acc_seen = True
            correct += acc * mb
    logs = {"loss": total / m}
    if acc_seen:
        logs["accuracy"] = correct / m
    return logs


def fit(model, X, y, loss=None, optimizer=None, schedule=None, epochs: int = 10,
        batch_size: int | None = 32, shuffle: bool = True, seed: int | None = 0,
        validation_data=None, callbacks=None, schedule_per: str = "epoch",
        verbose: int = 0) -> History:
    """Train ``model`` on ``(X, y)`` by mini-batch optimization.

    Parameters
    ----------
    model : Sequential
    X : array (m, n_in)
        Samples as rows.
    y : array
        Targets in the form the loss expects (class indices for CrossEntropy, {0, 1} for
        BinaryCrossEntropy, reals for MSE).
    loss : Loss or str, optional
        Default: the loss that matches the output layer.
    optimizer : Optimizer, optional
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
        Evaluated at the end of each epoch (``val_loss``, ``val_accuracy``).
    callbacks : list of Callback, optional

    Returns
    -------
    History
        Per epoch: ``loss``, ``accuracy`` (classifiers), ``lr``, ``time``, and ``val_*``.
    """
    loss = default_loss(model) if loss is None else _losses.get(loss)
    optimizer = _optim.SGD(lr=0.01) if optimizer is None else _optim.get(optimizer)
    epochs = check_int(epochs, "epochs", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1, allow_none=True)
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule must be a callable t -> lr, got {schedule!r}")
    if schedule_per not in ("epoch", "step"):
        raise ValueError(f"schedule_per must be 'epoch' or 'step', got {schedule_per!r}")
    X = model._check_X(X)
    m = X.shape[0]
    Y = loss.prepare_targets(y, model.n_out, m, model.dtype)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        Xv = model._check_X(validation_data[0], "validation_data[0]")
        loss.prepare_targets(validation_data[1], model.n_out, Xv.shape[0], model.dtype)
    callbacks = list(callbacks or [])
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        cb.set_context(model, optimizer)

    bs = m if batch_size is None else min(batch_size, m)
    rng = np.random.default_rng(seed)
    history = History()
    model.stop_training = False
    step = 0
    theta, grad = model.params, model.grads
    for cb in callbacks:
        cb.on_train_begin()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        lr = schedule(epoch) if schedule is not None and schedule_per == "epoch" else None
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        order = rng.permutation(m) if shuffle else None
        seen = total = correct = 0.0
        is_classifier = True
        for start in range(0, m, bs):
            idx = order[start:start + bs] if shuffle else slice(start, start + bs)
            A0 = X[idx].T
            Yb = loss.select(Y, idx)
            if schedule is not None and schedule_per == "step":
                lr = schedule(step)
            value = model.loss_and_grad(A0, Yb, loss)
            if optimizer.needs_closure:
                optimizer.step(theta, grad, lr, closure=Objective(model, A0, Yb, loss))
            else:
                optimizer.step(theta, grad, lr)
            mb = A0.shape[1]
            seen += mb
            total += value * mb
            acc = _accuracy(loss, model._output, Yb)
            if acc is None:
                is_classifier = False
            else:
                correct += acc * mb
            step += 1
            for cb in callbacks:
                cb.on_batch_end(step, {"loss": value, "lr": lr})
        logs = {"loss": total / seen}
        if is_classifier:
            logs["accuracy"] = correct / seen
        logs["lr"] = optimizer.lr if lr is None else lr
        if validation_data is not None:
            for k, v in evaluate(model, *validation_data, loss=loss).items():
                logs[f"val_{k}"] = v
        logs["time"] = time.perf_counter() - t0
        history.record(epoch, logs)
        if verbose:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items())
            print(f"epoch {epoch + 1}/{epochs}  {shown}")
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end()
    return history
