r"""Optimizers: one vectorized step over the flat parameter vector θ.

Each optimizer sees one flat ``theta`` and one flat ``grad`` (``model.params``,
``model.grads``); its state (velocity, accumulators, moments) is arrays of that length, made on
the first step. The learning rate is supplied per step by the schedule (as in optax):
``opt.step(theta, grad, lr)``; without one, the optimizer's own ``lr`` is used.

Every first-order rule is PyTorch's (``torch.optim``), so trajectories agree to rounding in
float64:

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
Newton      θ ← θ − α (H + λI)⁻¹ g               (none; ``scipy.optimize`` Newton-CG)
NewtonCG    truncated CG on (B + λI) p = −g      (none)
=========== ==================================== =====================================

``weight_decay`` (λ) on all but AdamW is PyTorch's L2 form: ``g ← g + λθ`` before the rule.
One file per family: ``optim/sgd.py``, ``optim/adaptive.py``, ``optim/adam.py``,
``optim/newton.py`` (second order), over the base class in ``optim/optimizer.py``.
"""

from __future__ import annotations

from .._validation import lookup
from .adam import Adam, AdamW
from .adaptive import AdaGrad, RMSProp
from .newton import Newton, NewtonCG
from .optimizer import OPTIMIZERS, Optimizer
from .sgd import GD, SGD, Momentum, Nesterov

__all__ = ["GD", "SGD", "AdaGrad", "Adam", "AdamW", "Momentum", "Nesterov", "Newton",
           "NewtonCG", "OPTIMIZERS", "Optimizer", "RMSProp", "get"]

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
