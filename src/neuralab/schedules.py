r"""Learning-rate schedules: pure callables ``t ↦ α_t`` in closed form.

``fit`` evaluates a schedule at the start of each epoch with ``t`` = the epoch index (0-based),
or before each step with ``schedule_per="step"``.
"""

from __future__ import annotations

import math

from ._validation import check_float, check_int


class Schedule:
    """Base class: ``schedule(t)`` returns the learning rate at step/epoch ``t`` ≥ 0."""

    def __call__(self, t: int) -> float:
        t = check_int(t, "t", minimum=0)
        return float(self.value(t))

    def value(self, t: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(vars(self))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    r""":math:`\alpha_t = \alpha_0`; ``lr`` is α₀."""

    def __init__(self, lr: float):
        self.lr = check_float(lr, "lr", low=0.0, low_inclusive=False)

    def value(self, t):
        return self.lr


class StepDecay(Schedule):
    r"""Step decay, :math:`\alpha_t = \alpha_0 \gamma^{\lfloor t/k \rfloor}`.

    α₀ is ``lr0``, γ is ``gamma``, k is ``step_size``: the rate drops by γ every k epochs.
    PyTorch's twin: ``StepLR(step_size=k, gamma=γ)``.
    """

    def __init__(self, lr0: float, gamma: float = 0.1, step_size: int = 10):
        self.lr0 = check_float(lr0, "lr0", low=0.0, low_inclusive=False)
        self.gamma = check_float(gamma, "gamma", low=0.0, high=1.0, low_inclusive=False)
        self.step_size = check_int(step_size, "step_size", minimum=1)

    def value(self, t):
        return self.lr0 * self.gamma ** (t // self.step_size)


class ExponentialDecay(Schedule):
    r"""Exponential decay, :math:`\alpha_t = \alpha_0 e^{-kt}`.

    α₀ is ``lr0``, k is ``k`` ≥ 0. PyTorch's twin: ``ExponentialLR(gamma=e^{-k})``.
    """

    def __init__(self, lr0: float, k: float = 0.1):
        self.lr0 = check_float(lr0, "lr0", low=0.0, low_inclusive=False)
        self.k = check_float(k, "k", low=0.0)

    def value(self, t):
        return self.lr0 * math.exp(-self.k * t)


class CosineAnnealing(Schedule):
    r"""Cosine annealing,
    :math:`\eta_t = \eta_{min} + \tfrac12(\eta_{max} - \eta_{min})(1 + \cos(\pi t / T_{max}))`.

    η_max is ``lr_max``, η_min is ``lr_min``, T_max is ``t_max``; for t > T_max the rate stays at
    η_min. PyTorch's twin: ``CosineAnnealingLR(T_max, eta_min)`` (for t ≤ T_max).
    """

    def __init__(self, lr_max: float, t_max: int, lr_min: float = 0.0):
        self.lr_max = check_float(lr_max, "lr_max", low=0.0, low_inclusive=False)
        self.t_max = check_int(t_max, "t_max", minimum=1)
        self.lr_min = check_float(lr_min, "lr_min", low=0.0, high=self.lr_max)

    def value(self, t):
        t = min(t, self.t_max)
        return self.lr_min + 0.5 * (self.lr_max - self.lr_min) * (
            1 + math.cos(math.pi * t / self.t_max))


SCHEDULES = {"constant": Constant, "step": StepDecay, "step_decay": StepDecay,
             "exponential": ExponentialDecay, "exponential_decay": ExponentialDecay,
             "cosine": CosineAnnealing, "cosine_annealing": CosineAnnealing}
