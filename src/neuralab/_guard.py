r"""The divergence guard of ``fit``: a NaN or inf in J, ∇θ or θ is caught at the step it appears.

Before each optimizer step the guard checks the loss J and the gradient; after it, the new θ.
Should the step make θ non-finite, θ goes back to its value before the step, so the model a
diverged run leaves behind is its last finite one. That needs a copy of θ before the step,
which costs a pass over memory per step; for Adam (the usual optimizer) the guard proves most
steps safe instead and skips the copy (:class:`AdamStepBound`).
"""

from __future__ import annotations

import math

import numpy as np

from .optim import Adam, AdamW, Optimizer

#: Relative slack per step of Adam's bounds: more than a step's roundings in float32 can add.
_ROUNDING = 1.0 + 2.0 ** -20


class DivergenceError(FloatingPointError):
    """Training produced a NaN or infinite loss, gradient or parameter vector.

    Raised by ``fit(on_divergence="raise")`` after θ is restored to its last finite value.
    ``step``, ``epoch``, ``lr``, ``what`` ("loss", "gradient" or "parameters") and ``history``
    (the epochs completed before) say where it happened.
    """

    def __init__(self, message, *, step=None, epoch=None, lr=None, what=None, history=None):
        super().__init__(message)
        self.step, self.epoch, self.lr, self.what, self.history = step, epoch, lr, what, history


def not_finite(v) -> bool:
    """True if ``v`` holds a NaN or inf: one dot product v·v (NaN/inf propagate), confirmed
    elementwise only when it is not finite (it also overflows for huge finite entries)."""
    return not math.isfinite(v.dot(v)) and not np.isfinite(v).all()


def _adam_kernel(optimizer) -> bool:
    """True for Adam/AdamW with their own ``step`` and ``_update``: the fused kernel makes the
    step's last write (and reports whether θ is finite), and the step bound applies."""
    return type(optimizer).step is Optimizer.step and \
        type(optimizer)._update in (Adam._update, AdamW._update)


class AdamStepBound:
    r"""Upper bounds Θ ≥ max |θ| and M ≥ max |m| of an Adam run, carried from step to step.

    With G ≥ max |g| of the coming gradient, each new m is a convex combination of the old m
    and g, so M' = max(M, G); Adam's denominator √v·c_v + ε c_m is at least ε c_m, so no entry
    of θ moves by more than M'/(ε c_m) and Θ' = Θ + M'/(ε c_m), with c_m = (1 − β₁ᵗ)/α (see
    :func:`neuralab._kernels.adam_update`). Weight decay adds λΘ to G (Adam's L2 form) or
    scales Θ by |1 − αλ| first (AdamW). Each bound is raised by 2⁻²⁰ relative per step. While
    Θ' stays below a sixteenth of the dtype's largest value the step cannot overflow θ, and
    the guard need not copy θ before it. The bounds start from a measurement
    (:meth:`measure`, two passes) and hold only while nothing else changes θ or m.
    """

    def __init__(self):
        self.bounds = None

    def reset(self) -> None:
        self.bounds = None

    def measure(self, optimizer, theta) -> None:
        """Θ = max |θ|, M = max |m| now."""
        m = optimizer.m
        self.bounds = (max(float(theta.max()), -float(theta.min())),
                       max(float(m.max()), -float(m.min())))

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


class DivergenceGuard:
    """Takes the optimizer's steps for ``fit``, each only when J, ∇θ and the new θ are finite.

    ``step(J, lr, closure)`` returns True when the step was taken; otherwise θ is as it was
    before and :attr:`what` says what was not finite ("loss", "gradient" or "parameters").
    :attr:`sq` holds each parameter layer's squared gradient norm ‖∇θ_l‖² of the step (the
    checks read them; so do ``fit``'s gradient-norm logs).
    """

    def __init__(self, model, optimizer, params_kept: bool):
        self.model, self.optimizer = model, optimizer
        grad = model.grads
        self.layer_grads = [grad[sl] for layer, sl in zip(model.layers, model._slices,
                                                          strict=True) if layer.n_params]
        # the layers' slices make up ∇θ: their norms cover it, no pass of its own
        self.covered = sum(g.size for g in self.layer_grads) == grad.size
        self.backup = np.empty_like(model.params)
        # Adam's bounds are trusted only while no callback can change θ between steps
        self.params_kept = params_kept
        self.bound = AdamStepBound() if _adam_kernel(optimizer) else None
        self.last_saved = False          # whether the previous step had to copy θ
        self.sq, self.what = [], None

    def params_changed(self) -> None:
        """Something other than the guard's steps changed θ or m: drop Adam's bounds."""
        if self.bound is not None:
            self.bound.reset()
        self.last_saved = False

    def _measure_grad(self) -> None:
        self.sq = [float(g.dot(g)) for g in self.layer_grads]

    def _grad_not_finite(self) -> bool:
        """:func:`not_finite` of ∇θ from the layers' squared norms (their sum is ∇θ·∇θ)."""
        grad = self.model.grads
        if not self.covered:
            return not_finite(grad)
        return not math.isfinite(sum(self.sq)) and not np.isfinite(grad).all()

    def _needs_backup(self, lr) -> bool:
        """Whether θ must be copied before this step (not when Adam's bound proves it safe:
        2‖∇θ‖ = 2√Σ sq ≥ max |∇θ|, the 2 for the roundings of a float32 sum)."""
        if self.bound is None:
            return True
        if not self.params_kept:
            self.bound.reset()
        return not self.bound.next_step_safe(self.optimizer, 2.0 * math.sqrt(sum(self.sq)), lr,
                                             self.model.params.dtype)

    def step(self, J: float, lr, closure=None) -> bool:
        """θ ← the optimizer's step from ∇θ at rate ``lr``, if J, ∇θ and the result are finite."""
        theta, optimizer = self.model.params, self.optimizer
        self._measure_grad()
        self.what = "loss" if not math.isfinite(J) else \
            "gradient" if self._grad_not_finite() else None
        if self.what is not None:
            return False
        saved = self._needs_backup(lr)
        if saved:
            np.copyto(self.backup, theta)
            if self.bound is not None:
                self.bound.reset()       # a step the bounds did not foresee
        if closure is not None:
            finite = optimizer.step(theta, self.model.grads, lr, closure=closure)
            self._measure_grad()         # as the closure left ∇θ
        else:
            finite = optimizer.step(theta, self.model.grads, lr)
        if not isinstance(finite, bool):            # the step did not check θ itself
            finite = not not_finite(theta)
        if not finite:
            if not saved:                # the bound says this cannot happen
                raise AssertionError("Adam's step bound failed; please report it")
            theta[...] = self.backup
            self.what = "parameters"
            return False
        if saved and not self.last_saved and self.params_kept and self.bound is not None:
            self.bound.measure(optimizer, theta)     # bounds for the next steps
        self.last_saved = saved
        return True

    def message(self, J, step, epoch, batch, lr) -> str:
        """What diverged, where, and what to try."""
        found = {"loss": f"the loss is {J}", "gradient": "the gradient holds NaN or inf",
                 "parameters": "the update made a parameter NaN or inf"}[self.what]
        return (f"training diverged at step {step} (epoch {epoch + 1}, batch {batch + 1}): "
                f"{found} at learning rate {lr:g}; the parameters are restored to their last "
                f"finite values (after step {step - 1}). Hint: lower the learning rate (e.g. "
                f"lr={lr / 10:g}), scale the inputs, or clip large targets.")
