"""Gradient descent and its momentum forms: SGD (= GD), Momentum, Nesterov."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, check_beta, torch_alias


class SGD(Optimizer):
    r"""Gradient descent, the lecture's first rule.

    .. math::

        \theta_{t+1} = \theta_t - \alpha \nabla J(\theta_t)

    α is ``lr``. With ``fit(batch_size=None)`` this is full-batch gradient descent, with
    ``batch_size=1`` stochastic gradient descent, and mini-batch GD in between.
    ``weight_decay`` λ adds λθ to the gradient. PyTorch's twin: ``torch.optim.SGD(lr)``.

    Examples
    --------
    >>> import numpy as np, neuralab as nl
    >>> theta, grad = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    >>> nl.optim.SGD(lr=0.1).step(theta, grad); theta
    array([0.95, 2.1 ])
    """

    names = ("sgd", "gd")

    def _update(self, theta, grad, lr):
        step = self._scratch("step", grad)
        np.multiply(grad, lr, out=step)                  # α g
        theta -= step


GD = SGD


class Momentum(Optimizer):
    r"""Gradient descent with momentum (the slide's form, PyTorch's convention).

    .. math::

        v_{t+1} = \beta v_t + \nabla J(\theta_t), \qquad \theta_{t+1} = \theta_t - \alpha v_{t+1}

    α is ``lr``, β is ``beta`` (0 ≤ β < 1; ``momentum=`` is PyTorch's name for it), v is
    :attr:`velocity` (zeros before the first step). PyTorch's twin: ``SGD(lr, momentum=β)``.
    Sutskever et al. write v ← βv − αg, θ ← θ + v instead, which differs whenever α changes
    between steps.
    """

    names = ("momentum",)

    _state_names = ("velocity",)

    def __init__(self, lr: float = 0.01, beta: float = 0.9, weight_decay: float = 0.0, *,
                 momentum: float | None = None):
        super().__init__(lr, weight_decay)
        self.beta = check_beta(torch_alias(beta, 0.9, momentum, "beta", "momentum"), "beta")
        self.velocity = None

    def _velocity(self, theta, grad):
        """v ← βv + g, in place; returns v."""
        v = self._zeros("velocity", theta)
        v *= self.beta
        v += grad
        return v

    def _update(self, theta, grad, lr):
        v = self._velocity(theta, grad)
        step = self._scratch("step", theta)
        np.multiply(v, lr, out=step)                     # α v
        theta -= step


class Nesterov(Momentum):
    r"""Nesterov momentum, in PyTorch's form (the look-ahead folded into the gradient).

    .. math::

        v_{t+1} = \beta v_t + g_t, \qquad \theta_{t+1} = \theta_t - \alpha (g_t + \beta v_{t+1})

    g is ∇J(θ_t), α is ``lr``, β is ``beta`` (or ``momentum=``), v is :attr:`velocity`.
    PyTorch's twin: ``SGD(lr, momentum=β, nesterov=True)``.
    """

    names = ("nesterov",)

    def _update(self, theta, grad, lr):
        v = self._velocity(theta, grad)
        step = self._scratch("step", theta)
        np.multiply(v, self.beta, out=step)              # β v
        step += grad                                     # g + β v
        step *= lr
        theta -= step
