"""Learning-rate schedules: closed forms by hand, PyTorch's schedulers, bad arguments."""

import math
import warnings

import numpy as np
import pytest

import neuralab as nl

S = nl.schedules


def test_closed_forms_by_hand():
    assert [S.StepDecay(0.8, gamma=0.5, step_size=3)(t) for t in (0, 2, 3, 5, 6, 9)] == \
        [0.8, 0.8, 0.4, 0.4, 0.2, 0.1]
    assert S.ExponentialDecay(2.0, k=0.5)(4) == pytest.approx(2.0 * math.exp(-2.0), rel=1e-15)
    cos = S.CosineAnnealing(1.0, t_max=4, lr_min=0.2)
    assert [cos(t) for t in (0, 2, 4, 7)] == pytest.approx([1.0, 0.6, 0.2, 0.2], rel=1e-15)
    assert S.Constant(0.3)(100) == 0.3


def test_linear_warmup_formula():
    s = S.LinearWarmup(S.StepDecay(1.0, gamma=0.5, step_size=2), steps=3, start_factor=0.25)
    # ramp 0.25 → 1 over 3 steps, then the wrapped schedule from its t = 0
    expected = [0.25, 0.5, 0.75, 1.0, 1.0, 0.5, 0.5, 0.25]
    assert [s(t) for t in range(8)] == pytest.approx(expected, rel=1e-15)
    default = S.LinearWarmup(0.4, steps=4)        # a number is a constant; f0 = 1/(steps + 1)
    assert [default(t) for t in range(6)] == pytest.approx([0.08, 0.16, 0.24, 0.32, 0.4, 0.4])


def test_warm_restarts_cycle_lengths():
    s = S.CosineWarmRestarts(1.0, t_0=2, t_mult=3, lr_min=0.0)
    restarts = [t for t in range(1, 40) if s(t) == 1.0]
    assert restarts == [2, 8, 26]                  # cycles of 2, 6, 18 epochs
    assert s(5) == pytest.approx(0.5 * (1 + math.cos(math.pi * 3 / 6)))
    flat = S.CosineWarmRestarts(1.0, t_0=4)
    assert [flat(t) for t in range(9)] == pytest.approx([flat(t % 4) for t in range(9)])


def _torch_lrs(make, n, lr0):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=lr0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sched = make(opt, torch.optim.lr_scheduler)
        out = []
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return np.array(out)


CASES = {
    "step": (S.StepDecay(0.1, 0.5, 3), lambda o, L: L.StepLR(o, 3, 0.5)),
    "exponential": (S.ExponentialDecay(0.1, 0.2), lambda o, L: L.ExponentialLR(o, math.exp(-0.2))),
    "cosine": (S.CosineAnnealing(0.1, 25, 0.01), lambda o, L: L.CosineAnnealingLR(o, 25, 0.01)),
    "restarts": (S.CosineWarmRestarts(0.1, 3, 2, 0.01),
                 lambda o, L: L.CosineAnnealingWarmRestarts(o, 3, 2, 0.01)),
    "restarts_flat": (S.CosineWarmRestarts(0.1, 4),
                      lambda o, L: L.CosineAnnealingWarmRestarts(o, 4)),
    "warmup_cosine": (S.LinearWarmup(S.CosineAnnealing(0.1, 22, 0.01), 3),
                      lambda o, L: L.SequentialLR(o, [L.LinearLR(o, 1 / 4, 1.0, 3),
                                                      L.CosineAnnealingLR(o, 22, 0.01)], [3])),
    "warmup_step": (S.LinearWarmup(S.StepDecay(0.1, 0.5, 2), 4, start_factor=0.1),
                    lambda o, L: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 4),
                                                    L.StepLR(o, 2, 0.5)], [4])),
    "warmup_restarts": (S.LinearWarmup(S.CosineWarmRestarts(0.1, 3, 2), 2),
                        lambda o, L: L.SequentialLR(
                            o, [L.LinearLR(o, 1 / 3, 1.0, 2),
                                L.CosineAnnealingWarmRestarts(o, 3, 2)], [2])),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch_scheduler(name):
    sched, make = CASES[name]
    ref = _torch_lrs(make, 25, 0.1)
    ours = np.array([sched(t) for t in range(25)])
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


