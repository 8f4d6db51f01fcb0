import warnings

import numpy as np
import pytest

import neuralab as nl
from neuralab import functional as F

PAIRS = [
    (F.sigmoid, F.sigmoid_grad),
    (F.tanh, F.tanh_grad),
    (F.relu, F.relu_grad),
    (F.leaky_relu, F.leaky_relu_grad),
    (F.identity, F.identity_grad),
]


@pytest.mark.parametrize("g, g_prime", PAIRS, ids=lambda f: getattr(f, "__name__", ""))
def test_derivative_matches_central_difference(g, g_prime):
    z = np.linspace(-4, 4, 81) + 1e-3  # avoid the kink of relu at 0
    h = 1e-6
    numeric = (g(z + h) - g(z - h)) / (2 * h)
    np.testing.assert_allclose(g_prime(z), numeric, rtol=1e-6, atol=1e-8)


def test_sigmoid_values_limits_and_identity():
    assert F.sigmoid(0.0) == 0.5
    z = np.linspace(-10, 10, 41)
    s = F.sigmoid(z)
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-z)), rtol=1e-12)
    np.testing.assert_allclose(F.sigmoid_grad(z), s * (1 - s), rtol=1e-12)
    assert F.sigmoid(-1e4) == 0.0 and F.sigmoid(1e4) == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", [F.sigmoid, F.sigmoid_grad, F.tanh, F.tanh_grad, F.relu,
                                F.leaky_relu, F.softmax])
def test_extreme_inputs_are_finite_without_warnings(fn, dtype):
    z = np.array([-1e4, -1e-30, 0.0, 1e-30, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fn(z)
    assert np.all(np.isfinite(out))
    assert out.dtype == dtype


def test_leaky_relu_is_max_alpha_z_z():
    z = np.array([-2.0, -0.5, 0.0, 3.0])
    np.testing.assert_array_equal(F.leaky_relu(z, 0.1), np.maximum(0.1 * z, z))


def test_softmax_rows_sum_to_one_and_jacobian():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 4))
    s = F.softmax(z)
    np.testing.assert_allclose(s.sum(axis=1), 1.0)
    J = F.softmax_grad(z[0])
    h = 1e-6
    num = np.stack([(F.softmax(z[0] + h * e) - F.softmax(z[0] - h * e)) / (2 * h)
                    for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(J, num, atol=1e-8)


@pytest.mark.parametrize("layer", [nl.Sigmoid(), nl.Tanh(), nl.ReLU(), nl.LeakyReLU(0.2),
                                   nl.Identity(), nl.Softmax()], ids=repr)
def test_layer_backward_is_vector_jacobian_product(layer):
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(4, 6)) + 1e-3
    dA = rng.normal(size=(4, 6))
    layer.forward(Z)
    dZ = layer.backward(dA)
    h = 1e-6
    num = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[idx] += h
        Zm[idx] -= h
        num[idx] = np.sum(dA * (layer.forward(Zp, training=False)
                                - layer.forward(Zm, training=False))) / (2 * h)
    np.testing.assert_allclose(dZ, num, rtol=1e-6, atol=1e-8)


def test_unknown_activation_name():
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        nl.activations.get("swishy")
    with pytest.raises(ValueError, match="alpha"):
        nl.LeakyReLU(alpha=1.5)
