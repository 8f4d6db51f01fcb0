"""nl.BatchNorm: torch.nn.BatchNorm1d's semantics with examples as columns; running statistics
as buffers (model files, checkpoints), inference never changes them; ONNX and torch."""

from __future__ import annotations

import numpy as np
import pytest

import neuralab as nl
from neuralab.nn import _fastpath

RNG = np.random.default_rng(1)
X = RNG.normal(size=(120, 5)) * [1, 3, 0.5, 2, 1] + [0, 1, -2, 0, 4]
Y = (X[:, 0] + 0.3 * X[:, 1] > 0.5).astype(int) + (X[:, 2] > -2).astype(int)


def _model(dtype="float64", seed=0):
    return nl.Sequential([nl.Dense(5, 8), nl.BatchNorm(8, momentum=0.2), nl.Tanh(),
                          nl.Dense(8, 3), nl.Softmax()], seed=seed, dtype=dtype)


def test_parameters_are_views_and_buffers_start_at_zero_and_one():
    model = _model()
    bn = model.layers[1]
    assert np.shares_memory(bn.gamma, model.params) and np.shares_memory(bn.dbeta, model.grads)
    assert np.all(bn.gamma == 1) and np.all(bn.beta == 0)
    assert np.all(bn.running_mean == 0) and np.all(bn.running_var == 1)
    assert bn.running_mean.dtype == model.dtype
    with pytest.raises(ValueError, match="BatchNorm\\(8\\) receives 3 units"):
        nl.Sequential([nl.Dense(5, 3), nl.BatchNorm(8)])


def test_inference_never_changes_the_buffers():
    model = _model()
    nl.fit(model, X, Y, optimizer=nl.optim.SGD(lr=0.1), epochs=1, batch_size=30)
    before = {k: v.copy() for k, v in model.buffers().items()}
    model.predict(X), model.predict_proba(X), nl.evaluate(model, X, Y)
    nl.fit(model, X, Y, epochs=0, validation_data=(X, Y))
    for k, v in model.buffers().items():
        assert np.array_equal(v, before[k]), k
    model.forward(X, training=True)
    assert not np.array_equal(model.buffers()["1.running_mean"], before["1.running_mean"])


def test_equals_torch_batchnorm1d_over_sgd_steps_with_running_stats():
    torch = pytest.importorskip("torch")
    model = _model("float64")
    net = nl.interop.to_torch(model)[:-1]          # logits: torch's loss takes them
    nl.fit(model, X, Y, optimizer=nl.optim.SGD(lr=0.1), epochs=3, batch_size=40,
           shuffle=False)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net.train()
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(3):
        for start in range(0, 120, 40):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(Xt[start:start + 40]),
                                                     Yt[start:start + 40])
            loss.backward()
            opt.step()
    bn, tbn = model.layers[1], net[1]
    assert np.allclose(bn.gamma[:, 0], tbn.weight.detach().numpy(), rtol=0, atol=1e-10)
    assert np.allclose(bn.beta[:, 0], tbn.bias.detach().numpy(), rtol=0, atol=1e-10)
    assert np.allclose(bn.running_mean[:, 0], tbn.running_mean.numpy(), rtol=0, atol=1e-10)
    assert np.allclose(bn.running_var[:, 0], tbn.running_var.numpy(), rtol=0, atol=1e-10)
    assert np.allclose(model.layers[0].W, net[0].weight.detach().numpy(), rtol=0, atol=1e-10)
    net.eval()
    with torch.no_grad():
        P = torch.softmax(net(Xt), dim=1).numpy()
    assert np.allclose(model.predict_proba(X), P, rtol=0, atol=1e-10)


def test_gradient_check():
    model = _model("float64")
    result = nl.gradcheck.gradient_check(model, X[:20], Y[:20], "cross_entropy")
    assert result["total"] < 1e-6
    assert [row[1] for row in result["layers"]] == ["Dense", "BatchNorm", "Dense"]
    assert all(row[3] < 1e-6 for row in result["layers"])


