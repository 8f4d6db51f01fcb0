r"""The divergence guard of ``fit``: a NaN or inf in J, ∇θ or θ is caught at the step it appears.

Before each optimizer step the guard checks the loss J and the gradient; after it, the new θ.
Should the step make θ non-finite, θ goes back to its value before the step, so the model a
diverged run leaves behind is its last finite one. That needs a copy of θ before the step,
which costs a pass over memory per step; for Adam (the usual optimizer) the guard proves most
steps safe instead and skips the copy: the guard asks the optimizer for its
:meth:`~neuralab.optim.Optimizer.step_bound` (Adam's is :class:`AdamStepBound`), None by default.
The bounds are measured before the first step (a read of θ and of Adam's m, cheaper than the
copy) and carried from step to step; a step they cannot prove safe is copied, and the bounds
are measured afresh before the next one (not again while fresh ones keep failing).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _kernels
from ..optim._step_bound import (
    AdamStepBound,  # noqa: F401  (its home is the optimizer's)
    entry_bound,
)


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
        slices = [sl for layer, sl in zip(model.layers, model._slices, strict=True)
                  if layer.n_params]
        self.norms = _kernels.SquaredNorms([(sl.start, sl.stop) for sl in slices])
        # the layers' slices make up ∇θ: their norms cover it, no pass of its own
        self.covered = sum(sl.stop - sl.start for sl in slices) == grad.size
        self.backup = np.empty_like(model.params)
        # Adam's bounds are trusted only while no callback can change θ between steps
        self.params_kept = params_kept
        self.bound = optimizer.step_bound()      # None: copy θ before every step
        self.futile = False     # whether bounds measured just before a step failed to prove it
        self.sq: list[float] = []
        self.what: str | None = None

    def params_changed(self) -> None:
        """Something other than the guard's steps changed θ or m: drop Adam's bounds."""
        if self.bound is not None:
            self.bound.reset()
        self.futile = False

    def _measure_grad(self) -> None:
        self.sq = self.norms(self.model.grads)

    def _grad_not_finite(self) -> bool:
        """:func:`not_finite` of ∇θ from the layers' squared norms (their sum is ∇θ·∇θ)."""
        grad = self.model.grads
        if not self.covered:
            return not_finite(grad)
        return not math.isfinite(sum(self.sq)) and not np.isfinite(grad).all()

    def _needs_backup(self, lr) -> bool:
        """Whether θ must be copied before this step (not when Adam's bound proves it safe,
        from G ≥ max |∇θ| of the layers' squared norms: :func:`entry_bound`). Without bounds
        they are measured now, unless a measurement just before an earlier step could not prove
        that step safe and nothing has changed θ since (bounds that stay too loose are not
        measured again at every step)."""
        bound = self.bound
        if bound is None:
            return True
        if not self.params_kept:
            bound.reset()                # a callback may have changed θ since the last step
        fresh = bound.bounds is None and not self.futile
        if fresh:
            bound.measure(self.optimizer, self.model.params)
        dtype = self.model.params.dtype
        safe = bound.next_step_safe(self.optimizer, entry_bound(sum(self.sq), dtype), lr, dtype)
        if fresh:
            self.futile = not safe
        return not safe

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
        return True

    def message(self, J, step, epoch, batch, lr) -> str:
        """What diverged, where, and what to try."""
        found = {"loss": f"the loss is {J}", "gradient": "the gradient holds NaN or inf",
                 "parameters": "the update made a parameter NaN or inf"}[str(self.what)]
        return (f"training diverged at step {step} (epoch {epoch + 1}, batch {batch + 1}): "
                f"{found} at learning rate {lr:g}; the parameters are restored to their last "
                f"finite values (after step {step - 1}). Hint: lower the learning rate (e.g. "
                f"lr={lr / 10:g}), scale the inputs, or clip large targets.")
