"""neuralab._kernels: the chunked and the fused (numba) Adam step against the whole-vector
formula and each other."""

import numpy as np
import pytest

from neuralab import _kernels


def _adam_whole(theta, g, m, v, lr, b1, b2, eps, t):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def _fused():
    if _kernels._fused_adam() is None:
        pytest.skip("numba is not installed (or NEURALAB_NUMBA=0)")


@pytest.mark.parametrize("chunk", [7, 64, 1000, 5000])
def test_chunked_adam_matches_the_formula_for_any_chunk_size(chunk):
    rng = np.random.default_rng(0)
    n = 1000  # chunk 7 and 64 leave a partial last chunk
    theta, m, v = rng.normal(size=n), rng.normal(size=n) * 0.1, rng.random(n) * 0.01
    ref = (theta.copy(), m.copy(), v.copy())
    for t in (1, 2, 3):
        g = rng.normal(size=n)
        g_before = g.copy()
        _kernels.adam_update_numpy(theta, g, m, v, 0.01, 0.9, 0.999, 1e-8, t,
                                   np.empty(chunk))
        ref = _adam_whole(ref[0], g, ref[1], ref[2], 0.01, 0.9, 0.999, 1e-8, t)
        np.testing.assert_array_equal(g, g_before)
    for got, want in zip((theta, m, v), ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_results_do_not_depend_on_the_chunk_size():
    rng = np.random.default_rng(1)
    n = 3 * 4096 + 5
    g = rng.normal(size=n).astype(np.float32)
    out = []
    for chunk in (4096, 1000, n):
        theta, m, v = (np.ones(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32))
        for t in (1, 2):
            _kernels.adam_update_numpy(theta, g, m, v, 1e-3, 0.9, 0.999, 1e-8, t,
                                       np.empty(chunk, np.float32))
        out.append(theta)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])


@pytest.mark.parametrize("kernel", ["numpy", "fused"])
def test_zero_rate_moves_the_moments_not_theta(kernel):
    theta, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    m, v = np.zeros(2), np.zeros(2)
    if kernel == "fused":
        _fused()
        _kernels.adam_update_fused(theta, g, m, v, 0.0, 0.9, 0.999, 1e-8, 1)
    else:
        _kernels.adam_update_numpy(theta, g, m, v, 0.0, 0.9, 0.999, 1e-8, 1, np.empty(2))
    np.testing.assert_array_equal(theta, [1.0, -2.0])
    np.testing.assert_allclose(m, 0.1 * g)
    np.testing.assert_allclose(v, 0.001 * g * g)


def test_scratch_buffer_sizes():
    assert _kernels.scratch_buffer(np.float32, 10).size == 10
    assert _kernels.scratch_buffer(np.float32, 2 * _kernels.CHUNK).size == 2 * _kernels.CHUNK
    big = _kernels.scratch_buffer(np.float64, 10 * _kernels.CHUNK)
    assert big.size == _kernels.CHUNK and big.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_and_numpy_kernels_agree_bit_for_bit(dtype):
    _fused()
    rng = np.random.default_rng(2)
    n = 3 * 4096 + 5
    theta = rng.normal(size=n).astype(dtype)
    m, v = (rng.normal(size=n) * 0.1).astype(dtype), (rng.random(n) * 0.01).astype(dtype)
    v[:3] = 0.0  # √0: the denominator is ε alone
    a, b = (theta, m, v), tuple(x.copy() for x in (theta, m, v))
    for t, lr in ((1, 1e-3), (2, 0.5), (3, 0.0), (50, 2e-4)):
        g = (rng.normal(size=n) * 10.0 ** rng.integers(-8, 3, n)).astype(dtype)
        g[:2] = 0.0
        _kernels.adam_update_numpy(*a[:1], g, *a[1:], lr, 0.9, 0.999, 1e-8, t,
                                   np.empty(1000, dtype))
        _kernels.adam_update_fused(*b[:1], g, *b[1:], lr, 0.9, 0.999, 1e-8, t)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_the_dispatcher_uses_the_fused_kernel_for_contiguous_vectors(monkeypatch):
    _fused()
    calls = []
    monkeypatch.setattr(_kernels, "adam_update_numpy", lambda *a: calls.append("numpy"))
    monkeypatch.setattr(_kernels, "adam_update_fused", lambda *a: calls.append("fused"))
    x = np.zeros(8, np.float32)
    _kernels.adam_update(x, x, x, x, 1e-3, 0.9, 0.999, 1e-8, 1, x)
    _kernels.adam_update(x[::2], x[::2], x[::2], x[::2], 1e-3, 0.9, 0.999, 1e-8, 1, x)
    h = np.zeros(8, np.float16)
    _kernels.adam_update(h, h, h, h, 1e-3, 0.9, 0.999, 1e-8, 1, h)
    assert calls == ["fused", "numpy", "numpy"]


