"""Numerics at the edges: every activation and loss at ±1e4, ±1e-30 and 0, float32 and float64.

Values and gradients must be finite and no warning may be emitted. Each check runs with
warnings turned into errors and with NumPy's overflow, divide-by-zero and invalid-operation
traps raising.

Underflow stays ignored, as it is in NumPy's default error state: e^{-1e4} rounding to 0 (in
the sigmoid, softmax and tanh′ at large |z|) is the correctly rounded result, not an error, and
avoiding it would cost a clamp per element in the hot path for no change in any output.
``test_default_numpy_error_state_emits_no_warning`` checks that a user with NumPy's defaults
sees no warning at all.
"""

from __future__ import annotations

import itertools
import warnings
from contextlib import contextmanager

import numpy as np
import pytest

import neuralab as nl
from neuralab import functional as F

EDGES = [1e4, -1e4, 1e-30, -1e-30, 0.0]
DTYPES = ["float32", "float64"]


@contextmanager
def _strict():
    """Warnings are errors; overflow, 0-division and invalid operations raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


def _pairs(dtype):
    """All ordered pairs of edge values as rows (25, 2): each sample sees two extremes."""
    return np.array(list(itertools.product(EDGES, EDGES)), dtype=dtype)


# ---------------------------------------------------------------------------- functional

FUNCTIONS = [name for name in F.__all__]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_functional_is_finite_at_the_edges(name, dtype):
    z = np.array(EDGES, dtype=dtype)
    with _strict():
        out = getattr(F, name)(z)
    assert np.all(np.isfinite(out)), f"{name}({z}) = {out}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_functional_keeps_the_dtype(name, dtype):
    out = np.asarray(getattr(F, name)(np.array(EDGES, dtype=dtype)))
    assert out.dtype == np.dtype(dtype), f"{name} changed the dtype to {out.dtype}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_functional_values_at_the_edges_match_float64_references(dtype):
    z = np.array(EDGES, dtype=dtype)
    zz = z.astype(np.float64)
    tol = 1e-6 if dtype == "float32" else 1e-15
    with _strict():
        # σ(z) = e^{−log(1 + e^{−z})}, an independent stable form
        np.testing.assert_allclose(F.sigmoid(z), np.exp(-np.logaddexp(0, -zz)), rtol=tol)
        e = np.exp(-2 * np.abs(zz))             # sech² z = 4 e^{−2|z|} / (1 + e^{−2|z|})²
        np.testing.assert_allclose(F.tanh_grad(z), 4 * e / (1 + e) ** 2, rtol=tol)
        np.testing.assert_allclose(F.softmax(z), np.exp(zz - np.logaddexp.reduce(zz)), rtol=tol)
        np.testing.assert_allclose(F.leaky_relu(z, 0.1), np.where(zz > 0, zz, 0.1 * zz),
                                   rtol=tol)


# ---------------------------------------------------------------------------- layers

ACTIVATIONS = [nl.Sigmoid, nl.Tanh, nl.ReLU, nl.LeakyReLU, nl.Identity, nl.Softmax]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls", ACTIVATIONS, ids=lambda c: c.__name__)
def test_activation_layer_forward_and_backward_are_finite(cls, dtype):
    Z = _pairs(dtype).T.copy()                                 # (2 units, 25 examples)
    dA = np.ones_like(Z)
    layer = cls()
    with _strict():
        A = layer.forward(Z, training=True)
        dZ = layer.backward(dA)
    assert A.dtype == dZ.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(A)) and np.all(np.isfinite(dZ))


# ---------------------------------------------------------------------------- losses


class _UnfusedSigmoid(nl.Sigmoid):
    """A Sigmoid that BinaryCrossEntropy does not fuse with (the generic dA path)."""


class _UnfusedSoftmax(nl.Softmax):
    """A Softmax that CrossEntropy does not fuse with (the generic dA path)."""


def _targets(kind, m, k):
    idx = np.arange(m) % k
    if kind == "labels":
        return idx
    if kind == "onehot":
        return np.eye(k)[idx]
    if kind == "binary":
        return (np.arange(m * k).reshape(m, k) % 2).astype(float)
    return np.linspace(-2.0, 2.0, m * k).reshape(m, k)


# (loss, output activation, target kind): fused pairs first, then the generic paths.
LOSS_CASES = [
    pytest.param(nl.CrossEntropy, nl.Softmax, "labels", id="CE+Softmax-fused-labels"),
    pytest.param(nl.CrossEntropy, nl.Softmax, "onehot", id="CE+Softmax-fused-onehot"),
    pytest.param(nl.CrossEntropy, _UnfusedSoftmax, "labels", id="CE+Softmax-unfused"),
    pytest.param(lambda: nl.CrossEntropy(from_logits=True), nl.Identity, "labels",
                 id="CE-from-logits"),
    pytest.param(nl.BinaryCrossEntropy, nl.Sigmoid, "binary", id="BCE+Sigmoid-fused"),
    pytest.param(nl.BinaryCrossEntropy, _UnfusedSigmoid, "binary", id="BCE+Sigmoid-unfused"),
    *[pytest.param(nl.MSE, act, "real", id=f"MSE+{act.__name__}") for act in ACTIVATIONS],
]


def _edge_model(act, dtype):
    """Dense(2, 2) with W = I, b = 0 then ``act``: the logits are exactly the inputs."""
    model = nl.Sequential([nl.Dense(2, 2, init="zeros"), act()], dtype=dtype)
    model.layers[0].W[...] = np.eye(2)
    return model


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make_loss, act, kind", LOSS_CASES)
def test_loss_value_and_gradients_are_finite_at_the_edges(make_loss, act, kind, dtype):
    loss = make_loss()
    model = _edge_model(act, dtype)
    X = _pairs(dtype)
    y = _targets(kind, X.shape[0], 2)
    Y = loss.prepare_targets(y, 2, X.shape[0], model.dtype)
    with _strict():
        value = model.loss_and_grad(X.T, Y, loss)
        public = loss(model.forward(X), y)
        logs = nl.evaluate(model, X, y, loss=loss)
    assert np.isfinite(value) and np.isfinite(public) and np.isfinite(logs["loss"])
    assert np.all(np.isfinite(model.grads)), model.grads


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_losses_match_exact_values_at_huge_logits(dtype):
    """The fused paths compute J from the logits: exact even where softmax/σ saturate."""
    X = _pairs(dtype)
    Z = X.astype(np.float64)
    rtol = 1e-6 if dtype == "float32" else 1e-12
    labels = np.arange(X.shape[0]) % 2
    ce = _edge_model(nl.Softmax, dtype)
    with _strict():
        value = ce.loss_and_grad(X.T, labels, nl.CrossEntropy())
    ref = np.mean(np.logaddexp(Z[:, 0], Z[:, 1]) - Z[np.arange(len(Z)), labels])
    assert value == pytest.approx(ref, rel=rtol)

    bce = nl.Sequential([nl.Dense(2, 1, init="zeros"), nl.Sigmoid()], dtype=dtype)
    bce.layers[0].W[...] = [[1.0, 0.0]]
    yb = labels.astype(float)
    with _strict():
        value = bce.loss_and_grad(X.T, yb[None, :], nl.BinaryCrossEntropy())
    ref = np.mean(np.logaddexp(0, Z[:, 0]) - yb * Z[:, 0])     # softplus(z) − y z
    assert value == pytest.approx(ref, rel=rtol)
    # dZ = A − Y is bounded by 1, so with inputs of 1e4 the weight gradient is at most 1e4
    assert np.max(np.abs(bce.grads)) <= 1e4 * (1 + 1e-6)


def test_default_numpy_error_state_emits_no_warning():
    """With NumPy's defaults (what users run) a training step at the edges warns nothing."""
    for dtype, (make_loss, act, kind) in itertools.product(
            DTYPES, [(p.values[0], p.values[1], p.values[2]) for p in LOSS_CASES]):
        loss = make_loss()
        model = _edge_model(act, dtype)
        X = _pairs(dtype)
        y = _targets(kind, X.shape[0], 2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            nl.fit(model, X, y, loss=loss, optimizer=nl.optim.SGD(1e-8), epochs=1,
                   batch_size=8, seed=0)
        assert np.all(np.isfinite(model.params))


# ---------------------------------------------------------------------------- divergence


def _regression(n=32):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    return X, X @ np.array([1.0, -2.0, 3.0, 0.5])


def _linear(dtype="float64"):
    return nl.Sequential([nl.Dense(4, 1), nl.Identity()], seed=0, dtype=dtype)


class _Recorder(nl.Callback):
    """Keeps θ after every completed step: ``thetas[j]`` is θ after step j (θ_0 at the start)."""

    def on_train_begin(self, logs=None):
        self.thetas = [self.model.params.copy()]

    def on_batch_end(self, step, logs=None):
        self.thetas.append(self.model.params.copy())


def _first_bad_step(model, optimizer, X, y, loss, lr_of=lambda t: None):
    """Independent reference: full-batch steps by hand until the loss, ∇θ or θ is not finite."""
    A0, Y = X.T, loss.prepare_targets(y, model.n_out, X.shape[0], model.dtype)
    with np.errstate(all="ignore"):
        for k in range(1, 100_000):
            value = model.loss_and_grad(A0, Y, loss)
            if not np.isfinite(value) or not np.all(np.isfinite(model.grads)):
                return k
            optimizer.step(model.params, model.grads, lr_of(k - 1))
            if not np.all(np.isfinite(model.params)):
                return k
    raise AssertionError("the reference never diverged")


class _NaNAtStep(nl.optim.SGD):
    """SGD that writes a NaN into θ on step ``bad`` (an injected blow-up)."""

    def __init__(self, lr, bad):
        super().__init__(lr)
        self.bad = bad

    def _update(self, theta, grad, lr):
        super()._update(theta, grad, lr)
        if self.t == self.bad:
            theta[2] = np.nan


def test_divergence_raises_at_the_step_with_the_last_finite_params_restored():
    X, y = _regression()
    expected = _first_bad_step(_linear(), nl.optim.SGD(lr=5.0), X, y, nl.MSE())
    model, rec = _linear(), _Recorder()
    with np.errstate(all="ignore"), pytest.raises(nl.train.DivergenceError) as info:
        nl.fit(model, X, y, loss="mse", optimizer=nl.optim.SGD(lr=5.0), epochs=10_000,
               batch_size=None, shuffle=False, callbacks=[rec], on_divergence="raise")
    err = info.value
    assert err.step == expected == len(rec.thetas), "not detected at the step it appeared"
    assert err.what == "loss" and err.lr == 5.0
    assert f"step {expected}" in str(err) and "learning rate 5" in str(err)
    assert "lower the learning rate" in str(err)                    # the hint
    assert np.all(np.isfinite(model.params))
    np.testing.assert_array_equal(model.params, rec.thetas[-1])     # θ after step k − 1


def test_divergence_in_the_parameters_is_caught_right_after_the_update():
    X, y = _regression()
    model, rec = _linear(), _Recorder()
    with pytest.raises(nl.train.DivergenceError, match=r"step 7 .*learning rate 0\.01") as info:
        nl.fit(model, X, y, loss="mse", optimizer=_NaNAtStep(0.01, bad=7), epochs=20,
               batch_size=8, shuffle=True, seed=3, callbacks=[rec])
    assert info.value.what == "parameters" and info.value.step == 7
    assert len(rec.thetas) == 7                                     # steps 1..6 completed
    np.testing.assert_array_equal(model.params, rec.thetas[6])


def test_divergence_stop_warns_keeps_history_and_restores_params():
    X, y = _regression()
    # a schedule by step: calm for 20 steps, then a rate that blows up
    schedule = nl.schedules.get(lambda t: 0.01 if t < 20 else 40.0)
    expected = _first_bad_step(_linear(), nl.optim.SGD(lr=0.01), X, y, nl.MSE(),
                               lr_of=schedule)
    model, rec = _linear(), _Recorder()
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning,
                                                 match=rf"diverged at step {expected}\b"):
        hist = nl.fit(model, X, y, loss="mse", optimizer=nl.optim.SGD(lr=0.01),
                      schedule=schedule, schedule_per="step", epochs=10_000, batch_size=None,
                      shuffle=False, callbacks=[rec], on_divergence="stop")
    assert expected > 20
    assert hist.divergence["step"] == expected and hist.divergence["lr"] == 40.0
    assert len(hist.epoch) == expected - 1                          # the completed epochs
    assert all(np.isfinite(hist["loss"]))
    np.testing.assert_array_equal(model.params, rec.thetas[-1])


def test_a_healthy_run_reports_no_divergence():
    X, y = _regression()
    hist = nl.fit(_linear(), X, y, loss="mse", optimizer=nl.optim.SGD(lr=0.05), epochs=30,
                  batch_size=8, on_divergence="raise")
    assert getattr(hist, "divergence", None) is None
    assert hist["loss"][-1] < 1e-3 * hist["loss"][0]
