"""fit's work around the step: the checks it makes once per call stay cheap and exact."""

import tracemalloc

import numpy as np
import pytest

from neuralab._validation import all_finite, check_array


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_finds_every_nan_and_inf(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 7)).astype(dtype)
    assert all_finite(X)
    for bad in (np.nan, np.inf, -np.inf):
        for pos in ((0, 0), (49, 6), (17, 3)):
            Y = X.copy()
            Y[pos] = bad
            assert not all_finite(Y)
            assert not all_finite(np.asfortranarray(Y))      # the elementwise path
            with pytest.raises(ValueError, match="1 NaN or infinite"):
                check_array(Y, dtype=dtype)
    # huge finite entries: Σ x² overflows, the entries are still finite
    Y = X.copy()
    Y[3, 3] = np.finfo(dtype).max
    assert all_finite(Y)
    assert check_array(Y, dtype=dtype) is not None
    assert all_finite(np.empty((0, 3), dtype))
    # signed zeros, subnormals, integers converted
    assert all_finite(np.array([[-0.0, np.finfo(dtype).smallest_subnormal]], dtype))
    assert check_array([[1, 2], [3, 4]], dtype=dtype).dtype == dtype


def test_check_array_makes_no_array_the_size_of_x():
    """The finiteness check reads X; it does not build a boolean array of X's size
    (np.isfinite(X) did: X.size bytes for every fit call)."""
    X = np.random.default_rng(0).standard_normal((2048, 256)).astype(np.float32)
    check_array(X, dtype=np.float32)
    tracemalloc.start()
    try:
        out = check_array(X, dtype=np.float32)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out is X
    assert peak < X.size // 4
