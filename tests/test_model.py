import numpy as np
import pytest

import neuralab as nl
from neuralab.gradcheck import gradient_check

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]


def _data(m=7, n=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, n)), rng.integers(0, k, size=m), rng


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("output, loss", [
    ("softmax", nl.CrossEntropy()), ("sigmoid", nl.BinaryCrossEntropy()),
    ("identity", nl.MSE()), ("softmax", nl.MSE()), ("identity", nl.CrossEntropy(True)),
    ("tanh", nl.MSE()),
])
def test_three_hidden_layer_gradient_check(activation, output, loss):
    X, labels, rng = _data()
    k = 1 if output == "sigmoid" else 3
    model = nl.MLP([4, 5, 6, 5, k], activation=activation, output=output, init="xavier_normal",
                   seed=1, dtype="float64")
    if isinstance(loss, nl.CrossEntropy):
        y = labels
    elif isinstance(loss, nl.BinaryCrossEntropy):
        y = labels % 2
    else:
        y = rng.normal(size=(7, k))
    X = X + 1e-3  # keep ReLU kinks away from the finite-difference step
    result = gradient_check(model, X, y, loss)
    assert result["total"] < 1e-7, result
    assert all(err < 1e-7 for *_, err in result["layers"])


def test_unfused_softmax_cross_entropy_matches_fused():
    X, y, _ = _data()
    fused = nl.MLP([4, 5, 3], seed=0, dtype="float64")
    loss = nl.CrossEntropy()
    Y = loss.prepare_targets(y, 3, 7, np.float64)
    v1 = fused.loss_and_grad(X.T, Y, loss)
    g1 = fused.grads.copy()

    class Unfused(nl.CrossEntropy):
        def fuses(self, layer):
            return False

    v2 = fused.loss_and_grad(X.T, Y, Unfused())
    assert v1 == pytest.approx(v2, rel=1e-12)
    np.testing.assert_allclose(fused.grads, g1, rtol=1e-9, atol=1e-12)


def test_params_are_one_flat_vector_shared_with_layers():
    model = nl.Sequential([nl.Dense(64, 32), nl.ReLU(), nl.Dense(32, 10), nl.Softmax()], seed=0)
    assert model.params.shape == (64 * 32 + 32 + 32 * 10 + 10,)
    assert model.layers[0].W.shape == (32, 64) and model.layers[0].b.shape == (32, 1)
    assert np.shares_memory(model.layers[2].W, model.params)
    assert np.shares_memory(model.layers[2].dW, model.grads)
    model.params[...] = 0.0
    assert not model.layers[0].W.any()
    model.layers[2].b[...] = 1.0
    assert model.params[-1] == 1.0
    assert model.params.dtype == np.float32


def test_forward_rows_and_vectorized_equals_per_example_loop():
    X, _, _ = _data(m=9)
    model = nl.MLP([4, 8, 3], activation="tanh", seed=3, dtype="float64")
    P = model.forward(X)
    assert P.shape == (9, 3)
    for i in range(9):
        np.testing.assert_allclose(P[i], model.forward(X[i:i + 1])[0], rtol=1e-12)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert model.predict(X).shape == (9,)
    np.testing.assert_array_equal(model.predict(X), P.argmax(axis=1))


