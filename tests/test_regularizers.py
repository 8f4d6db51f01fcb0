"""L1 and L2 weight penalties: value, gradient (finite differences), biases untouched, fit."""

import numpy as np
import pytest

import neuralab as nl


def _model():
    model = nl.MLP([3, 4, 2], activation="tanh", seed=0, dtype="float64")
    model.layers[0].b[...] = 0.3      # biases must not count
    return model


@pytest.mark.parametrize("reg, value", [
    (nl.regularizers.L2(0.1), lambda Ws: 0.05 * sum((W ** 2).sum() for W in Ws)),
    (nl.regularizers.L1(0.1), lambda Ws: 0.1 * sum(np.abs(W).sum() for W in Ws)),
])
def test_penalty_and_its_gradient(reg, value):
    model = _model()
    Ws = [layer.W for layer in model.layers if isinstance(layer, nl.Dense)]
    model.grads[...] = 0.0
    R = reg.apply(model)
    assert R == pytest.approx(value(Ws), rel=1e-12)
    grad = model.grads.copy()
    # central differences of R over θ: the biases' entries must stay 0
    eps, theta = 1e-6, model.params
    for k in range(model.n_params):
        old = theta[k]
        theta[k] = old + eps
        up = value([layer.W for layer in model.layers if isinstance(layer, nl.Dense)])
        theta[k] = old - eps
        down = value([layer.W for layer in model.layers if isinstance(layer, nl.Dense)])
        theta[k] = old
        assert grad[k] == pytest.approx((up - down) / (2 * eps), rel=1e-6, abs=1e-9)
    assert not model.layers[0].db.any()


def test_fit_adds_the_penalty_gradient_and_logs_it():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    plain, l2 = _model(), _model()
    h0 = nl.fit(plain, X, y, optimizer=nl.optim.SGD(0.1), epochs=3, batch_size=8, seed=1)
    h2 = nl.fit(l2, X, y, optimizer=nl.optim.SGD(0.1), epochs=3, batch_size=8, seed=1,
                regularizer=nl.regularizers.L2(0.5))
    norm = lambda m: sum((l.W ** 2).sum() for l in m.layers if isinstance(l, nl.Dense))  # noqa
    assert norm(l2) < norm(plain)
    assert "penalty" in h2 and "penalty" not in h0 and h2["penalty"][-1] > 0
    # the same step by hand: SGD on J + (λ/2)‖W‖² for one full batch
    a, b = _model(), _model()
    nl.fit(a, X, y, optimizer=nl.optim.SGD(0.1), epochs=1, batch_size=None,
           regularizer="l2")
    b.grads[...] = 0.0
    b.loss_and_grad(X.T, y, nl.CrossEntropy())
    nl.regularizers.L2(0.01).apply(b)
    b.params[...] -= 0.1 * b.grads
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)


def test_l1_drives_irrelevant_weights_to_zero_and_l2_only_shrinks_them():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)                # only the first input matters
    irrelevant = {}
    for name in ("l1", "l2"):
        model = nl.MLP([3, 2], seed=0, dtype="float64")
        nl.fit(model, X, y, optimizer=nl.optim.SGD(0.1), epochs=300, batch_size=None,
               regularizer=nl.regularizers.get(name, 0.05))
        W = model.layers[0].W
        assert np.abs(W[:, 0]).min() > 1.0
        irrelevant[name] = np.abs(W[:, 1:]).max()
    # L1's subgradient steps leave them within α·λ of 0; L2 keeps a fraction of each
    assert irrelevant["l1"] < 0.01 < 0.05 < irrelevant["l2"]


@pytest.mark.parametrize("spec, error", [("l3", "unknown regularizer"), (3, "name")])
def test_bad_regularizer_names_the_choices(spec, error):
    with pytest.raises((TypeError, ValueError), match=error):
        nl.fit(_model(), np.ones((4, 3)), [0, 1, 0, 1], regularizer=spec)


def test_bad_strength_and_newton_refused():
    with pytest.raises(ValueError, match="lam must be >= 0"):
        nl.regularizers.L2(-1.0)
    with pytest.raises(ValueError, match="regularizer cannot be used with Newton"):
        nl.fit(nl.LogisticRegression(2), np.ones((4, 2)), [0, 1, 0, 1],
               optimizer=nl.optim.Newton(), regularizer="l2")
