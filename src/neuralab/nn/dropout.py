r"""Dropout: in training, each unit of each example is kept with probability 1 − p.

Inverted dropout, as in PyTorch's ``torch.nn.Dropout``: the kept units are scaled by
1/(1 − p) during training, so nothing changes at inference, where the layer is the identity.
With examples as columns and a mask :math:`M` of independent draws:

.. math::

    M_{ij} = \frac{[u_{ij} \ge p]}{1 - p}, \quad u_{ij} \sim U[0, 1), \qquad
    A = M \odot A_{prev}, \qquad dA_{prev} = M \odot dA

The mask comes from the model's layer generator (``model.bind_rng``), which ``fit`` seeds from
its ``seed`` and saves in checkpoints: a killed run resumes with the same masks, bit for bit.
Everything about the layer lives in this file: the fast path runs it (form ``"custom"``),
ONNX exports it as ``Identity`` (inference), ``torch.nn.Dropout`` is its twin, and the
second-order methods (Newton, Newton-CG, the Hessian, the gradient check) refuse it by name:
the objective it trains is random.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_float
from .layers import Layer


class Dropout(Layer):
    """Inverted dropout with drop probability ``p`` (0 ≤ p < 1); identity at inference.

    Examples
    --------
    >>> import numpy as np, neuralab as nl
    >>> model = nl.Sequential([nl.Dense(4, 8), nl.ReLU(), nl.Dropout(0.5), nl.Dense(8, 2),
    ...                        nl.Softmax()], seed=0)
    >>> X = np.ones((3, 4))
    >>> bool(np.array_equal(model.forward(X), model.forward(X)))   # inference: no mask
    True
    """

    needs_rng = True
    second_order = deterministic = False
    _no_second_order = "its mask makes the objective random (train without Dropout or with " \
                       "a first-order optimizer)"
    fast_form = "custom"
    torch_twin = "Dropout"

    def __init__(self, p: float = 0.5):
        self.p = check_float(p, "p", low=0.0, high=1.0, high_inclusive=False)
        self._rng: np.random.Generator | None = None
        self._mask: np.ndarray | None = None

    def bind_rng(self, rng):
        self._rng = rng

    def _draw(self, A):
        """The mask M for ``A``'s shape: [u ≥ p] / (1 − p) in A's dtype."""
        if self._rng is None:
            raise RuntimeError("Dropout draws its masks from the model's generator: put it in "
                               "a model (nl.Sequential([...])) before a training pass")
        u = self._rng.random(A.shape, dtype=A.dtype)
        return (u >= self.p) * A.dtype.type(1.0 / (1.0 - self.p))

    def forward(self, A_prev, training=True):
        if not training or self.p == 0.0:
            self._mask = None
            return A_prev
        self._mask = self._draw(A_prev)
        return A_prev * self._mask

    def backward(self, dA, need_input_grad=True):
        return dA if self._mask is None else dA * self._mask

    # the fast path's form "custom": the same operations, dA scaled in its own buffer
    def fast_forward(self, A):
        return self.forward(A, training=True)

    def fast_backward(self, dA):
        if self._mask is not None:
            dA *= self._mask
        return dA

    def get_config(self):
        return {"p": self.p}

    # ------------------------------------------------------------------ exports
    def onnx_nodes(self, onnx, name, source, out, weights):
        return [onnx.helper.make_node("Identity", [source], [out], name=f"dropout{name}")]

    def to_torch(self, torch, dtype):
        return torch.nn.Dropout(p=self.p)

    @classmethod
    def from_torch(cls, module):
        return cls(p=module.p)
