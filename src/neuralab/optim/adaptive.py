"""Per-parameter rates from the gradients' squares: AdaGrad and RMSProp."""

from __future__ import annotations

import numpy as np

from .._validation import check_float
from .optimizer import Optimizer, check_beta, torch_alias


def _scaled_step(theta, grad, acc, eps, lr, step) -> None:
    r"""θ ← θ − α g / (√acc + ε) in place, the last line of AdaGrad and RMSProp (``step`` is a
    work buffer shaped like θ)."""
    np.sqrt(acc, out=step)
    step += eps
    np.divide(grad, step, out=step)
    step *= lr
    theta -= step


class AdaGrad(Optimizer):
    r"""AdaGrad: a per-parameter rate shrinking with the sum of squared gradients.

    .. math::

        G_t = G_{t-1} + g_t \odot g_t, \qquad
        \theta_{t+1} = \theta_t - \frac{\alpha}{\sqrt{G_t} + \epsilon} \odot g_t

    α is ``lr``, ε is ``eps``, G is :attr:`G` (zeros before the first step).
    PyTorch's twin: ``Adagrad(lr, eps=ε)`` (same defaults lr = 0.01, ε = 1e-10, ε outside the
    root).
    """

    names = ("adagrad",)

    _state_names = ("G",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        self.G = None

    def _update(self, theta, grad, lr):
        G = self._zeros("G", theta)
        step = self._scratch("step", theta)
        np.multiply(grad, grad, out=step)                # g²
        G += step
        _scaled_step(theta, grad, G, self.eps, lr, step)

    def effective_lr(self, lr=None):
        lr = self.lr if lr is None else float(lr)
        return lr / (np.sqrt(self._state("G")) + self.eps)


class RMSProp(Optimizer):
    r"""RMSProp: AdaGrad with an exponentially decaying average of squared gradients.

    .. math::

        E[g^2]_t = \rho E[g^2]_{t-1} + (1 - \rho)\, g_t \odot g_t, \qquad
        \theta_{t+1} = \theta_t - \frac{\alpha}{\sqrt{E[g^2]_t} + \epsilon} \odot g_t

    α is ``lr``, ρ is ``rho`` (0 ≤ ρ < 1; ``alpha=`` is PyTorch's name for it), ε is ``eps``,
    E[g²] is :attr:`square_avg`. PyTorch's twin: ``RMSprop(lr, alpha=ρ, eps=ε)``; note
    PyTorch's default is 0.99 where the lecture (and this class) uses ρ = 0.9.
    """

    names = ("rmsprop",)

    _state_names = ("square_avg",)

    def __init__(self, lr: float = 0.01, rho: float = 0.9, eps: float = 1e-8,
                 weight_decay: float = 0.0, *, alpha: float | None = None):
        super().__init__(lr, weight_decay)
        self.rho = check_beta(torch_alias(rho, 0.9, alpha, "rho", "alpha"), "rho")
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        self.square_avg = None

    def _update(self, theta, grad, lr):
        E = self._zeros("square_avg", theta)
        step = self._scratch("step", theta)
        np.multiply(grad, grad, out=step)
        step *= 1.0 - self.rho                           # (1 − ρ) g²
        E *= self.rho
        E += step
        _scaled_step(theta, grad, E, self.eps, lr, step)

    def effective_lr(self, lr=None):
        lr = self.lr if lr is None else float(lr)
        return lr / (np.sqrt(self._state("square_avg")) + self.eps)
