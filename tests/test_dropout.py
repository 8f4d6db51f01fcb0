"""nl.Dropout: inverted dropout in training, identity at inference; masks from the run's
generator (exact resume); the fast path runs it; model files, ONNX and torch."""

from __future__ import annotations

import numpy as np
import pytest

import neuralab as nl
from neuralab.nn import _fastpath

RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 5))
Y = (X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5).astype(int)


def _model(dtype="float64", p=0.3, seed=2):
    return nl.Sequential([nl.Dense(5, 16), nl.ReLU(), nl.Dropout(p), nl.Dense(16, 8), nl.Tanh(),
                          nl.Dropout(p), nl.Dense(8, 3), nl.Softmax()], seed=seed, dtype=dtype)


def _fit(model, **kw):
    return nl.fit(model, X, Y, optimizer=nl.optim.Adam(lr=0.01), epochs=3, batch_size=32,
                  seed=5, **kw)


def test_inverted_dropout_in_training_identity_at_inference():
    layer = nl.Dropout(0.25)
    layer.bind_rng(np.random.default_rng(0))
    A = np.ones((50, 400))
    out = layer.forward(A, training=True)
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01                       # each unit kept w.p. 1 − p
    assert np.all(out[kept] == 1 / 0.75)                        # kept units scaled by 1/(1−p)
    dA = RNG.normal(size=A.shape)
    assert np.array_equal(layer.backward(dA), dA * out)         # dA_prev = M ⊙ dA
    assert layer.forward(A, training=False) is A                # identity at inference
    model = _model()
    assert np.array_equal(model.forward(X), model.forward(X))   # forward() is inference
    assert not np.array_equal(model.forward(X, training=True), model.forward(X))


def test_p_is_validated():
    with pytest.raises(ValueError, match="p"):
        nl.Dropout(1.0)
    with pytest.raises(ValueError, match="p"):
        nl.Dropout(-0.1)


def test_fast_path_runs_dropout_and_equals_the_readable_path(monkeypatch):
    model = _model()
    assert _fastpath._blocks(model.layers) is not None          # no silent fallback
    assert model.fast_path
    calls = []
    real = _fastpath.loss_and_grad
    monkeypatch.setattr(_fastpath, "loss_and_grad",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    _fit(model)
    assert calls
    fast = model.params.copy()
    monkeypatch.setattr(_fastpath, "loss_and_grad", lambda *a, **k: None)
    slow = _model()
    _fit(slow)
    assert np.array_equal(fast, slow.params)                    # bit for bit, masks included


def test_same_seed_same_masks_other_seed_other_run():
    a, b, c = _model(), _model(), _model()
    _fit(a)
    _fit(b)
    nl.fit(c, X, Y, optimizer=nl.optim.Adam(lr=0.01), epochs=3, batch_size=32, seed=6)
    assert np.array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)


class _Kill(nl.Callback):
    def __init__(self, at):
        self.at = at

    def on_batch_end(self, step, logs=None):
        if step == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_killed_run_with_dropout_resumes_bit_identically(tmp_path, dtype):
    whole = _model(dtype)
    _fit(whole)
    ck = tmp_path / "ck.safetensors"
    killed = _model(dtype)
    with pytest.raises(KeyboardInterrupt):
        _fit(killed, checkpoint=ck, checkpoint_every=3, callbacks=[_Kill(7)])
    resumed = _model(dtype, seed=9)                             # other weights: all restored
    _fit(resumed, resume_from=ck)
    assert np.array_equal(whole.params, resumed.params)


def test_newton_hessian_and_gradcheck_refuse_dropout_by_name():
    model = nl.Sequential([nl.Dense(5, 4), nl.Tanh(), nl.Dropout(0.2), nl.Dense(4, 3),
                           nl.Softmax()], seed=0, dtype="float64")
    for opt in (nl.optim.Newton(), nl.optim.NewtonCG()):
        with pytest.raises(TypeError, match="Dropout"):
            nl.fit(model, X, Y, optimizer=opt, epochs=1, batch_size=None)
    with pytest.raises(TypeError, match="Dropout"):
        nl.hessian.hessian(nl.hessian.objective(model, X, Y))
    with pytest.raises(TypeError, match="Dropout"):
        nl.gradcheck.gradient_check(model, X[:10], Y[:10], "cross_entropy")


def test_model_file_round_trip(tmp_path):
    model = _model(dtype="float32")
    _fit(model)
    nl.save(model, tmp_path / "m.safetensors")
    again = nl.load(tmp_path / "m.safetensors")
    assert isinstance(again.layers[2], nl.Dropout) and again.layers[2].p == 0.3
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))


def test_onnx_exports_dropout_as_identity(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = _model(dtype="float32")
    nl.export_onnx(model, tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    out = sess.run(None, {"X": X.astype(np.float32)})[0]
    assert np.allclose(out, model.forward(X), atol=1e-6)


def test_torch_twin_is_torch_dropout():
    torch = pytest.importorskip("torch")
    model = _model()
    net = nl.interop.to_torch(model)
    assert isinstance(net[2], torch.nn.Dropout) and net[2].p == 0.3
    net.eval()
    with torch.no_grad():
        assert np.allclose(net(torch.from_numpy(X)).numpy(), model.forward(X), atol=1e-12)
    back = nl.interop.from_torch(net)
    assert isinstance(back.layers[2], nl.Dropout) and back.layers[2].p == 0.3
    assert np.allclose(back.forward(X), model.forward(X), atol=1e-12)
