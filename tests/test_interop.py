import subprocess
import sys

import numpy as np
import pytest

import neuralab as nl

torch = pytest.importorskip("torch")
nn = torch.nn

ACTIVATIONS = [
    (nl.Sigmoid, nn.Sigmoid), (nl.Tanh, nn.Tanh), (nl.ReLU, nn.ReLU),
    (lambda: nl.LeakyReLU(0.2), lambda: nn.LeakyReLU(0.2)), (nl.Identity, nn.Identity),
]


def _model(hidden, output, dtype="float32", seed=0):
    layers = [nl.Dense(5, 7, init="xavier_normal"), hidden(), nl.Dense(7, 6), hidden(),
              nl.Dense(6, 3), output()]
    model = nl.Sequential(layers, seed=seed, dtype=dtype)
    model.params[...] += np.random.default_rng(seed).normal(0, 0.1, model.n_params)  # b ≠ 0
    return model


@pytest.mark.parametrize("hidden", [a for a, _ in ACTIVATIONS])
@pytest.mark.parametrize("output", [nl.Softmax, nl.Sigmoid, nl.Identity])
def test_to_torch_gives_the_same_outputs(hidden, output):
    model = _model(hidden, output)
    net = nl.interop.to_torch(model)
    X = np.random.default_rng(1).normal(size=(50, 5)).astype(np.float32)
    with torch.no_grad():
        out = net(torch.from_numpy(X)).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, model.forward(X), rtol=1e-6, atol=1e-6)
    # parameters are copies: changing the torch net leaves the neuralab model alone
    before = model.params.copy()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    np.testing.assert_array_equal(model.params, before)


def test_to_torch_layout_and_dtype():
    model = _model(nl.ReLU, nl.Softmax, dtype="float64")
    net = nl.interop.to_torch(model)
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.Softmax]
    assert net[0].weight.dtype == torch.float64 and net[5].dim == 1
    np.testing.assert_array_equal(net[2].weight.detach().numpy(), model.layers[2].W)
    np.testing.assert_array_equal(net[2].bias.detach().numpy(), model.layers[2].b[:, 0])


@pytest.mark.parametrize("hidden", [t for _, t in ACTIVATIONS])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_from_torch_gives_the_same_outputs(hidden, dtype):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 9), hidden(), nn.Sequential(nn.Linear(9, 5), hidden()),
                        nn.Linear(5, 3, bias=False), nn.Softmax(dim=-1)).to(dtype)
    model = nl.interop.from_torch(net)
    assert model.dtype == {torch.float32: np.float32, torch.float64: np.float64}[dtype]
    X = torch.randn(40, 4, dtype=dtype)
    with torch.no_grad():
        ref = net(X).numpy()
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(model.forward(X.numpy()), ref, rtol=tol, atol=tol)
    np.testing.assert_array_equal(model.layers[-2].b, 0.0)  # Linear(bias=False) -> b = 0


def test_round_trip_trained_model_and_sklearn_estimator():
    from sklearn.datasets import load_iris

    from neuralab.sklearn import NeuralNetClassifier

    X, y = load_iris(return_X_y=True)
    clf = NeuralNetClassifier((8,), lr=1e-2, epochs=20, tol=0.0, random_state=0,
                              dtype="float32")
    with pytest.warns(Warning):
        clf.fit(X, y)
    back = nl.interop.from_torch(nl.interop.to_torch(clf))
    np.testing.assert_array_equal(back.params, clf.model_.params)
    np.testing.assert_allclose(back.forward(X), clf.predict_proba(X), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("module, match", [
    (nn.Sequential(nn.Linear(3, 2), nn.GELU()), "module 1 .*GELU"),   # Dropout maps (nl.Dropout)
    (nn.Sequential(nn.Linear(3, 2), nn.Softmax(dim=0)), "module 1 .*Softmax"),
    (nn.Sequential(nn.ReLU()), "no Linear layer"),
    (nn.Conv1d(1, 1, 3), "expects a torch.nn.Sequential"),
])
def test_from_torch_names_the_unsupported_module(module, match):
    with pytest.raises((TypeError, ValueError), match=match):
        nl.interop.from_torch(module)


def test_from_torch_accepts_a_single_linear():
    lin = nn.Linear(3, 2)
    model = nl.interop.from_torch(lin)
    X = torch.randn(4, 3)
    with torch.no_grad():
        np.testing.assert_allclose(model.forward(X.numpy()), lin(X).numpy(), rtol=1e-6,
                                   atol=1e-6)


def test_to_torch_rejects_non_models():
    with pytest.raises(TypeError, match="neuralab Sequential"):
        nl.interop.to_torch(nn.Linear(2, 2))


def test_import_neuralab_does_not_import_torch_onnx_or_sklearn():
    code = ("import sys, neuralab; "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'sklearn') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
