import warnings

import numpy as np
import pytest

import neuralab as nl


def test_cross_entropy_value_by_hand():
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([0, 2])
    expected = -(np.log(0.7) + np.log(0.8)) / 2
    assert nl.CrossEntropy()(P, y) == pytest.approx(expected)
    assert nl.CrossEntropy()(P, np.eye(3)[y]) == pytest.approx(expected)


def test_binary_cross_entropy_and_mse_by_hand():
    a = np.array([0.9, 0.2])
    y = np.array([1, 0])
    assert nl.BinaryCrossEntropy()(a, y) == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2)
    assert nl.MSE()(np.array([[1.0], [3.0]]), np.array([0.0, 1.0])) == pytest.approx(2.5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_softmax_cross_entropy_gradient_is_A_minus_Y_over_m(dtype):
    rng = np.random.default_rng(0)
    model = nl.Sequential([nl.Dense(3, 4), nl.Softmax()], seed=0, dtype=dtype)
    X = rng.normal(size=(6, 3))
    y = rng.integers(0, 4, size=6)
    loss = nl.CrossEntropy()
    Y = loss.prepare_targets(y, 4, 6, model.dtype)
    model.loss_and_grad(X.T.astype(dtype), Y, loss)
    A = model.forward(X)
    dZ_over_m = (A - np.eye(4)[y]) / 6
    np.testing.assert_allclose(model.layers[0].db[:, 0], dZ_over_m.sum(axis=0),
                               rtol=1e-5 if dtype == "float32" else 1e-12)
    np.testing.assert_allclose(model.layers[0].dW, dZ_over_m.T @ X,
                               rtol=1e-4 if dtype == "float32" else 1e-12, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("build, loss, y", [
    (lambda d: nl.Sequential([nl.Dense(2, 3, init="zeros"), nl.Softmax()], dtype=d),
     nl.CrossEntropy(), np.array([0, 1, 2, 0])),
    (lambda d: nl.Sequential([nl.Dense(2, 1, init="zeros"), nl.Sigmoid()], dtype=d),
     nl.BinaryCrossEntropy(), np.array([0, 1, 1, 0])),
])
def test_huge_logits_stay_finite(build, loss, y, dtype):
    model = build(dtype)
    model.layers[0].b[...] = np.array([[1e4], [-1e4], [0.0]])[: model.n_out]
    X = np.zeros((4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = loss.prepare_targets(y, model.n_out, 4, model.dtype)
        value = model.loss_and_grad(X.T.astype(dtype), Y, loss)
    assert np.isfinite(value) and value > 1e3  # the true loss is large, not clipped to ~87
    assert np.all(np.isfinite(model.grads))


@pytest.mark.parametrize("loss, y, match", [
    (nl.CrossEntropy(), np.array([0, 5]), "outside the classes"),
    (nl.CrossEntropy(), np.array([0.5, 1]), "integer class"),
    (nl.CrossEntropy(), np.array([0, 1, 2]), "samples"),
    (nl.BinaryCrossEntropy(), np.array([0, 2]), r"\{0, 1\}"),
    (nl.MSE(), np.array([np.nan, 1]), "NaN"),
])
def test_bad_targets(loss, y, match):
    with pytest.raises(ValueError, match=match):
        loss(np.full((2, 3 if isinstance(loss, nl.CrossEntropy) else 1), 1 / 3), y)


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="unknown loss"):
        nl.losses.get("hinge")


def test_binary_loss_on_two_outputs_names_the_cause():
    X = np.random.default_rng(0).normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match=r"BinaryCrossEntropy got y of shape \(60,\) .* but the "
                                         r"model has 2 outputs.*one sigmoid output unit.*"
                                         r"CrossEntropy"):
        nl.fit(nl.MLP([4, 8, 2]), X, y, loss=nl.BinaryCrossEntropy())


def test_mse_on_several_outputs_with_one_target_per_sample_names_itself():
    X = np.random.default_rng(0).normal(size=(60, 4))
    with pytest.raises(ValueError, match=r"MSE got y of shape \(60,\) .* model has 2 outputs.*"
                                         r"one output unit, or pass y of shape \(m, 2\)"):
        nl.fit(nl.MLP([4, 8, 2], output="identity"), X, X[:, 0], loss=nl.MSE())
