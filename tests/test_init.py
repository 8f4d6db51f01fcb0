import numpy as np
import pytest

import neuralab as nl
from neuralab import init

SHAPE = (400, 300)  # (fan_out, fan_in)


@pytest.mark.parametrize("name, std", [
    ("xavier_normal", np.sqrt(2 / 700)), ("xavier_uniform", np.sqrt(2 / 700)),
    ("he_normal", np.sqrt(2 / 300)), ("he_uniform", np.sqrt(2 / 300)),
    ("lecun_normal", np.sqrt(1 / 300)), ("normal", 0.01), ("uniform", 0.05 / np.sqrt(3)),
])
def test_initializer_has_the_documented_scale(name, std):
    W = init.get(name)(SHAPE, np.random.default_rng(0))
    assert W.shape == SHAPE
    assert abs(W.mean()) < 0.05 * std + 1e-4
    assert W.std() == pytest.approx(std, rel=0.02)


def test_zeros_and_parametrized_normal():
    assert not init.zeros(SHAPE).any()
    W = init.get({"name": "normal", "std": 0.5})(SHAPE, np.random.default_rng(0))
    assert W.std() == pytest.approx(0.5, rel=0.02)


def test_callable_and_seed_reproducibility():
    a = nl.Sequential([nl.Dense(5, 3, init="he_uniform")], seed=7).params.copy()
    b = nl.Sequential([nl.Dense(5, 3, init="he_uniform")], seed=7).params.copy()
    c = nl.Sequential([nl.Dense(5, 3, init="he_uniform")], seed=8).params.copy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    m = nl.Sequential([nl.Dense(2, 2, init=lambda shape, rng: np.full(shape, 3.0))])
    np.testing.assert_array_equal(m.layers[0].W, 3.0)


def test_unknown_initializer():
    with pytest.raises(ValueError, match="unknown init 'glorious'"):
        nl.Dense(3, 2, init="glorious")
