r"""Learning-rate schedules: pure callables ``t ↦ α_t`` in closed form.

``fit`` evaluates a schedule at the start of each epoch with ``t`` = the epoch index (0-based),
or before each step with ``schedule_per="step"``.
"""

from __future__ import annotations

import math

from .._validation import check_choice, check_float, check_int, lookup

#: Every schedule by name (filled by :meth:`Schedule.__init_subclass__` from ``names``).
SCHEDULES: dict[str, type[Schedule]] = {}


class Schedule:
    """Base class: ``schedule(t)`` returns the learning rate at step/epoch ``t`` ≥ 0.

    A subclass lists the names :func:`get` knows it by in ``names``; it registers itself.
    """

    names: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("names", ()):
            SCHEDULES[name] = cls

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

    names = ("constant",)

    def __init__(self, lr: float):
        self.lr = check_float(lr, "lr", low=0.0, low_inclusive=False)

    def value(self, t):
        return self.lr


class StepDecay(Schedule):
    r"""Step decay, :math:`\alpha_t = \alpha_0 \gamma^{\lfloor t/k \rfloor}`.

    α₀ is ``lr0``, γ is ``gamma``, k is ``step_size``: the rate drops by γ every k epochs.
    PyTorch's twin: ``StepLR(step_size=k, gamma=γ)``.
    """

    names = ("step", "step_decay")

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

    names = ("exponential", "exponential_decay")

    def __init__(self, lr0: float, k: float = 0.1):
        self.lr0 = check_float(lr0, "lr0", low=0.0, low_inclusive=False)
        self.k = check_float(k, "k", low=0.0)

    def value(self, t):
        return self.lr0 * math.exp(-self.k * t)


class CosineAnnealing(Schedule):
    r"""Cosine annealing,
    :math:`\eta_t = \eta_{min} + \tfrac12(\eta_{max} - \eta_{min})(1 + \cos(\pi t / T_{max}))`.

    η_max is ``lr_max``, η_min is ``lr_min``, T_max is ``t_max``. For t ≤ T_max this is
    PyTorch's ``CosineAnnealingLR(T_max, eta_min)``. After T_max the two differ, and ``after``
    chooses:

    * ``"hold"`` (default): the rate stays at η_min, :math:`\eta_t = \eta_{min}` for t > T_max
      (the lecture's schedule: the run is over at T_max);
    * ``"cosine"``: the formula goes on, so the rate rises back to η_max at 2·T_max and keeps
      oscillating with period 2·T_max: PyTorch's ``CosineAnnealingLR`` for every t (its
      closed form, which its recursive steps follow to rounding).

    Examples
    --------
    >>> import neuralab as nl
    >>> s = nl.schedules.CosineAnnealing(1.0, t_max=4)
    >>> [round(s(t), 3) for t in (0, 2, 4, 6)]
    [1.0, 0.5, 0.0, 0.0]
    >>> s = nl.schedules.CosineAnnealing(1.0, t_max=4, after="cosine")
    >>> [round(s(t), 3) for t in (0, 2, 4, 6, 8)]
    [1.0, 0.5, 0.0, 0.5, 1.0]
    """

    names = ("cosine", "cosine_annealing")

    def __init__(self, lr_max: float, t_max: int, lr_min: float = 0.0, after: str = "hold"):
        self.lr_max = check_float(lr_max, "lr_max", low=0.0, low_inclusive=False)
        self.t_max = check_int(t_max, "t_max", minimum=1)
        self.lr_min = check_float(lr_min, "lr_min", low=0.0, high=self.lr_max)
        self.after = check_choice(after, "after", ("hold", "cosine"))

    def value(self, t):
        if self.after == "hold":
            t = min(t, self.t_max)
        return self.lr_min + 0.5 * (self.lr_max - self.lr_min) * (
            1 + math.cos(math.pi * t / self.t_max))


