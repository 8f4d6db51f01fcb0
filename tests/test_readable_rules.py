"""The code a reader opens is the rule that runs: Adam's readable rule (m, v, m̂, v̂) against
its fused kernel, and the divergence guard asking the optimizer for a step bound."""

import ast

import numpy as np
import pytest

import neuralab as nl
from neuralab.optim._step_bound import AdamStepBound
from neuralab.training import _guard


@pytest.mark.parametrize("make", [lambda: nl.optim.Adam(lr=0.01),
                                  lambda: nl.optim.Adam(lr=0.01, weight_decay=0.1),
                                  lambda: nl.optim.AdamW(lr=0.01, weight_decay=0.1)])
def test_adam_kernel_equals_the_slides_rule_to_rounding(make):
    rng = np.random.default_rng(0)
    theta_fast = rng.normal(size=1000)
    theta_rule = theta_fast.copy()
    fast, rule = make(), make()
    for _ in range(30):
        g = rng.normal(size=1000)
        fast.step(theta_fast, g)
        rule.t += 1
        rule.rule(theta_rule, rule._decayed(theta_rule, g), rule.lr)
        assert np.allclose(theta_fast, theta_rule, rtol=1e-13, atol=1e-15)
    assert np.allclose(fast.m, rule.m, rtol=1e-13) and np.allclose(fast.v, rule.v, rtol=1e-13)


def test_the_guard_asks_the_optimizer_for_its_step_bound():
    model = nl.MLP([3, 4, 2], seed=0)

    class Plain(nl.optim.Adam):
        def _update(self, theta, grad, lr):          # a changed rule: no bound applies
            theta -= lr * grad

    assert isinstance(nl.optim.Adam().step_bound(), AdamStepBound)
    assert isinstance(nl.optim.AdamW().step_bound(), AdamStepBound)
    assert nl.optim.SGD().step_bound() is None and Plain().step_bound() is None
    for opt, kind in ((nl.optim.Adam(), AdamStepBound), (nl.optim.Momentum(), type(None)),
                      (Plain(), type(None))):
        assert isinstance(_guard.DivergenceGuard(model, opt, True).bound, kind)
    tree = ast.parse(open(_guard.__file__, encoding="utf-8").read())
    named = {getattr(n, "id", getattr(n, "attr", None)) for n in ast.walk(tree)}
    assert not named & {c.__name__ for c in nl.optim.OPTIMIZERS.values()}  # names none