def test_from_torch_round_trip():
    torch = pytest.importorskip("torch")
    model = _model()
    nl.fit(model, X, Y, optimizer=nl.optim.SGD(lr=0.1), epochs=2, batch_size=30)
    back = nl.interop.from_torch(nl.interop.to_torch(model))
    assert isinstance(back.layers[1], nl.BatchNorm) and back.layers[1].momentum == 0.2
    for k, v in model.buffers().items():
        assert np.array_equal(back.buffers()[k], v)
    assert np.allclose(back.forward(X), model.forward(X), atol=1e-12)
    with pytest.raises(TypeError, match="BatchNorm1d"):
        nl.interop.from_torch(torch.nn.Sequential(torch.nn.Linear(5, 3),
                                                  torch.nn.BatchNorm1d(3, momentum=None)))


def test_model_file_keeps_the_running_statistics(tmp_path):
    model = _model("float32")
    nl.fit(model, X, Y, optimizer=nl.optim.Adam(lr=0.01), epochs=2, batch_size=30)
    nl.save(model, tmp_path / "m.safetensors")
    again = nl.load(tmp_path / "m.safetensors")
    for k, v in model.buffers().items():
        assert np.array_equal(again.buffers()[k], v)
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))


class _Kill(nl.Callback):
    def on_batch_end(self, step, logs=None):
        if step == 8:
            raise KeyboardInterrupt


def test_a_killed_run_resumes_bit_identically_buffers_included(tmp_path):
    def run(model, **kw):
        nl.fit(model, X, Y, optimizer=nl.optim.Adam(lr=0.01), epochs=3, batch_size=32,
               seed=3, **kw)
    whole = _model("float32")
    run(whole)
    with pytest.raises(KeyboardInterrupt):
        run(_model("float32"), checkpoint=tmp_path / "ck", checkpoint_every=3,
            callbacks=[_Kill()])
    resumed = _model("float32", seed=5)
    run(resumed, resume_from=tmp_path / "ck")
    assert np.array_equal(whole.params, resumed.params)
    for k, v in whole.buffers().items():
        assert np.array_equal(resumed.buffers()[k], v), k


def test_onnx_batch_normalization(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = _model("float32")
    nl.fit(model, X, Y, optimizer=nl.optim.SGD(lr=0.1), epochs=2, batch_size=30)
    proto = nl.export_onnx(model, tmp_path / "m.onnx")
    assert "BatchNormalization" in [n.op_type for n in proto.graph.node]
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    out = sess.run(None, {"X": X.astype(np.float32)})[0]
    assert np.allclose(out, model.forward(X), atol=1e-5)


def test_second_order_methods_refuse_it_by_name_and_the_fast_path_leaves_it():
    model = _model()
    with pytest.raises(TypeError, match="BatchNorm"):
        nl.hessian.hessian(nl.hessian.objective(model, X, Y))
    with pytest.raises(TypeError, match="BatchNorm"):
        nl.fit(model, X, Y, optimizer=nl.optim.NewtonCG(), epochs=1, batch_size=None)
    assert _fastpath._blocks(model.layers) is None     # the readable pass, by declaration
    assert not model.fast_path and nl.MLP([3, 4, 2]).fast_path


def test_a_batch_of_one_is_refused_clearly():
    with pytest.raises(ValueError, match="at least 2 examples"):
        nl.fit(_model(), X[:33], Y[:33], epochs=1, batch_size=32, shuffle=False)


def test_data_parallel_training_refuses_batch_statistics():
    from neuralab.training import _comm

    class TwoRanks(_comm.Local):
        size = 2

    with pytest.raises(ValueError, match="BatchNorm keeps statistics of each batch"):
        nl.fit(_model(), X, Y, epochs=1, comm=TwoRanks())
