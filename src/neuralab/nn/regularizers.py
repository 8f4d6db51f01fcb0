r"""Weight penalties added to the training objective: L1 and L2 on every ``Dense`` layer's W.

With a regularizer R, ``fit`` minimizes J(θ) + R(W) instead of the data loss J alone:

.. math::

    R_{L2}(W) = \frac{\lambda}{2} \sum_l \lVert W^{[l]} \rVert_F^2, \quad
    \frac{\partial R}{\partial W^{[l]}} = \lambda W^{[l]}; \qquad
    R_{L1}(W) = \lambda \sum_l \sum_{ij} |W^{[l]}_{ij}|, \quad
    \frac{\partial R}{\partial W^{[l]}} = \lambda \operatorname{sign}(W^{[l]})

λ is ``lam``. Biases are not penalized (as in scikit-learn's MLP, Keras' ``kernel_regularizer``
and TensorFlow Playground). The L2 form with ½ gives the gradient λW, the same as PyTorch's
``weight_decay=λ`` on the weights; Keras' ``L2(l2)`` has no ½ (its λ is half of ours).
``fit`` logs the data loss as ``loss`` (comparable with ``val_loss``) and R as ``penalty``.

Examples
--------
>>> import numpy as np, neuralab as nl
>>> model = nl.MLP([2, 3, 1], output="identity", seed=0)
>>> model.grads[...] = 0.0
>>> R = nl.regularizers.L2(0.1).apply(model)      # returns R(W), adds λW into each dW
>>> W = model.layers[0].W
>>> bool(np.allclose(model.layers[0].dW, 0.1 * W))
True
"""

from __future__ import annotations

import numpy as np

from .._validation import check_float, lookup
from .layers import Dense

__all__ = ["L1", "L2", "Regularizer", "get"]


class Regularizer:
    """Base class: a penalty R(W) of each ``Dense`` layer's weights, and its gradient."""

    def __init__(self, lam: float = 0.01):
        self.lam = check_float(lam, "lam", low=0.0)

    def penalty(self, W) -> float:
        raise NotImplementedError

    def add_gradient(self, W, dW) -> None:
        """dW ← dW + ∂R/∂W, in place."""
        raise NotImplementedError

    def apply(self, model) -> float:
        """Add ∂R/∂W into every Dense layer's ``dW`` (views into ``model.grads``); return R."""
        total = 0.0
        for layer in model.layers:
            if isinstance(layer, Dense):
                total += self.penalty(layer.W)
                self.add_gradient(layer.W, layer.dW)
        return total

    def get_config(self) -> dict:
        return {"type": type(self).__name__, "lam": self.lam}

    def __repr__(self):
        return f"{type(self).__name__}(lam={self.lam!r})"


class L2(Regularizer):
    r"""R(W) = (λ/2) Σ‖W‖²_F, ∂R/∂W = λW (weight decay on the weights)."""

    def penalty(self, W) -> float:
        return 0.5 * self.lam * float(np.vdot(W, W))

    def add_gradient(self, W, dW) -> None:
        dW += self.lam * W


class L1(Regularizer):
    r"""R(W) = λ Σ|W_ij|, ∂R/∂W = λ sign(W) (0 at W = 0): pushes weights to exactly 0."""

    def penalty(self, W) -> float:
        return self.lam * float(np.abs(W).sum())

    def add_gradient(self, W, dW) -> None:
        dW += self.lam * np.sign(W)


REGULARIZERS = {"l1": L1, "l2": L2}


def get(spec, lam: float = 0.01) -> Regularizer | None:
    """A regularizer from a name ("l1", "l2", "none"), an instance (as is) or None."""
    if spec is None or isinstance(spec, Regularizer):
        return spec
    if isinstance(spec, str) and spec.lower() == "none":
        return None
    return lookup(spec, REGULARIZERS, "regularizer")(lam)
