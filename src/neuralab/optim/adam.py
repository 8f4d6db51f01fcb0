"""Adam and AdamW: momentum on the gradient and RMSProp on its square, bias-corrected."""

from __future__ import annotations

import numpy as np

from .. import _kernels
from .._validation import check_float
from ._step_bound import AdamStepBound
from .optimizer import Optimizer, check_beta


class Adam(Optimizer):
    r"""Adam: momentum on the gradient and RMSProp on its square, both bias-corrected.

    .. math::

        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t},
        \qquad \theta_{t+1} = \theta_t - \alpha \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    α is ``lr``, β₁ ``beta1``, β₂ ``beta2`` (``betas=(β₁, β₂)`` is PyTorch's form), ε ``eps``;
    m and v are :attr:`m` and :attr:`v`, t is the step count :attr:`t`. PyTorch's twin:
    ``Adam(lr, betas=(β₁, β₂), eps=ε)``.

    Notes
    -----
    ε sits outside √v̂, as in PyTorch and optax. Keras and scikit-learn add ε̂ = ε√(1 − β₂ᵗ)
    to √v instead, which changes results beyond 1e-9. The step runs in one pass over memory
    (:func:`neuralab._kernels.adam_update`: a compiled loop with numba, else NumPy in
    cache-sized chunks; the same bits either way).
    """

    names = ("adam",)

    _state_names = ("m", "v")
    #: False: ``weight_decay`` adds λθ to g, which enters the moments (AdamW: θ shrinks first)
    decoupled_decay = False

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, *, betas=None):
        super().__init__(lr, weight_decay)
        if betas is not None:
            if (beta1, beta2) != (0.9, 0.999):
                raise TypeError("pass beta1 and beta2 or betas (PyTorch's form), not both")
            if not isinstance(betas, (tuple, list)) or len(betas) != 2:
                raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
            beta1, beta2 = betas
        self.beta1 = check_beta(beta1, "beta1")
        self.beta2 = check_beta(beta2, "beta2")
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        self.m = self.v = None

    def rule(self, theta, grad, lr):
        """The slide's rule as written, in place (the reference :meth:`_update` is tested
        against: equal to rounding)."""
        b1, b2, t = self.beta1, self.beta2, self.t
        m, v = self._zeros("m", theta), self._zeros("v", theta)
        m[...] = b1 * m + (1 - b1) * grad
        v[...] = b2 * v + (1 - b2) * grad ** 2
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        theta -= lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def _update(self, theta, grad, lr):
        """:meth:`rule` in one pass over memory, the bias corrections and α folded into one
        division (:func:`neuralab._kernels.adam_update` picks the compiled loop or NumPy)."""
        m, v = self._zeros("m", theta), self._zeros("v", theta)
        chunk = self._scratch("chunk", theta, size=_kernels.scratch_size(theta.size))
        return _kernels.adam_update(theta, grad, m, v, lr, self.beta1, self.beta2, self.eps,
                                    self.t, chunk)

    def step_bound(self):
        """Bounds on max |θ| and max |m| carried from step to step (:class:`AdamStepBound`),
        while the step is this rule's own (a subclass that changes it gets None)."""
        own = type(self).step is Optimizer.step and type(self)._update in _FUSED
        return AdamStepBound() if own else None

    def effective_lr(self, lr=None):
        """α / ((1 − β₁ᵗ)(√v̂ + ε)): the factor that multiplies the first moment m."""
        lr = self.lr if lr is None else float(lr)
        t = max(self.t, 1)
        v_hat = self._state("v") / (1.0 - self.beta2 ** t)
        return lr / (1.0 - self.beta1 ** t) / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter).

    .. math::

        \theta_t \leftarrow \theta_t (1 - \alpha \lambda), \quad \text{then the Adam step}

    λ is ``weight_decay`` (default 0.01, PyTorch's); the decay does not pass through the
    moments, unlike ``Adam(weight_decay=λ)``. PyTorch's twin: ``AdamW(lr, betas, eps,
    weight_decay=λ)``.
    """

    names = ("adamw",)

    decoupled_decay = True

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01, *, betas=None):
        super().__init__(lr, beta1, beta2, eps, weight_decay, betas=betas)

    def _decayed(self, theta, grad):
        return grad  # the decay is decoupled: applied to θ in _update, not to g

    def rule(self, theta, grad, lr):
        if self.weight_decay:
            theta *= 1.0 - lr * self.weight_decay
        super().rule(theta, grad, lr)

    def _update(self, theta, grad, lr):
        if self.weight_decay:
            theta *= 1.0 - lr * self.weight_decay
        return super()._update(theta, grad, lr)


#: The update methods whose steps the bound describes.
_FUSED = (Adam._update, AdamW._update)

