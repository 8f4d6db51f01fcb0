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

The pieces live beside this module, each in one place: the run's checked arguments and state
in ``_run`` (``TrainingRun``, ``History``), the metrics in ``_metrics``, the divergence guard
in ``_guard``, the checkpoints in ``_trainstate``, the batches in ``_batches``, the callbacks
(and verbose output) in :mod:`neuralab.callbacks`.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_int
from ..nn import losses as _losses
from ..nn.losses import default_loss
from ..nn.model import check_model
from ._batches import check_rows
from ._guard import DivergenceError
from ._metrics import METRICS, PROBE_SIZE, check_metrics, evaluate_rows
from ._run import FitOptions, History, TrainingRun, _check_comm
from .callbacks import Callback

__all__ = ["METRICS", "PROBE_SIZE", "Callback", "DivergenceError", "FitOptions", "History",
           "TrainingRun",
           "default_loss", "evaluate", "fit", "training_loop"]


def fit(model, X, y, loss=None, optimizer=None, schedule=None, epochs: int = 10,
        batch_size: int | None = 32, shuffle: bool = True, seed: int | None = 0,
        validation_data=None, callbacks=None, schedule_per: str = "epoch",
        verbose: int = 0, *, validation_split: float | None = None, metrics=None,
        on_divergence: str = "raise", checkpoint=None, checkpoint_every="epoch",
        resume_from=None, regularizer=None, comm=None) -> History:
    r"""Train ``model`` on ``(X, y)`` by mini-batch optimization.

    Parameters
    ----------
    model : Sequential
    X : array (m, n_features_in)
        Samples as rows, raw (the model's ``preprocessing`` is applied to them). An
        ``np.memmap`` (``nl.data.load_npy``) stays on disk: each batch's rows are gathered
        when needed, and the finiteness check reads it in chunks.
    y : array
        Targets in the form the loss expects (class indices for CrossEntropy, {0, 1} for
        BinaryCrossEntropy, reals for MSE), or labels from ``model.classes`` when the model
        has them (e.g. strings).
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
    regularizer : Regularizer or {"l1", "l2"}, optional
        A penalty R(W) on the weights added to the objective (:mod:`neuralab.regularizers`;
        a name gets λ = 0.01); its gradient joins ∇θ at every step and its mean over the
        epoch's steps is logged as ``penalty``. Not with second-order optimizers.
    comm : communicator, optional
        ``nl.distributed.world()`` under ``mpiexec``: train data-parallel. Every rank passes
        the same arguments (checked at the start); each global batch of ``batch_size`` rows is
        split across the ranks, ∇θ averaged over it by an all-reduce (weighted by rows), and
        every rank keeps the same θ and History. Checkpoints, progress and the callbacks that
        write files act on rank 0 only. Without it (or with a size-1 communicator) training is
        the single-process run, bit for bit.

    Returns
    -------
    History
        Per epoch: ``loss``, ``accuracy`` (classifiers), metrics, ``lr`` (the rate of the
        epoch's last step), ``time`` (seconds), ``val_*`` for validation data,
        ``grad_norm_{i}`` for each layer ``model.layers[i]`` with parameters, the root mean
        square over the epoch's T steps of that layer's gradient norm (W and b together),

        .. math::

            \mathrm{grad\_norm}_i = \sqrt{\tfrac{1}{T} \textstyle\sum_{t=1}^{T}
            \lVert \nabla_{\theta_i} J_t \rVert_2^2}

        read from the flat gradient's slices at each step (one dot product per layer), and
        ``dead_relu``, the share of ReLU units that output 0 for every row of a fixed probe of
        up to 128 evenly spaced training rows, after the epoch (a forward pass only).

    Notes
    -----
    The loop itself is :func:`training_loop`, just below: for each epoch, for each batch,
    forward, loss, backward, the optimizer's step, then the epoch's logs and callbacks.
    :class:`TrainingRun` holds what it works on (checked arguments, state, metrics, the
    divergence guard, the checkpoint writer, the communicator); ``fit`` runs the loop to its end.
    """
    options = FitOptions(loss, optimizer, schedule, epochs, batch_size, shuffle, seed,
                         validation_data, callbacks, schedule_per, verbose, validation_split,
                         metrics, on_divergence, checkpoint, checkpoint_every, resume_from,
                         regularizer)
    run = TrainingRun(model, X, y, options=options, comm=comm)
    # NaN/inf are detected and reported by the guard; NumPy's overflow warnings would be noise
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
            run.comm.abort_on_error():          # a rank failing alone ends the whole job
        for _ in training_loop(run):
            pass
    return run.history


def training_loop(run: TrainingRun):
    r"""The training loop of the lecture, one mini-batch step per iteration (a generator).

    For each epoch, for each mini-batch of rows: the forward pass, the loss J, backpropagation
    into ∇θ, then one optimizer step θ ← θ − α·(update); after the epoch, its logs and the
    callbacks. Each iteration yields the batch's loss J, so a caller may run it a few steps at
    a time (the playground does); :func:`fit` runs it to the end, which gives the same θ bit
    for bit. A caller that changes θ or the optimizer's state between two steps must say so
    with :meth:`TrainingRun.params_changed`. With many ranks, each computes ∇θ on its share of
    the batch and ``run.average`` all-reduces it into the global batch's (``run.sync.hooks``
    start each layer's reduction as soon as backpropagation has produced it); with one,
    ``run.average`` is the identity.
    """
    model, loss = run.model, run.loss
    run.callbacks.on_train_begin()
    while run.state.epoch < run.epochs and not model.stop_training:
        run.begin_epoch()                                   # shuffle the rows (once per epoch)
        for b, A0, Yb in run.batches():                     # the epoch's (remaining) batches
            lr = run.rate()                                 # α_t = s(t)·μ
            J = model.loss_and_grad(A0, Yb, loss, **run.sync.hooks)  # forward, J, backward: ∇θ
            J = run.average(J, Yb)                          # ∇θ, J of the global batch (ranks)
            R = run.penalize()                              # + R(W), its gradient into ∇θ
            closure = run.objective(A0, Yb) if run.optimizer.needs_closure else None
            if not run.guard.step(J + R, lr, closure):      # θ ← θ − α·update, unless NaN/inf
                run.diverged(b, J + R, lr)
                return
            run.end_batch(b, J, R, lr)                      # running sums, callbacks, checkpoint
            yield J
        run.end_epoch()                                     # validation, logs, callbacks
    run.callbacks.on_train_end()


def evaluate(model, X, y, loss=None, batch_size: int = 4096, metrics=None,
             comm=None) -> dict:
    """Loss (and accuracy for classifiers, plus ``metrics``) of ``model`` on ``(X, y)``.

    ``X`` may be a memory map: it is read ``batch_size`` rows at a time. With a communicator
    (``nl.distributed.world()``) each rank evaluates its share of the rows and every rank
    returns the totals; without one each rank evaluates all rows (the same numbers too).
    """
    model = check_model(model)
    loss = default_loss(model) if loss is None else _losses.get(loss)
    names = check_metrics(metrics, loss)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    X = check_rows(model, X)
    Y = loss.prepare_targets(np.asarray(model._encode_labels(y)), model.n_out, X.shape[0],
                             model.dtype)
    return evaluate_rows(model, X, Y, loss, names, batch_size,
                         comm=None if comm is None else _check_comm(comm))
