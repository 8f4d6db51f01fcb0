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
    from neuralab.optim._step_bound import entry_bound
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
            # G as the guard takes it: float32 squared norms, underflow and roundings covered
            norm = entry_bound(_kernels.SquaredNorms([(0, g.size)])(g)[0], g.dtype)
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
    # 2‖x‖ of θ = 0.999·1 and m = 0.05·1 over 8 entries: ≥ max |x|, within a factor 2√8
    assert bound.bounds == (pytest.approx(2 * 0.999 * 8 ** 0.5), pytest.approx(2 * 0.05 * 8 ** 0.5))
    assert not bound.next_step_safe(opt, 2.0, 1e36, theta.dtype)
    for _ in range(10_000):
        assert bound.next_step_safe(opt, 2.0, None, theta.dtype)
        opt.step(theta, g)
    bound.reset()                                                  # what the guard does after
    assert not bound.next_step_safe(opt, 2.0, None, theta.dtype)   # a step it did not foresee


# ------------------------------------------------------------ Adam on the BLAS's own threads

def _pool():
    _fused()
    from neuralab import _blaspool

    if _blaspool.pool() is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS whose pool neuralab can use")
    return _blaspool


def _state(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    theta, g, m = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    return [theta, g, m, np.abs(rng.standard_normal(n)).astype(dtype)]


def _constants(dtype, lr, t):
    f = np.dtype(dtype).type
    c_v, eps_c = _kernels._adam_constants(lr, 0.9, 0.999, 1e-8, t)
    return (f(0.9), f(1.0 - 0.9), f(0.999), f(1.0 - 0.999), f(c_v), f(eps_c))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [_kernels.SHARED_MIN, 1_000_003])
def test_adam_on_the_blas_threads_equals_one_thread_bit_for_bit(dtype, n):
    from threadpoolctl import threadpool_limits

    pool = _pool()
    shared, alone = _state(n, dtype), _state(n, dtype)
    with threadpool_limits(limits=2, user_api="blas"):
        assert pool.pool().threads() == 2
        for t in (1, 2, 3):
            k = _constants(dtype, 1e-3, t)
            assert pool.adam_update(*shared, *k, True) is True
            assert _kernels._fused_adam()(*alone, *k, True)
    for a, b in zip(shared, alone, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_shared_step_reports_a_non_finite_theta_from_any_share():
    from threadpoolctl import threadpool_limits

    pool = _pool()
    n = 2 * _kernels.SHARED_MIN
    for where in (0, n - 1):            # the first share's chunk, the last share's
        state = _state(n, np.float32)
        state[0][where] = np.inf
        with threadpool_limits(limits=2, user_api="blas"):
            assert pool.adam_update(*state, *_constants(np.float32, 1e-3, 1), True) is False


def test_the_shared_step_declines_a_one_thread_blas_and_is_not_asked_for_short_vectors(
        monkeypatch):
    from threadpoolctl import threadpool_limits

    pool = _pool()
    with threadpool_limits(limits=1, user_api="blas"):   # e.g. an MPI rank's share of cores
        state = _state(_kernels.SHARED_MIN, np.float32)
        assert pool.adam_update(*state, *_constants(np.float32, 1e-3, 1), True) is None
    asked = []
    monkeypatch.setattr(_kernels, "_shared_adam", lambda: lambda *a: asked.append(a[0].size))
    for n in (_kernels.SHARED_MIN - 1, _kernels.SHARED_MIN):
        _kernels.adam_update_fused(*_state(n, np.float32), 1e-3, 0.9, 0.999, 1e-8, 1)
    assert asked == [_kernels.SHARED_MIN]


def test_fit_takes_the_shared_step_and_gives_the_one_thread_result(monkeypatch):
    from threadpoolctl import threadpool_limits

    import neuralab as nl

    pool = _pool()
    calls = []
    real = pool.adam_update
    monkeypatch.setattr(pool, "adam_update", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 600)).astype(np.float32), rng.integers(0, 3, 64)
    thetas = []
    try:
        for shared in (True, False):   # the same BLAS threads: only Adam's pass differs
            _kernels._shared_adam.cache_clear()
            if not shared:
                monkeypatch.setattr(_kernels, "_shared_adam", lambda: lambda *a: None)
            model = nl.MLP([600, 500, 3], seed=0)          # 302 k parameters
            with threadpool_limits(limits=2, user_api="blas"):
                nl.fit(model, X, y, optimizer=nl.optim.Adam(1e-3), epochs=2, batch_size=32)
            thetas.append(model.params.copy())
    finally:
        monkeypatch.undo()
        _kernels._shared_adam.cache_clear()
    assert len(calls) == 4                                 # every step of the first run
    np.testing.assert_array_equal(thetas[0], thetas[1])


