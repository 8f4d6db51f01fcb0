"""The fast training pass (neuralab.nn._fastpath) against the readable layer-by-layer pass."""

import pickle

import numpy as np
import pytest

import neuralab as nl
from neuralab import _kernels
from neuralab.nn import _fastpath


def _readable(model, A0, Y, loss, monkeypatch):
    """loss_and_grad through the layer-by-layer code only."""
    with monkeypatch.context() as mp:
        mp.setattr(_fastpath, "loss_and_grad", lambda *args: None)
        value = model.loss_and_grad(A0, Y, loss)
    return value, model.grads.copy(), model._output.copy()


CASES = [
    ("relu", "softmax", nl.CrossEntropy()),
    ("tanh", "softmax", nl.CrossEntropy()),
    ("sigmoid", "sigmoid", nl.BinaryCrossEntropy()),
    ("leaky_relu", "identity", nl.MSE()),
    ("relu", "softmax", nl.MSE()),  # unfused: Softmax backward
    ("tanh", "sigmoid", nl.MSE()),
    ("identity", "identity", nl.CrossEntropy(from_logits=True)),
]


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m", [1, 7, 8, 64, 100])
@pytest.mark.parametrize("act,out,loss", CASES, ids=lambda c: getattr(c, "__name__", str(c)))
def test_fast_pass_equals_readable_pass_bit_for_bit(act, out, loss, m, dtype, kernels,
                                                    monkeypatch):
    if kernels == "numpy":  # ReLU's compiled bias+activation and backward turned off
        monkeypatch.setattr(_kernels, "_compiled", lambda name: None)
    elif _kernels._compiled("bias_relu") is None:
        pytest.skip("numba is not installed (or NEURALAB_NUMBA=0)")
    rng = np.random.default_rng(m)
    n_out = 1 if out == "sigmoid" else 4
    model = nl.MLP([6, 9, 5, n_out], activation=act, output=out, seed=1, dtype=dtype)
    X = rng.normal(size=(m, 6)).astype(dtype)
    if isinstance(loss, nl.CrossEntropy):
        y = rng.integers(0, n_out, m)
    elif isinstance(loss, nl.BinaryCrossEntropy):
        y = rng.integers(0, 2, m)
    else:
        y = rng.normal(size=(m, n_out))
    Y = loss.prepare_targets(y, model.n_out, m, model.dtype)
    ref_value, ref_grads, ref_out = _readable(model, X.T, Y, loss, monkeypatch)
    model.grads[...] = np.nan
    for _ in range(2):  # the second call reuses the buffers
        value = model.loss_and_grad(X.T, Y, loss)
        assert value == ref_value
        np.testing.assert_array_equal(model.grads, ref_grads)
        np.testing.assert_array_equal(model._output, ref_out)
    assert model._plans, "an MLP should take the fast path"


def test_buffers_kept_for_two_batch_sizes_and_dropped_from_pickles():
    model = nl.MLP([5, 8, 3], seed=0)
    loss = nl.CrossEntropy()
    rng = np.random.default_rng(0)
    for m in (16, 16, 5, 16, 3):
        A0 = rng.normal(size=(5, m)).astype(np.float32)
        model.loss_and_grad(A0, loss.prepare_targets(rng.integers(0, 3, m), 3, m, np.float32),
                            loss)
    assert sorted(model._plans) == [3, 16]
    clone = pickle.loads(pickle.dumps(model))
    assert "_plans" not in vars(clone)
    np.testing.assert_array_equal(clone.forward(np.ones((2, 5))), model.forward(np.ones((2, 5))))


class _Doubler(nl.Layer):
    def forward(self, A_prev, training=True):
        return 2 * A_prev

    def backward(self, dA, need_input_grad=True):
        return 2 * dA


def test_other_models_and_dtypes_take_the_readable_pass(monkeypatch):
    rng = np.random.default_rng(0)
    custom = nl.Sequential([nl.Dense(3, 4), _Doubler(), nl.Dense(4, 2), nl.Softmax()], seed=0)
    assert _fastpath._blocks(custom.layers) is None
    hidden_softmax = [nl.Dense(3, 4), nl.Softmax(), nl.Dense(4, 2), nl.Softmax()]
    assert _fastpath._blocks(hidden_softmax) is None
    model = nl.MLP([3, 4, 2], seed=0)
    A0 = rng.normal(size=(3, 8))  # float64 into a float32 model: readable pass promotes
    loss = nl.CrossEntropy()
    assert _fastpath.loss_and_grad(model, A0, np.zeros(8, dtype=np.intp), loss) is None
    # custom layers still train, through the readable pass
    Y = loss.prepare_targets(rng.integers(0, 2, 8), 2, 8, np.float32)
    value = custom.loss_and_grad(A0.astype(np.float32), Y, loss)
    assert np.isfinite(value) and np.any(custom.grads != 0)
