"""Adam's step bound: what lets the divergence guard skip its copy of θ before a step.

An optimizer offers one through :meth:`~neuralab.optim.Optimizer.step_bound` (None by
default); the guard (``neuralab._guard``) only asks for it.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _kernels

#: Relative slack per step of Adam's bounds: more than a step's roundings in float32 can add.
_ROUNDING = 1.0 + 2.0 ** -20


def entry_bound(sum_of_squares: float, dtype) -> float:
    r"""An upper bound on :math:`\max_i |x_i|` from :math:`S = \sum_i x_i^2` as neuralab's
    kernels compute it (squares and chunk sums in x's precision, ``dtype``).

    .. math::

        \max_i |x_i| \le \max\left(2\sqrt{S},\ \sqrt{\mathrm{tiny}}\right)

    A square at least the dtype's smallest normal number (tiny) is computed to within a
    rounding, and a sum of many loses far less than three quarters of it: 2√S covers the
    largest such entry. Smaller squares may underflow to 0 (entries below 1.1e-19 in float32),
    so the bound never goes below √tiny. A NaN or an overflow to inf gives a bound that proves
    nothing.
    """
    return max(2.0 * math.sqrt(sum_of_squares), math.sqrt(float(np.finfo(dtype).tiny)))


class AdamStepBound:
    r"""Upper bounds Θ ≥ max |θ| and M ≥ max |m| of an Adam run, carried from step to step.

    With G ≥ max |g| of the coming gradient, each new m is a convex combination of the old m
    and g, so M' = max(M, G); Adam's denominator √v·c_v + ε c_m is at least ε c_m, so no entry
    of θ moves by more than M'/(ε c_m) and Θ' = Θ + M'/(ε c_m), with c_m = (1 − β₁ᵗ)/α (see
    :func:`neuralab._kernels.adam_update`). Weight decay adds λΘ to G (Adam's L2 form) or
    scales Θ by |1 − αλ| first (AdamW). Each bound is raised by 2⁻²⁰ relative per step. While
    Θ' stays below a sixteenth of the dtype's largest value the step cannot overflow θ, and
    the guard need not copy θ before it. The bounds start from a measurement
    (:meth:`measure`: one read of θ and one of m, taken before a step) and hold only while
    nothing else changes θ or m.
    """

    def __init__(self):
        self.bounds = None
        self._norms = None

    def reset(self) -> None:
        self.bounds = None

    def measure(self, optimizer, theta) -> None:
        r"""Θ = 2‖θ‖₂ ≥ max |θ| and M = 2‖m‖₂ ≥ max |m| now (M = 0 before Adam's first step).

        A norm bounds every entry, :math:`\max_i |x_i| \le \lVert x \rVert_2`
        (:func:`entry_bound`, as for the gradient's G). The squared norms
        are the guard's own kernel (:class:`neuralab._kernels.SquaredNorms`, on the BLAS's
        threads for long vectors): a pass that reads θ and m, no copy. A NaN or an overflowing
        sum makes the bound non-finite, and no step is then proven safe.
        """
        if self._norms is None or self._norms.bounds != [(0, theta.size)]:
            self._norms = _kernels.SquaredNorms([(0, theta.size)])
        m = optimizer.m
        self.bounds = (entry_bound(self._norms(theta)[0], theta.dtype),
                       0.0 if m is None else entry_bound(self._norms(m)[0], m.dtype))

    def next_step_safe(self, optimizer, grad_norm: float, lr, dtype) -> bool:
        """Whether the next step provably leaves θ finite (the bounds then move to Θ', M').

        ``grad_norm`` must be ≥ max |g|; the guard passes 2‖g‖ (a float32 sum of squares may
        come out a little low). False without bounds, or when they grew too large.
        """
        lr = optimizer.lr if lr is None else lr
        if self.bounds is None or not lr > 0.0:
            return False
        theta_max, m_max = self.bounds
        decay = optimizer.weight_decay
        if decay and optimizer.decoupled_decay:          # AdamW: θ(1 − αλ) first
            theta_max *= max(1.0, abs(1.0 - lr * decay))
        elif decay:                                      # L2: g + λθ enters the moments
            grad_norm += decay * theta_max
        m_max = max(m_max, grad_norm) * _ROUNDING
        c_m = (1.0 - optimizer.beta1 ** (optimizer.t + 1)) / lr
        theta_max = (theta_max + m_max / (optimizer.eps * c_m)) * _ROUNDING
        if not theta_max < float(np.finfo(dtype).max) / 16:
            return False
        self.bounds = (theta_max, m_max)
        return True