def test_neuralab_numba_0_turns_the_fused_kernel_off(monkeypatch):
    monkeypatch.setenv("NEURALAB_NUMBA", "0")
    _kernels._compiled.cache_clear()
    try:
        assert _kernels._fused_adam() is None
    finally:
        _kernels._compiled.cache_clear()


def test_preload_compiles_every_loop_for_both_float_dtypes():
    _fused()
    assert _kernels.preload() == list(_kernels._LOOPS)
    for name in _kernels._LOOPS:       # one specialization per float dtype at least
        assert len(_kernels._compiled(name).signatures) >= 2, name


def test_preload_without_numba_loads_nothing(monkeypatch):
    monkeypatch.setenv("NEURALAB_NUMBA", "0")
    _kernels._compiled.cache_clear()
    try:
        assert _kernels.preload() == []
    finally:
        _kernels._compiled.cache_clear()


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf · 0 on purpose
@pytest.mark.parametrize("kernel", ["numpy", "fused"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_kernels_equal_the_numpy_operations(kernel, dtype, monkeypatch):
    if kernel == "numpy":
        monkeypatch.setattr(_kernels, "_compiled", lambda name: None)
    else:
        _fused()
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(7, 33)).astype(dtype)
    Z[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    b = rng.normal(size=(7, 1)).astype(dtype)
    b[0] = 0.0
    want = np.maximum(Z + b, 0)
    got = Z.copy()
    assert _kernels.bias_relu(got, b) is got
    np.testing.assert_array_equal(got, want)
    assert np.signbit(got[0, 3]) == np.signbit(want[0, 3])
    dA = rng.normal(size=Z.shape).astype(dtype)
    dA[1, :3] = [np.nan, np.inf, -1.0]
    got[1, :3] = [1.0, 0.0, 0.0]
    expect = dA * (got > 0)
    out = dA.copy()
    assert _kernels.relu_backward(out, got) is out
    np.testing.assert_array_equal(out, expect)
    assert np.isnan(out[1, 0]) and np.isnan(out[1, 1])


# ------------------------------------------------ Adam's step bound (fit skips copying θ)
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(log_theta=st.floats(-30, 38.5), log_g1=st.floats(-30, 38), log_g2=st.floats(-30, 38),
       log_lr=st.floats(-8, 40), log_eps=st.floats(-30, 0), decay=st.sampled_from(
           [("adam", 0.0), ("adam", 0.5), ("adamw", 0.01), ("adamw", 1e3)]),
       seed=st.integers(0, 2**16))
def test_a_bounded_adam_step_never_makes_theta_non_finite(log_theta, log_g1, log_g2, log_lr,
                                                          log_eps, decay, seed):
    # fit's guard skips its copy of θ whenever the bound says so: that must be sound for
    # any θ, gradients, rate and ε, float32 (the closest to overflow), over several steps
    import neuralab as nl
    from neuralab.training._guard import AdamStepBound

    rng = np.random.default_rng(seed)
    name, wd = decay
    opt = nl.optim.get(name, lr=10.0 ** log_lr, eps=10.0 ** log_eps, weight_decay=wd)
    with np.errstate(all="ignore"):
        theta = (rng.standard_normal(64) * 10.0 ** log_theta).astype(np.float32)
        g1 = (rng.standard_normal(64) * 10.0 ** log_g1).astype(np.float32)
        g2 = (rng.standard_normal(64) * 10.0 ** log_g2).astype(np.float32)
        if not (np.isfinite(theta).all() and np.isfinite(g1).all() and np.isfinite(g2).all()):
            return
        opt.step(theta, g1)
        if not np.isfinite(theta).all():
            return
        bound = AdamStepBound()
        bound.measure(opt, theta)
        for g in (g2, g1, g2):
            norm = float(np.sqrt(np.sum(g.astype(np.float64) ** 2)))   # exact: no factor 2
            if not bound.next_step_safe(opt, norm, None, theta.dtype):
                return
            opt.step(theta, g)
            assert np.isfinite(theta).all()
            assert np.abs(theta).max() <= bound.bounds[0]
            assert np.abs(opt.m).max() <= bound.bounds[1]


def test_the_bound_is_not_vacuous():
    # ordinary training steps are proven safe for a long time; an absurd rate is not
    import neuralab as nl
    from neuralab.training._guard import AdamStepBound

    opt, bound = nl.optim.Adam(lr=1e-3), AdamStepBound()
    theta, g = np.ones(8, np.float32), np.full(8, 0.5, np.float32)
    assert not bound.next_step_safe(opt, 2.0, None, theta.dtype)   # no bounds yet
    opt.step(theta, g)
    bound.measure(opt, theta)
    assert bound.bounds == (pytest.approx(1.0 - 1e-3), pytest.approx(0.05))
    assert not bound.next_step_safe(opt, 2.0, 1e36, theta.dtype)
    for _ in range(10_000):
        assert bound.next_step_safe(opt, 2.0, None, theta.dtype)
        opt.step(theta, g)
    bound.reset()                                                  # what the guard does after
    assert not bound.next_step_safe(opt, 2.0, None, theta.dtype)   # a step it did not foresee
