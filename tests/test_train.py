import numpy as np
import pytest
from sklearn.datasets import load_digits, make_moons
from sklearn.model_selection import train_test_split

import neuralab as nl


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.2, random_state=0, stratify=y)


def test_mlp_learns_digits(digits):
    Xtr, Xte, ytr, yte = digits
    model = nl.MLP([64, 128, 10], seed=0)
    hist = nl.fit(model, Xtr, ytr, optimizer=nl.optim.SGD(0.1), epochs=30, batch_size=32,
                  validation_data=(Xte, yte))
    assert hist["loss"][-1] < hist["loss"][0] / 5
    assert np.mean(model.predict(Xte) == yte) >= 0.96
    assert hist["val_accuracy"][-1] == pytest.approx(np.mean(model.predict(Xte) == yte))
    assert set(hist.history) >= {"loss", "accuracy", "lr", "time", "val_loss", "val_accuracy"}


def test_same_seed_is_bit_identical(digits):
    Xtr, _, ytr, _ = digits
    runs = []
    for _ in range(2):
        model = nl.MLP([64, 32, 10], seed=5)
        nl.fit(model, Xtr, ytr, optimizer=nl.optim.SGD(0.05), epochs=2, batch_size=16, seed=3)
        runs.append(model.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_batch_size_none_is_full_batch_gradient_descent():
    X, y = make_moons(50, noise=0.1, random_state=0)
    model = nl.LogisticRegression(2, dtype="float64")
    start = model.params.copy()
    nl.fit(model, X, y, optimizer=nl.optim.GD(0.5), epochs=1, batch_size=None)
    # one step of θ ← θ − α ∇J over all 50 samples
    ref = nl.LogisticRegression(2, dtype="float64")
    ref.params[...] = start
    loss = nl.BinaryCrossEntropy()
    ref.loss_and_grad(X.T, loss.prepare_targets(y, 1, 50, np.float64), loss)
    np.testing.assert_allclose(model.params, start - 0.5 * ref.grads, rtol=1e-12)


def test_unshuffled_batches_in_order_last_partial():
    seen = []

    class Spy(nl.Callback):
        def on_batch_end(self, step, logs=None):
            seen.append(step)

    X = np.arange(10.0)[:, None]
    y = np.zeros(10)
    model = nl.Sequential([nl.Dense(1, 1), nl.Identity()], seed=0, dtype="float64")
    sizes = []
    orig = model.loss_and_grad

    def spy(A0, Y, loss):
        sizes.append(A0[0].copy())
        return orig(A0, Y, loss)

    model.loss_and_grad = spy
    nl.fit(model, X, y, epochs=1, batch_size=4, shuffle=False, callbacks=[Spy()])
    assert [s.tolist() for s in sizes] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert seen == [1, 2, 3]


def test_schedule_evaluated_per_epoch_and_per_step():
    X, y = make_moons(20, random_state=0)
    model = nl.LogisticRegression(2)
    h = nl.fit(model, X, y, epochs=3, batch_size=10,
               schedule=nl.schedules.StepDecay(1.0, gamma=0.5, step_size=1))
    assert h["lr"] == [1.0, 0.5, 0.25]
    h = nl.fit(model, X, y, epochs=2, batch_size=10, schedule_per="step",
               schedule=nl.schedules.StepDecay(1.0, gamma=0.5, step_size=1))
    assert h["lr"] == [0.5, 0.125]  # the rate of each epoch's last step


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"epochs": -1}, ValueError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"schedule_per": "batch"}, ValueError, "schedule_per"),
    ({"loss": "hinge"}, ValueError, "unknown loss"),
    ({"optimizer": "lbfgs"}, ValueError, "unknown optimizer"),
    ({"validation_data": np.ones((3, 2))}, ValueError, "validation_data"),
])
def test_fit_rejects_bad_arguments(kwargs, exc, match):
    X, y = make_moons(20, random_state=0)
    with pytest.raises(exc, match=match):
        nl.fit(nl.MLP([2, 3, 2]), X, y, **kwargs)


def test_fit_rejects_bad_data_before_work():
    model = nl.MLP([2, 3, 2], seed=0)
    before = model.params.copy()
    X, y = make_moons(20, random_state=0)
    with pytest.raises(ValueError, match="samples"):
        nl.fit(model, X, y[:-1])
    with pytest.raises(ValueError, match="outside the classes"):
        nl.fit(model, X, y + 1)
    np.testing.assert_array_equal(model.params, before)


def test_epochs_zero_trains_nothing():
    X, y = make_moons(20, random_state=0)
    model = nl.MLP([2, 3, 2], seed=0)
    before = model.params.copy()
    h = nl.fit(model, X, y, epochs=0)
    assert h.epoch == []
    np.testing.assert_array_equal(model.params, before)
