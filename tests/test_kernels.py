"""neuralab._kernels: the chunked Adam step against the whole-vector formula."""

import numpy as np
import pytest

from neuralab import _kernels


def _adam_whole(theta, g, m, v, lr, b1, b2, eps, t):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


@pytest.mark.parametrize("chunk", [7, 64, 1000, 5000])
def test_chunked_adam_matches_the_formula_for_any_chunk_size(chunk):
    rng = np.random.default_rng(0)
    n = 1000  # chunk 7 and 64 leave a partial last chunk
    theta, m, v = rng.normal(size=n), rng.normal(size=n) * 0.1, rng.random(n) * 0.01
    ref = (theta.copy(), m.copy(), v.copy())
    for t in (1, 2, 3):
        g = rng.normal(size=n)
        g_before = g.copy()
        _kernels.adam_update(theta, g, m, v, 0.01, 0.9, 0.999, 1e-8, t, np.empty(chunk))
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
            _kernels.adam_update(theta, g, m, v, 1e-3, 0.9, 0.999, 1e-8, t,
                                 np.empty(chunk, np.float32))
        out.append(theta)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])


def test_zero_rate_moves_the_moments_not_theta():
    theta, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    m, v = np.zeros(2), np.zeros(2)
    _kernels.adam_update(theta, g, m, v, 0.0, 0.9, 0.999, 1e-8, 1, np.empty(2))
    np.testing.assert_array_equal(theta, [1.0, -2.0])
    np.testing.assert_allclose(m, 0.1 * g)
    np.testing.assert_allclose(v, 0.001 * g * g)


def test_scratch_buffer_sizes():
    assert _kernels.scratch_buffer(np.float32, 10).size == 10
    assert _kernels.scratch_buffer(np.float32, 2 * _kernels.CHUNK).size == 2 * _kernels.CHUNK
    big = _kernels.scratch_buffer(np.float64, 10 * _kernels.CHUNK)
    assert big.size == _kernels.CHUNK and big.dtype == np.float64