def test_neuralab_blas_pool_0_keeps_adam_on_one_thread(monkeypatch):
    _fused()
    from neuralab import _blaspool

    monkeypatch.setenv("NEURALAB_BLAS_POOL", "0")
    _blaspool.pool.cache_clear()
    try:
        assert _blaspool.pool() is None
    finally:
        _blaspool.pool.cache_clear()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squared_norms_are_the_same_on_any_number_of_blas_threads(dtype):
    from threadpoolctl import threadpool_limits

    _pool()
    rng = np.random.default_rng(3)
    bounds = [(0, 300_001), (300_001, 300_011), (300_011, 1_000_000)]
    g = rng.standard_normal(1_000_000).astype(dtype)
    norms = _kernels.SquaredNorms(bounds)
    assert norms.shared
    got = {}
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            got[threads] = norms(g)
    assert got[1] == got[2]
    exact = [float(np.sum(g[a:b].astype(np.float64) ** 2)) for a, b in bounds]
    np.testing.assert_allclose(got[2], exact, rtol=1e-5 if dtype == np.float32 else 1e-12)
    g[500_000] = np.nan
    assert np.isnan(norms(g)[2]) and np.isfinite(norms(g)[:2]).all()


def test_short_vectors_take_their_norms_by_blas_dot():
    rng = np.random.default_rng(4)
    g = rng.standard_normal(1000).astype(np.float32)
    norms = _kernels.SquaredNorms([(0, 400), (400, 1000)])
    assert not norms.shared
    assert norms(g) == [float(g[:400].dot(g[:400])), float(g[400:].dot(g[400:]))]


def test_a_process_started_with_one_blas_thread_trains_on_it_alone():
    # a BLAS started with one thread has no workers to hand shares to: neuralab must not try
    # (it would wait for them forever); an MPI rank or OPENBLAS_NUM_THREADS=1 is such a process
    import os
    import subprocess
    import sys

    _fused()
    code = ("import numpy as np, neuralab as nl\n"
            "X = np.random.default_rng(0).standard_normal((64, 600)).astype(np.float32)\n"
            "m = nl.MLP([600, 500, 3], seed=0)\n"
            "nl.fit(m, X, np.arange(64) % 3, optimizer=nl.optim.Adam(1e-3), epochs=2,"
            " batch_size=32)\n"
            "print(np.isfinite(m.params).all())\n")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "True"


def test_without_the_pool_module_adam_and_the_norms_stay_on_one_thread(monkeypatch):
    # numba may fail to build the pool's functions (e.g. nowhere to cache them): one thread
    import sys

    import neuralab

    _fused()
    monkeypatch.delattr(neuralab, "_blaspool", raising=False)
    monkeypatch.setitem(sys.modules, "neuralab._blaspool", None)
    for cached in (_kernels._pool_module, _kernels._shared_adam, _kernels._chunk_sums):
        cached.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="one thread"):
            assert _kernels._pool_module() is None
        state, alone = _state(_kernels.SHARED_MIN, np.float32), _state(_kernels.SHARED_MIN,
                                                                         np.float32)
        assert _kernels.adam_update_fused(*state, 1e-3, 0.9, 0.999, 1e-8, 1) is True
        _kernels._fused_adam()(*alone, *_constants(np.float32, 1e-3, 1), True)
        for a, b in zip(state, alone, strict=True):
            np.testing.assert_array_equal(a, b)
        g = state[1]
        norms = _kernels.SquaredNorms([(0, g.size)])
        assert norms(g) == [float(g.dot(g))]
    finally:
        for cached in (_kernels._pool_module, _kernels._shared_adam, _kernels._chunk_sums):
            cached.cache_clear()
