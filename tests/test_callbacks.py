"""Callbacks: early stopping, model checkpoints, learning-rate reduction, CSV logs, custom."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.datasets import load_digits

import neuralab as nl
from neuralab.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau


@pytest.fixture(scope="module")
def small():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def _run(small, epochs, callbacks=(), **kwargs):
    """A run that overfits quickly: 240 training rows, a wide layer, a large rate."""
    X, y = small
    model = nl.MLP([64, 64, 10], seed=0)
    kwargs.setdefault("optimizer", nl.optim.Adam(lr=1e-2))
    h = nl.fit(model, X, y, epochs=epochs, batch_size=32, seed=0, validation_split=0.2,
               callbacks=list(callbacks), **kwargs)
    return model, h


class _Driver:
    """Feeds hand-made epoch logs to a callback, as fit would."""

    def __init__(self, cb, n_params=5):
        self.model = nl.Sequential([nl.Dense(2, 1), nl.Identity()], seed=0)
        self.model.stop_training = False
        self.cb = cb
        cb.set_context(self.model, None)
        cb.on_train_begin()

    def epoch(self, epoch, **logs):
        self.model.params[...] = epoch           # θ tells which epoch it came from
        self.cb.on_epoch_end(epoch, logs)
        return self.model.stop_training


def test_early_stopping_rule_by_hand():
    d = _Driver(EarlyStopping(monitor="val_loss", patience=2, min_delta=0.05))
    values = [1.0, 0.8, 0.78, 0.9]            # 0.78 is not 0.05 better than 0.8
    stops = [d.epoch(e, val_loss=v) for e, v in enumerate(values)]
    assert stops == [False, False, False, True]     # two misses in a row with patience 2
    assert (d.cb.best, d.cb.best_epoch, d.cb.stopped_epoch) == (0.8, 1, 3)
    d.cb.on_train_end()
    assert np.all(d.model.params == 1)        # θ of the best epoch restored


def test_early_stopping_mode_max_for_accuracy_and_no_restore():
    d = _Driver(EarlyStopping(monitor="val_accuracy", patience=0, restore_best=False))
    assert d.cb.mode == "max"
    assert [d.epoch(e, val_accuracy=v) for e, v in enumerate([0.5, 0.7, 0.6])] == \
        [False, False, True]
    d.cb.on_train_end()
    assert np.all(d.model.params == 2)


def test_early_stopping_in_fit_keeps_the_best_epoch(small):
    stop = EarlyStopping(monitor="val_loss", patience=2)
    model, h = _run(small, epochs=40, callbacks=[stop])
    assert stop.stopped_epoch is not None and len(h.epoch) == stop.stopped_epoch + 1 < 40
    assert stop.best_epoch == int(np.argmin(h["val_loss"]))
    assert h.epoch[-1] - stop.best_epoch == 2          # patience 2: the second miss stops
    # the parameters are those of a fresh run stopped after the best epoch, bit for bit
    best, _ = _run(small, epochs=stop.best_epoch + 1)
    np.testing.assert_array_equal(model.params, best.params)


def test_monitoring_a_value_fit_does_not_log_is_a_clear_error(small):
    X, y = small
    with pytest.raises(ValueError, match=r"monitors 'val_loss'.*validation_data or "
                                         r"validation_split"):
        nl.fit(nl.MLP([64, 8, 10], seed=0), X, y, epochs=2, callbacks=[EarlyStopping()])
    with pytest.raises(ValueError, match="mode must be one of"):
        EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="patience must be >= 0"):
        EarlyStopping(patience=-1)


def test_model_checkpoint_saves_the_best_model_only(small, tmp_path):
    ckpt = ModelCheckpoint(tmp_path / "best-{epoch:02d}.safetensors", monitor="val_loss",
                           save_best_only=True)
    _, h = _run(small, epochs=8, callbacks=[ckpt])
    improving = [e for e, v in enumerate(h["val_loss"]) if v < min(h["val_loss"][:e] or [np.inf])]
    assert ckpt.saved == [str(tmp_path / f"best-{e + 1:02d}.safetensors") for e in improving]
    best = int(np.argmin(h["val_loss"]))
    ref, _ = _run(small, epochs=best + 1)
    np.testing.assert_array_equal(nl.load(ckpt.saved[-1]).params, ref.params)


def test_model_checkpoint_every_epoch_with_log_names(small, tmp_path):
    ckpt = ModelCheckpoint(str(tmp_path / "m-{epoch}-{loss:.3f}.safetensors"))
    _, h = _run(small, epochs=2, callbacks=[ckpt])
    assert [p.rsplit("/", 1)[1] for p in ckpt.saved] == [
        f"m-{e + 1}-{h['loss'][e]:.3f}.safetensors" for e in range(2)]


def test_reduce_lr_on_plateau_rule_by_hand():
    d = _Driver(ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, cooldown=1,
                                  min_delta=0.0, min_lr=0.2))
    mults = []
    for e, v in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]):
        d.epoch(e, val_loss=v, lr=1.0 * d.cb.lr_multiplier)
        mults.append(d.cb.lr_multiplier)
    # epoch 0 sets the best; 1: miss → halve; 2: cooldown; 3: miss → halve; 4: cooldown;
    # 5: miss → would be 0.125 but min_lr 0.2 floors the rate at 0.2
    assert mults == [1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]


def test_reduce_lr_composes_with_a_schedule(small):
    sched = nl.schedules.ExponentialDecay(0.01, k=0.1)
    # min_delta 10: no epoch after the first counts as better, patience 0 halves every miss
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    _, h = _run(small, epochs=5, callbacks=[plateau], optimizer=nl.optim.SGD(0.01),
                schedule=sched)
    expected = [sched(e) * 0.5 ** max(0, e - 1) for e in range(5)]
    np.testing.assert_allclose(h["lr"], expected, rtol=1e-15)
    _, h = _run(small, epochs=3, callbacks=[ReduceLROnPlateau(monitor="loss", factor=0.5,
                                                              patience=0, min_delta=10.0)],
                optimizer=nl.optim.SGD(0.01))
    assert h["lr"] == [0.01, 0.01, 0.005]                 # no schedule: the optimizer's lr


def test_csv_logger_writes_the_history(small, tmp_path):
    path = tmp_path / "log.csv"
    _, h = _run(small, epochs=3, callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for key in ("loss", "val_accuracy", "lr", "grad_norm_0", "dead_relu"):
        assert [float(r[key]) for r in rows] == h[key]       # repr round-trips exactly


def test_custom_callback_sees_every_hook_in_order(small):
    events = []

    class Spy(nl.Callback):
        def on_train_begin(self, logs=None):
            events.append(("train_begin", self.model is not None, self.history is not None))

        def on_epoch_begin(self, epoch, logs=None):
            events.append(("epoch_begin", epoch))

        def on_batch_end(self, step, logs=None):
            events.append(("batch", step))

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)[:2]))
            if epoch == 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            events.append(("train_end",))

    X, y = small
    h = nl.fit(nl.MLP([64, 8, 10], seed=0), X[:64], y[:64], epochs=5, batch_size=32,
               callbacks=[Spy()])
    assert events == [("train_begin", True, True),
                      ("epoch_begin", 0), ("batch", 1), ("batch", 2),
                      ("epoch_end", 0, ["accuracy", "dead_relu"]),
                      ("epoch_begin", 1), ("batch", 3), ("batch", 4),
                      ("epoch_end", 1, ["accuracy", "dead_relu"]), ("train_end",)]
    assert len(h.epoch) == 2


def test_callbacks_are_exported():
    assert nl.EarlyStopping is EarlyStopping and nl.callbacks.CSVLogger is CSVLogger
    assert issubclass(ReduceLROnPlateau, nl.Callback)
