r"""First-order optimizers: one vectorized step over the flat parameter vector θ.

Each optimizer sees one flat ``theta`` and one flat ``grad`` (``model.params``,
``model.grads``); its state (velocity, accumulators, moments) is arrays of that length, made on
the first step. The learning rate is supplied per step by the schedule (as in optax):
``opt.step(theta, grad, lr)``; without one, the optimizer's own ``lr`` is used.

Every rule is PyTorch's (``torch.optim``), so trajectories agree to rounding in float64:

=========== ==================================== =====================================
neuralab    rule                                 PyTorch twin
=========== ==================================== =====================================
SGD / GD    θ ← θ − α g                          ``SGD(lr)``
Momentum    v ← βv + g, θ ← θ − α v              ``SGD(lr, momentum=β)``
Nesterov    v ← βv + g, θ ← θ − α (g + βv)       ``SGD(lr, momentum=β, nesterov=True)``
AdaGrad     G ← G + g², θ ← θ − α g/(√G + ε)     ``Adagrad(lr, eps=ε)``
RMSProp     E ← ρE + (1−ρ)g², θ ← θ − α g/(√E+ε) ``RMSprop(lr, alpha=ρ, eps=ε)``
Adam        moments m, v with bias correction    ``Adam(lr, betas, eps)``
AdamW       Adam + decoupled decay θ ← θ(1 − αλ) ``AdamW(lr, betas, eps, weight_decay)``
=========== ==================================== =====================================

``weight_decay`` (λ) on all but AdamW is PyTorch's L2 form: ``g ← g + λθ`` before the rule.
Newton's method and Newton-CG live in :mod:`neuralab.newton` and are registered here too.
"""

from __future__ import annotations

import numpy as np

from . import _kernels
from ._validation import check_float, lookup


def _check_beta(value, name):
    return check_float(value, name, low=0.0, high=1.0, high_inclusive=False)


class Optimizer:
    """Base class: validates ``lr``, counts steps ``t``, (de)serializes state.

    Subclasses implement ``_update(theta, grad, lr)`` in place and list their state arrays in
    ``_state_names``.
    """

    _state_names: tuple[str, ...] = ()
    #: True for optimizers that need to re-evaluate the objective (Newton); ``fit`` then passes
    #: ``closure=`` to :meth:`step`.
    needs_closure = False

    def __init__(self, lr: float = 0.01, weight_decay: float = 0.0):
        self.lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
        self.weight_decay = check_float(weight_decay, "weight_decay", low=0.0)
        self.t = 0

    def step(self, theta: np.ndarray, grad: np.ndarray, lr: float | None = None,
             closure=None) -> None:
        """Update ``theta`` in place from ``grad``, with rate ``lr`` (default ``self.lr``).

        ``grad`` is never modified.
        """
        lr = self.lr if lr is None else lr
        self.t += 1
        self._update(theta, self._decayed(theta, grad), lr)

    def _update(self, theta, grad, lr):
        raise NotImplementedError

    def _decayed(self, theta, grad):
        """``grad + weight_decay * theta`` (PyTorch's L2 form) in a scratch buffer, or ``grad``."""
        if self.weight_decay == 0.0:
            return grad
        g = self._scratch("_g", grad)
        np.multiply(theta, self.weight_decay, out=g)
        g += grad
        return g

    def _zeros(self, name, like):
        """The state array ``name``, created as zeros shaped like ``like`` on first use."""
        arr = getattr(self, name, None)
        if arr is None or arr.shape != like.shape or arr.dtype != like.dtype:
            arr = np.zeros_like(like)
            setattr(self, name, arr)
        return arr

    def _scratch(self, name, like):
        """A reusable work buffer (not state): saves a temporary per step."""
        arr = self.__dict__.get(name)
        if arr is None or arr.shape != like.shape or arr.dtype != like.dtype:
            arr = np.empty_like(like)
            self.__dict__[name] = arr
        return arr

    def _state(self, name):
        arr = getattr(self, name, None)
        if arr is None:
            raise RuntimeError(f"{type(self).__name__} has no state yet ({name} is made on the "
                               "first step); call step() first")
        return arr

    def effective_lr(self, lr: float | None = None):
        """The per-parameter rate that multiplies the step direction, for rate ``lr``.

        A float for the non-adaptive rules (the same for every parameter); adaptive rules
        return an array shaped like θ.
        """
        return self.lr if lr is None else float(lr)

    def state_dict(self) -> dict:
        """Step count and state arrays (copies), enough to resume exactly."""
        state = {"t": self.t}
        for name in self._state_names:
            arr = getattr(self, name, None)
            if arr is not None:
                state[name] = arr.copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        if not isinstance(state, dict) or "t" not in state:
            raise ValueError("optimizer state must be a dict with at least 't'")
        self.t = int(state["t"])
        self.__dict__.pop("_bounds", None)    # bounds of the old state (see Adam)
        for name in self._state_names:
            setattr(self, name, None if name not in state else np.array(state[name]))

    def get_config(self) -> dict:
        """The constructor arguments (what rebuilds this optimizer), without its state."""
        return {k: v for k, v in vars(self).items()
                if not k.startswith("_") and not k.endswith("_") and k != "t"
                and isinstance(v, (int, float, bool, str))}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


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

    def _update(self, theta, grad, lr):
        g = self._scratch("_buf", grad)
        np.multiply(grad, lr, out=g)
        theta -= g