@pytest.mark.parametrize("make, arg", [
    (lambda: S.CosineAnnealing(0.1, t_max=0), "t_max"),
    (lambda: S.CosineAnnealing(0.1, t_max=-3), "t_max"),
    (lambda: S.CosineAnnealing(0.1, t_max=10, lr_min=0.5), "lr_min"),
    (lambda: S.StepDecay(0.1, step_size=0), "step_size"),
    (lambda: S.StepDecay(0.1, gamma=1.5), "gamma"),
    (lambda: S.StepDecay(-0.1), "lr0"),
    (lambda: S.ExponentialDecay(0.1, k=-1.0), "k"),
    (lambda: S.Constant(0.0), "lr"),
    (lambda: S.LinearWarmup(0.1, steps=0), "steps"),
    (lambda: S.LinearWarmup(0.1, steps=3, start_factor=0.0), "start_factor"),
    (lambda: S.CosineWarmRestarts(0.1, t_0=0), "t_0"),
    (lambda: S.CosineWarmRestarts(0.1, t_0=2, t_mult=0), "t_mult"),
    (lambda: S.CosineWarmRestarts(0.1, t_0=2, t_mult=1.5), "t_mult"),
    (lambda: S.get("cosine_anneal", lr_max=0.1, t_max=3), "cosine"),
])
def test_bad_arguments_name_the_argument(make, arg):
    with pytest.raises((ValueError, TypeError), match=arg):
        make()


def test_bad_inputs_to_call_and_wrapping():
    with pytest.raises(ValueError, match="t must be >= 0"):
        S.Constant(0.1)(-1)
    with pytest.raises(TypeError, match="schedule"):
        S.LinearWarmup("fast", steps=3)


def test_get_by_name_and_callables_pass_through():
    s = S.get("warmup", schedule=S.Constant(0.2), steps=2)
    assert isinstance(s, S.LinearWarmup) and s(5) == 0.2
    fn = lambda t: 0.1  # noqa: E731
    assert S.get(fn) is fn


def test_fit_uses_warmup_per_step():
    X = np.random.default_rng(0).normal(size=(12, 2))
    y = X @ np.array([1.0, -1.0])
    model = nl.Sequential([nl.Dense(2, 1), nl.Identity()], seed=0, dtype="float64")
    seen = []

    class Spy(nl.Callback):
        def on_batch_end(self, step, logs=None):
            seen.append(logs["lr"])

    sched = S.LinearWarmup(S.CosineAnnealing(0.1, t_max=10), steps=3)
    nl.fit(model, X, y, loss="mse", optimizer=nl.optim.SGD(0.1), schedule=sched,
           schedule_per="step", epochs=2, batch_size=4, shuffle=False, callbacks=[Spy()])
    assert seen == [sched(t) for t in range(6)]


def test_cosine_after_t_max_holds_or_follows_torch():
    """Past t_max torch's CosineAnnealingLR rises again; after="cosine" follows it exactly,
    the default after="hold" stays at lr_min (the two agree up to t_max)."""
    t_max, n = 6, 3 * 6 + 2
    ref = _torch_lrs(lambda o, L: L.CosineAnnealingLR(o, t_max, 0.01), n, 0.1)
    follow = S.CosineAnnealing(0.1, t_max, 0.01, after="cosine")
    hold = S.CosineAnnealing(0.1, t_max, 0.01)
    closed = [0.01 + 0.5 * 0.09 * (1 + math.cos(math.pi * t / t_max)) for t in range(n)]
    np.testing.assert_allclose([follow(t) for t in range(n)], ref, rtol=1e-12)
    np.testing.assert_allclose([follow(t) for t in range(n)], closed, rtol=1e-15)
    assert follow(2 * t_max) == pytest.approx(0.1, rel=1e-15)      # back at lr_max
    assert [hold(t) for t in range(t_max + 1)] == [follow(t) for t in range(t_max + 1)]
    assert [hold(t) for t in range(t_max, n)] == [0.01] * (n - t_max)
    assert hold.get_config()["after"] == "hold"
    with pytest.raises(ValueError, match=r"after must be one of 'hold', 'cosine'; got 'restart'"):
        S.CosineAnnealing(0.1, t_max, after="restart")
