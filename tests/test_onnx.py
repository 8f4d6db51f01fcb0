import builtins

import numpy as np
import pytest

import neuralab as nl

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

HIDDEN = [nl.Sigmoid, nl.Tanh, nl.ReLU, lambda: nl.LeakyReLU(0.3), nl.Identity]
ONNX_OP = {"Sigmoid": "Sigmoid", "Tanh": "Tanh", "ReLU": "Relu", "LeakyReLU": "LeakyRelu",
           "Identity": "Identity", "Softmax": "Softmax"}


def _run(path, X, input_name="X"):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {input_name: X})[0]


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output", [nl.Softmax, nl.Sigmoid, nl.Identity])
def test_onnxruntime_matches_neuralab_float32(tmp_path, hidden, output):
    model = nl.Sequential([nl.Dense(6, 8), hidden(), nl.Dense(8, 5), hidden(),
                           nl.Dense(5, 4), output()], seed=0)
    model.params[...] += np.random.default_rng(0).normal(0, 0.1, model.n_params)  # b ≠ 0
    path = tmp_path / "model.onnx"
    proto = nl.export_onnx(model, path)
    onnx.checker.check_model(onnx.load(str(path)))
    expected = ["Gemm" if isinstance(layer, nl.Dense) else ONNX_OP[type(layer).__name__]
                for layer in model.layers]
    assert [n.op_type for n in proto.graph.node] == expected
    for m in (1, 37):  # the batch dimension is dynamic
        X = np.random.default_rng(m).normal(size=(m, 6)).astype(np.float32)
        out = _run(path, X)
        assert out.dtype == np.float32 and out.shape == (m, 4)
        np.testing.assert_allclose(out, model.forward(X), rtol=1e-5, atol=1e-5)


def test_graph_is_standard_ops_with_named_dynamic_input(tmp_path):
    model = nl.Sequential([nl.Dense(3, 4), nl.LeakyReLU(0.25), nl.Dense(4, 2), nl.Softmax()],
                          seed=0)
    proto = nl.export_onnx(model, tmp_path / "m.onnx", input_name="features",
                           output_name="probs")
    graph = proto.graph
    assert [n.op_type for n in graph.node] == ["Gemm", "LeakyRelu", "Gemm", "Softmax"]
    attrs = {a.name: onnx.helper.get_attribute_value(a)
             for n in graph.node for a in n.attribute}
    assert attrs["alpha"] == pytest.approx(0.25) and attrs["axis"] == -1 and attrs["transB"] == 1
    dims = graph.input[0].type.tensor_type.shape.dim
    assert graph.input[0].name == "features" and dims[0].dim_param and dims[1].dim_value == 3
    assert graph.output[0].name == "probs"
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(_run(tmp_path / "m.onnx", X, "features"), model.forward(X),
                               rtol=1e-5, atol=1e-6)


def test_float64_and_fitted_sklearn_estimator(tmp_path):
    from sklearn.datasets import make_regression

    from neuralab.sklearn import NeuralNetRegressor

    X, Y = make_regression(80, 4, n_targets=2, random_state=0)
    reg = NeuralNetRegressor((6,), epochs=5, tol=0.0, random_state=0)
    with pytest.warns(Warning):
        reg.fit(X, Y / Y.std())
    assert reg.model_.dtype == np.float64
    nl.export_onnx(reg, tmp_path / "reg.onnx")
    out = _run(tmp_path / "reg.onnx", X)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, reg.predict(X), rtol=1e-12, atol=1e-12)


def test_bad_arguments_are_named(tmp_path):
    model = nl.MLP([2, 2], seed=0)
    with pytest.raises(TypeError, match="neuralab Sequential"):
        nl.export_onnx(object(), tmp_path / "x.onnx")
    with pytest.raises(TypeError, match="path must be"):
        nl.export_onnx(model, 3)
    with pytest.raises(ValueError, match="opset must be"):
        nl.export_onnx(model, tmp_path / "x.onnx", opset=11)
    with pytest.raises(ValueError, match="must differ"):
        nl.export_onnx(model, tmp_path / "x.onnx", input_name="A", output_name="A")


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("No module named 'onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(ImportError, match=r"pip install neuralab\[onnx\]"):
        nl.export_onnx(nl.MLP([2, 2], seed=0), tmp_path / "x.onnx")