class LinearWarmup(Schedule):
    r"""A linear ramp up to a wrapped schedule, which then runs from its own start.

    .. math::

        \alpha_t = \begin{cases}
            s(0)\,\big(f_0 + (1 - f_0)\, t / T_w\big) & t < T_w \\
            s(t - T_w) & t \ge T_w
        \end{cases}

    s is ``schedule`` (a Schedule, any callable t ↦ α, or a number for a constant), T_w is
    ``steps`` and f₀ is ``start_factor`` (default 1/(T_w + 1), so the ramp is
    s(0)·(t + 1)/(T_w + 1): never zero, and s(0) is reached at t = T_w).
    PyTorch's twin: ``SequentialLR(opt, [LinearLR(opt, start_factor=f₀, end_factor=1,
    total_iters=T_w), twin_of_s], milestones=[T_w])``.

    Examples
    --------
    >>> import neuralab as nl
    >>> s = nl.schedules.LinearWarmup(nl.schedules.CosineAnnealing(0.1, t_max=10), steps=4)
    >>> [round(s(t), 4) for t in range(6)]
    [0.02, 0.04, 0.06, 0.08, 0.1, 0.0976]
    """

    names = ("warmup", "linear_warmup")

    def __init__(self, schedule, steps: int, start_factor: float | None = None):
        if isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
            schedule = Constant(schedule)
        if not callable(schedule):
            raise TypeError(f"schedule must be a Schedule, a callable t -> lr or a number, "
                            f"got {schedule!r}")
        self.schedule = schedule
        self.steps = check_int(steps, "steps", minimum=1)
        if start_factor is None:
            start_factor = 1.0 / (self.steps + 1)
        self.start_factor = check_float(start_factor, "start_factor", low=0.0, high=1.0,
                                        low_inclusive=False)

    def value(self, t):
        if t >= self.steps:
            return self.schedule(t - self.steps)
        f0 = self.start_factor
        return self.schedule(0) * (f0 + (1.0 - f0) * t / self.steps)


class CosineWarmRestarts(Schedule):
    r"""Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter).

    .. math::

        \eta_t = \eta_{min} + \tfrac12(\eta_{max} - \eta_{min})
        \big(1 + \cos(\pi\, T_{cur} / T_i)\big)

    The i-th cycle lasts :math:`T_i = T_0\, T_{mult}^i` epochs and T_cur counts the epochs since
    the last restart; at each restart the rate jumps back to η_max. η_max is ``lr_max``, η_min
    ``lr_min``, T₀ ``t_0``, T_mult ``t_mult`` (an integer ≥ 1). PyTorch's twin:
    ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)``.

    Examples
    --------
    >>> import neuralab as nl
    >>> s = nl.schedules.CosineWarmRestarts(1.0, t_0=2, t_mult=2)
    >>> [round(s(t), 3) for t in range(7)]
    [1.0, 0.5, 1.0, 0.854, 0.5, 0.146, 1.0]
    """

    names = ("cosine_warm_restarts", "sgdr")

    def __init__(self, lr_max: float, t_0: int, t_mult: int = 1, lr_min: float = 0.0):
        self.lr_max = check_float(lr_max, "lr_max", low=0.0, low_inclusive=False)
        self.t_0 = check_int(t_0, "t_0", minimum=1)
        self.t_mult = check_int(t_mult, "t_mult", minimum=1)
        self.lr_min = check_float(lr_min, "lr_min", low=0.0, high=self.lr_max)

    def value(self, t):
        t_cur, t_i = t, self.t_0
        if self.t_mult == 1:
            t_cur = t % t_i
        else:
            while t_cur >= t_i:  # O(log t) cycles, exact in integers
                t_cur -= t_i
                t_i *= self.t_mult
        return self.lr_min + 0.5 * (self.lr_max - self.lr_min) * (
            1 + math.cos(math.pi * t_cur / t_i))


def get(spec, **kwargs) -> Schedule:
    """A schedule from a name ("step", "cosine", "warmup", ...) and keyword arguments.

    A callable (a :class:`Schedule` instance or any function t ↦ α) is returned as is.
    """
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"schedule must be a name or a callable t -> lr, got {spec!r}")
    return lookup(spec, SCHEDULES, "schedule")(**kwargs)
