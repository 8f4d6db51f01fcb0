"""Property-based tests over random shapes and batch sizes."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import neuralab as nl
from neuralab.gradcheck import gradient_check


@settings(max_examples=25, deadline=None)
@given(n_in=st.integers(1, 5), hidden=st.integers(1, 5), k=st.integers(2, 4),
       m=st.integers(1, 6), act=st.sampled_from(["sigmoid", "tanh", "leaky_relu"]),
       seed=st.integers(0, 1000))
def test_gradients_match_finite_differences_for_any_shape(n_in, hidden, k, m, act, seed):
    rng = np.random.default_rng(seed)
    model = nl.MLP([n_in, hidden, k], activation=act, init="xavier_normal", seed=seed,
                   dtype="float64")
    X = rng.normal(size=(m, n_in))
    y = rng.integers(0, k, size=m)
    assert gradient_check(model, X, y, nl.CrossEntropy())["total"] < 1e-7


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 40), batch_size=st.integers(1, 50), shuffle=st.booleans())
def test_any_batch_size_trains_and_stays_finite(m, batch_size, shuffle):
    rng = np.random.default_rng(m)
    X = rng.normal(size=(m, 3))
    y = rng.integers(0, 2, size=m)
    model = nl.MLP([3, 4, 2], seed=0)
    h = nl.fit(model, X, y, epochs=2, batch_size=batch_size, shuffle=shuffle)
    assert len(h["loss"]) == 2 and np.all(np.isfinite(model.params))


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 30), seed=st.integers(0, 100))
def test_forward_shape_and_probabilities(m, seed):
    X = np.random.default_rng(seed).normal(size=(m, 3)) * 100
    model = nl.MLP([3, 5, 4], seed=seed)
    P = model.forward(X)
    assert P.shape == (m, 4)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-5)