def test_logistic_regression_and_perceptron():
    lr = nl.LogisticRegression(3, dtype="float64")
    X = np.array([[1.0, 2.0, 3.0]])
    lr.layers[0].W[...] = [[0.5, -1.0, 0.25]]
    lr.layers[0].b[...] = 0.1
    z = 0.5 - 2.0 + 0.75 + 0.1
    assert lr.forward(X)[0, 0] == pytest.approx(1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(lr.predict_proba(X).sum(axis=1), 1.0)
    p = nl.Perceptron(3, activation="tanh", dtype="float64")
    p.layers[0].W[...] = [[0.5, -1.0, 0.25]]
    assert p.forward(X)[0, 0] == pytest.approx(np.tanh(z - 0.1))


def _hidden_units(model, X):
    return np.tanh(model.layers[0].W @ X.T + model.layers[0].b)


@pytest.mark.parametrize("init, identical", [("zeros", True), ("xavier_normal", False)])
def test_zero_init_keeps_hidden_units_identical(init, identical):
    from sklearn.datasets import make_moons

    X, y = make_moons(200, noise=0.1, random_state=0)
    model = nl.Sequential([nl.Dense(2, 6, init=init), nl.Tanh(), nl.Dense(6, 2, init=init),
                           nl.Softmax()], seed=0, dtype="float64")
    # zeros everywhere would leave even dZ^{[1]} = 0; the lecture's argument only needs every
    # hidden unit to look the same to the output layer: each output row constant over hidden
    # units, and rows different (equal rows give dA^{[1]} = W2ᵀ(A − Y) = 0 under softmax)
    if init == "zeros":
        model.layers[2].W[...] = [[0.5], [-0.3]]
    nl.fit(model, X, y, optimizer=nl.optim.SGD(0.5), epochs=20, batch_size=32)
    W1 = model.layers[0].W
    rows_equal = np.allclose(W1, W1[0], atol=1e-12)
    assert rows_equal == identical
    H = _hidden_units(model, X)
    assert (np.linalg.matrix_rank(H, tol=1e-8) == 1) == identical
    assert np.abs(W1).min() > 1e-3  # every hidden weight did train


@pytest.mark.parametrize("layers, match", [
    ([nl.Dense(4, 3), nl.ReLU(), nl.Dense(5, 2)], r"do not chain.*Dense\(3, 2\)"),
    ([], "empty"),
    ([nl.ReLU()], "at least one Dense"),
    (["dense"], "must be a neuralab Layer"),
])
def test_bad_architectures(layers, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nl.Sequential(layers)


@pytest.mark.parametrize("X, exc, match", [
    (np.ones((3, 5)), ValueError, "expects 4"),
    (np.ones(4), ValueError, "2-D"),
    (np.array([[1, 2, np.nan, 4.0]]), ValueError, "NaN"),
    (np.array([["a", "b", "c", "d"]]), TypeError, "numeric"),
    (np.ones((0, 4)), ValueError, "empty"),
    ("abcd", TypeError, "numeric"),
])
def test_bad_inputs_to_forward(X, exc, match):
    model = nl.MLP([4, 3, 2], seed=0)
    with pytest.raises(exc, match=match):
        model.forward(X)


@pytest.mark.parametrize("kwargs, match", [
    ({"sizes": [4, 0, 2]}, r"sizes\[1\]"),
    ({"sizes": [4]}, "at least an input"),
    ({"sizes": [4, 2], "activation": "swish"}, "unknown activation"),
    ({"sizes": [4, 2], "dtype": "float16"}, "dtype"),
])
def test_bad_mlp_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        nl.MLP(**kwargs)


def test_summary_and_config_roundtrip():
    model = nl.MLP([4, 8, 3], activation="leaky_relu", seed=0)
    text = model.summary()
    assert "total parameters: 67" in text and "Dense" in text
    clone = nl.Sequential.from_config(model.get_config())
    assert type(clone) is nl.MLP
    clone.params[...] = model.params
    X = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_array_equal(clone.forward(X), model.forward(X))


@pytest.mark.parametrize("name, shape", [("W", (8, 4)), ("b", (8, 1)), ("dW", (8, 4)),
                                         ("db", (8, 1))])
def test_assigning_a_weight_copies_into_theta(name, shape, tmp_path):
    model = nl.MLP([4, 8, 2], seed=0)
    layer = model.layers[0]
    view = getattr(layer, name)
    flat = model.params if name in ("W", "b") else model.grads
    setattr(layer, name, np.full(shape, 0.5))
    assert getattr(layer, name) is view and np.shares_memory(view, flat)   # still the view
    assert np.all(view == 0.5)
    if name in ("W", "b"):                                   # θ changed, so files keep it
        nl.save(model, tmp_path / "m.safetensors")
        X = np.ones((3, 4))
        np.testing.assert_array_equal(nl.load(tmp_path / "m.safetensors").forward(X),
                                      model.forward(X))
    with pytest.raises(ValueError, match=rf"{name} must have shape \(8, .*got \(4, 8\).*"
                                         rf"layer\.{name}\[\.\.\.\] = \.\.\."):
        setattr(layer, name, np.ones((4, 8)))
    assert np.all(view == 0.5)                              # a refused value changes nothing


def test_a_weight_set_by_assignment_is_trained_by_fit():
    X = np.random.default_rng(0).normal(size=(32, 4))
    y = (X[:, 0] > 0).astype(int)
    model = nl.MLP([4, 8, 2], seed=0, dtype="float64")
    model.layers[0].W = np.ones((8, 4))
    model.layers[0].b = np.zeros(8)                          # (n_out,) like torch's bias
    nl.fit(model, X, y, optimizer="sgd", epochs=1)
    assert not np.all(model.layers[0].W == 1.0)              # updated through θ
    unbound = nl.Dense(4, 8)
    with pytest.raises(ValueError, match="until the layer is in a model"):
        unbound.W = np.ones((8, 4))


@pytest.mark.parametrize("copy_of", [lambda m: __import__("copy").deepcopy(m),
                                     lambda m: __import__("pickle").loads(
                                         __import__("pickle").dumps(m))])
def test_a_copied_model_keeps_its_weights_inside_theta(copy_of):
    X = np.random.default_rng(1).normal(size=(16, 4))
    y = (X[:, 0] > 0).astype(int)
    model = nl.MLP([4, 8, 2], seed=0, dtype="float64")
    twin = copy_of(model)
    for layer, sl in zip(twin.layers, twin._slices, strict=True):
        if layer.n_params:
            assert np.shares_memory(layer.W, twin.params[sl])
            assert np.shares_memory(layer.dW, twin.grads[sl])
    np.testing.assert_array_equal(twin.forward(X), model.forward(X))
    nl.fit(twin, X, y, optimizer="sgd", epochs=1, seed=0)
    nl.fit(model, X, y, optimizer="sgd", epochs=1, seed=0)
    np.testing.assert_array_equal(twin.forward(X), model.forward(X))   # trained, not stale


def test_in_place_operators_on_layer_views_write_through_without_a_copy(monkeypatch):
    # `layer.dW *= s` calls the property's setter with the view itself: nothing to check or
    # copy (the backward pass does this every step), and NaN must reach the divergence guard
    import neuralab.layers as layers

    model = nl.MLP([3, 4, 2], seed=0)
    layer = model.layers[0]
    calls = []
    monkeypatch.setattr(layers, "check_array", lambda *a, **k: calls.append(1))
    layer.dW[...] = np.nan
    layer.dW *= 0.5
    layer.W += 1.0
    assert calls == [] and np.isnan(layer.dW).all()
    assert np.shares_memory(layer.W, model.params)