GD = SGD


class Momentum(Optimizer):
    r"""Gradient descent with momentum (the slide's form, PyTorch's convention).

    .. math::

        v_{t+1} = \beta v_t + \nabla J(\theta_t), \qquad \theta_{t+1} = \theta_t - \alpha v_{t+1}

    α is ``lr``, β is ``beta`` (0 ≤ β < 1), v is :attr:`velocity` (zeros before the first step).
    PyTorch's twin: ``SGD(lr, momentum=β)``. Sutskever et al. write
    v ← βv − αg, θ ← θ + v instead, which differs whenever α changes between steps.
    """

    _state_names = ("velocity",)

    def __init__(self, lr: float = 0.01, beta: float = 0.9, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.beta = _check_beta(beta, "beta")
        self.velocity = None

    def _update(self, theta, grad, lr):
        v = self._zeros("velocity", theta)
        v *= self.beta
        v += grad
        step = self._scratch("_buf", theta)
        np.multiply(v, lr, out=step)
        theta -= step


class Nesterov(Momentum):
    r"""Nesterov momentum, in PyTorch's form (the look-ahead folded into the gradient).

    .. math::

        v_{t+1} = \beta v_t + g_t, \qquad \theta_{t+1} = \theta_t - \alpha (g_t + \beta v_{t+1})

    g is ∇J(θ_t), α is ``lr``, β is ``beta``, v is :attr:`velocity`.
    PyTorch's twin: ``SGD(lr, momentum=β, nesterov=True)``.
    """

    def _update(self, theta, grad, lr):
        v = self._zeros("velocity", theta)
        v *= self.beta
        v += grad
        step = self._scratch("_buf", theta)
        np.multiply(v, self.beta, out=step)
        step += grad
        step *= lr
        theta -= step


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

    _state_names = ("G",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        self.G = None

    def _update(self, theta, grad, lr):
        G = self._zeros("G", theta)
        step = self._scratch("_buf", theta)
        np.multiply(grad, grad, out=step)
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

    α is ``lr``, ρ is ``rho`` (0 ≤ ρ < 1), ε is ``eps``, E[g²] is :attr:`square_avg`.
    PyTorch's twin: ``RMSprop(lr, alpha=ρ, eps=ε)``; note PyTorch's default α is 0.99 where
    the lecture (and this class) uses ρ = 0.9.
    """

    _state_names = ("square_avg",)

    def __init__(self, lr: float = 0.01, rho: float = 0.9, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.rho = _check_beta(rho, "rho")
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        self.square_avg = None

    def _update(self, theta, grad, lr):
        E = self._zeros("square_avg", theta)
        step = self._scratch("_buf", theta)
        np.multiply(grad, grad, out=step)
        step *= 1.0 - self.rho
        E *= self.rho
        E += step
        _scaled_step(theta, grad, E, self.eps, lr, step)

    def effective_lr(self, lr=None):
        lr = self.lr if lr is None else float(lr)
        return lr / (np.sqrt(self._state("square_avg")) + self.eps)


#: Relative slack per step of Adam's bounds (see Adam._next_step_bounded).
_ROUNDING = 1.0 + 2.0 ** -20


class Adam(Optimizer):
    r"""Adam: momentum on the gradient and RMSProp on its square, both bias-corrected.

    .. math::

        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t},
        \qquad \theta_{t+1} = \theta_t - \alpha \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    α is ``lr``, β₁ ``beta1``, β₂ ``beta2``, ε ``eps``; m and v are :attr:`m` and :attr:`v`,
    t is the step count :attr:`t`. PyTorch's twin: ``Adam(lr, betas=(β₁, β₂), eps=ε)``.

    Notes
    -----
    ε sits outside √v̂, as in PyTorch and optax. Keras and scikit-learn add ε̂ = ε√(1 − β₂ᵗ)
    to √v instead, which changes results beyond 1e-9.
    """

    _state_names = ("m", "v")

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.beta1 = _check_beta(beta1, "beta1")
        self.beta2 = _check_beta(beta2, "beta2")
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        self.m = self.v = None

    def _update(self, theta, grad, lr):
        m, v = self._zeros("m", theta), self._zeros("v", theta)
        scratch = self.__dict__.get("_chunk")
        if scratch is None or scratch.dtype != theta.dtype or scratch.size > theta.size or (
                scratch.size < min(theta.size, _kernels.CHUNK)):
            scratch = self.__dict__["_chunk"] = _kernels.scratch_buffer(theta.dtype, theta.size)
        # the rule above in one trip through memory (see _kernels.adam_update); the fused
        # kernel also says whether the new θ is finite, which fit reads instead of a pass
        self._theta_finite = _kernels.adam_update(theta, grad, m, v, lr, self.beta1, self.beta2,
                                                  self.eps, self.t, scratch)
        if self.__dict__.get("_bounded_step") != self.t:
            self.__dict__.pop("_bounds", None)   # a step _next_step_bounded did not foresee

    def _measure_bounds(self, theta) -> None:
        """Start :meth:`_next_step_bounded`'s bookkeeping: Θ = max |θ|, M = max |m| (two
        passes; ``fit`` calls it after a step it had to guard with a copy of θ)."""
        m = self._state("m")
        self.__dict__["_bounds"] = (max(float(theta.max()), -float(theta.min())),
                                    max(float(m.max()), -float(m.min())))

    def _next_step_bounded(self, grad_norm: float, lr: float | None, dtype) -> bool:
        r"""Whether the next step provably leaves θ finite, so that ``fit`` need not copy θ.

        Keeps upper bounds Θ ≥ max |θ| and M ≥ max |m| from step to step without looking at
        the arrays. With G = ``grad_norm`` ≥ max |g| of the coming gradient: each new m is a
        convex combination of the old m and g, so M' = max(M, G); the denominator
        √v·c_v + ε c_m is at least ε c_m, so no entry moves by more than U = M' / (ε c_m) and
        Θ' = Θ + U. Each bound is raised by 2⁻²⁰ relative per step, more than the step's
        roundings in float32 can add. True (and Θ', M' kept) when Θ' is below a sixteenth of
        the dtype's largest value; False when there are no bounds (:meth:`_measure_bounds`
        starts them) or they grew too large. Any other change of θ or m must drop ``_bounds``.
        ``fit`` passes G = 2‖g‖ (a float32 sum of squares may come out a little low).
        """
        bounds = self.__dict__.get("_bounds")
        lr = self.lr if lr is None else lr
        if bounds is None or not lr > 0.0:
            return False
        theta_max, m_max = bounds
        if self.weight_decay:
            if type(self)._decayed is Optimizer._decayed:     # L2: g + λθ enters the moments
                grad_norm += self.weight_decay * theta_max
            else:                                             # decoupled: θ(1 − αλ) first
                theta_max *= max(1.0, abs(1.0 - lr * self.weight_decay))
        m_max = max(m_max, grad_norm) * _ROUNDING
        theta_max = (theta_max + m_max / (self.eps * (1.0 - self.beta1 ** (self.t + 1)) / lr)
                     ) * _ROUNDING
        if not theta_max < float(np.finfo(dtype).max) / 16:
            return False
        self.__dict__["_bounds"] = (theta_max, m_max)
        self.__dict__["_bounded_step"] = self.t + 1
        return True

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

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(lr, beta1, beta2, eps, weight_decay)

    def _decayed(self, theta, grad):
        return grad  # the decay is decoupled: applied to θ in _update, not to g

    def _update(self, theta, grad, lr):
        if self.weight_decay:
            theta *= 1.0 - lr * self.weight_decay
        super()._update(theta, grad, lr)


OPTIMIZERS = {"sgd": SGD, "gd": SGD, "momentum": Momentum, "nesterov": Nesterov,
              "adagrad": AdaGrad, "rmsprop": RMSProp, "adam": Adam, "adamw": AdamW}


def get(spec, **kwargs) -> Optimizer:
    """An optimizer from a name ("sgd", "adam", "newton", ...) and keyword arguments.

    An :class:`Optimizer` instance is returned as is.

    Examples
    --------
    >>> import neuralab as nl
    >>> nl.optim.get("adam", lr=1e-3)
    Adam(lr=0.001, weight_decay=0.0, beta1=0.9, beta2=0.999, eps=1e-08)
    """
    if isinstance(spec, Optimizer):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"optimizer must be a name or an Optimizer, got {spec!r}")
    return lookup(spec, OPTIMIZERS, "optimizer")(**kwargs)


# Second-order methods live in neuralab.newton, which imports this module and registers
# "newton" and "newton_cg" in OPTIMIZERS; importing the module (not its names) works in either
# import order, and nl.optim.Newton / NewtonCG resolve lazily.
from . import newton as _newton  # noqa: E402


def __getattr__(name):
    if name in ("Newton", "NewtonCG"):
        return getattr(_newton, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
