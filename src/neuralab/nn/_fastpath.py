r"""The training pass of a plain feed-forward network, with its buffers reused between steps.

:meth:`Sequential.loss_and_grad <neuralab.model.Sequential.loss_and_grad>` runs the lecture's
forward and backward passes layer by layer; each layer allocates its outputs and caches its
inputs. That is the readable version, and the reference. For the networks that are nothing but
``Dense`` layers and elementwise activations (every ``MLP``), this module runs the same
formulas with less traffic through memory:

- every ``Z``, ``A`` and ``dA`` lives in a buffer made once per batch size and reused;
- hidden activations are applied in place (``Z`` becomes ``A``); ReLU's backward multiplies
  by the mask ``A > 0`` (equal to ``Z > 0``) instead of building a new array with ``where``;
  with numba installed, a ReLU layer's bias and activation take one compiled pass, and so does
  its backward (:func:`neuralab._kernels.bias_relu`, :func:`~neuralab._kernels.relu_backward`:
  the same values as the NumPy operations);
- when m is a power of two, the 1/m of the batch mean is applied once, to the loss gradient
  ``dZ^{[L]}``, rather than to every ``dW`` and ``db`` (backpropagation is linear in ``dZ``,
  and scaling by 2⁻ᵏ is exact, so the result is the same to the last bit):

.. math::

    \widetilde{dZ}^{[L]} = \tfrac{1}{m}\, dZ^{[L]}, \qquad
    dW = \widetilde{dZ}\, A_{prev}^T, \qquad db = \textstyle\sum_i \widetilde{dZ}_{:,i}, \qquad
    \widetilde{dA}_{prev} = W^T \widetilde{dZ}

- the first layer computes no ``dA`` (nothing needs the input's gradient).

Other batch sizes scale each ``dW`` and ``db`` after its product, as ``Dense`` does; either
way the gradients are those of the layer-by-layer pass, bit for bit.
Buffers are kept for at most two batch sizes (the full batch and the last, partial one) and only
when they are small; anything this module does not recognize runs the readable path.
"""

from __future__ import annotations

import numpy as np

from .. import _kernels

#: Buffers larger than this (bytes) are not kept between calls.
_KEEP_BYTES = 64 << 20
#: Batch sizes whose buffers are kept (full batch, last partial batch).
_KEEP_SIZES = 2
#: The activation forms the plan applies itself (``Layer.fast_form``, declared by each class;
#: a subclass that does not declare one runs the readable path).
_HIDDEN = ("relu", "tanh", "elementwise", "identity")


def _form(act):
    """The fast form of a block's activation (``"identity"`` for none)."""
    return "identity" if act is None else act.fast_form


def _blocks(layers):
    """``[(dense, activation or None, [after...]), ...]`` for a stack the plan can run, else
    None: each ``Dense`` (form ``"dense"``), then an activation it applies itself, then layers
    of form ``"custom"`` (``fast_forward`` / ``fast_backward``, e.g. Dropout) in hidden blocks."""
    blocks = []
    for i, layer in enumerate(layers):
        form = layer.fast_form
        if form == "dense":
            blocks.append([layer, None, []])
        elif not blocks or blocks[-1][2] and form != "custom":
            return None
        elif form in _HIDDEN + ("softmax",) and blocks[-1][1] is None:
            if form == "softmax" and i != len(layers) - 1:
                return None  # a hidden softmax is not elementwise
            blocks[-1][1] = layer
        elif form == "custom" and i != len(layers) - 1:
            blocks[-1][2].append(layer)
        else:
            return None
    if not blocks or blocks[-1][2]:
        return None  # the loss needs the last block's own output
    return [tuple(b) for b in blocks]


class _Plan:
    """Buffers and steps of one training pass for batches of ``m`` columns."""

    def __init__(self, blocks, m, dtype):
        self.blocks, self.m, self.last = blocks, m, len(blocks) - 1
        self.inputs = [None] * len(blocks)
        self.Z = [np.empty((d.n_out, m), dtype) for d, _, _ in blocks]
        last = blocks[-1][1]
        # the output activation writes to its own buffer: the loss needs the logits Z^{[L]}
        self.out = np.empty_like(self.Z[-1]) if _form(last) == "softmax" else None
        # softmax's column maxima and sums (reused for the loss's log-sum-exp), label columns
        self.mx, self.s = np.empty((2, 1, m), dtype)
        self.cols = np.arange(m)
        self.dZ = np.empty_like(self.Z[-1])
        # dA ping-pong buffers, one per distinct hidden width
        self.dA = {}
        self.acts = [None] * len(blocks)    # the activations' outputs (before "custom" layers)
        for d, _, _ in blocks[1:]:
            self.dA.setdefault(d.n_in, [np.empty((d.n_in, m), dtype) for _ in range(2)])
        self.nbytes = sum(a.nbytes for a in self.Z) + sum(
            a.nbytes for pair in self.dA.values() for a in pair)

    def forward(self, A0):
        """Forward pass; returns the list of layer inputs and the network output."""
        inputs, A = self.inputs, A0
        for i, (dense, act, after) in enumerate(self.blocks):
            inputs[i] = A
            Z = self.Z[i]
            W, b = dense._W, dense._b          # the views themselves (no property calls)
            np.matmul(W, A, out=Z)
            if i == self.last:
                Z += b
                A = self._output(act, Z)
            elif _form(act) == "relu":
                A = _kernels.bias_relu(Z, b)  # Z + b, then max(·, 0), in one pass
            else:
                Z += b
                A = _hidden_forward(act, Z)
            self.acts[i] = A
            for layer in after:
                A = layer.fast_forward(A)
        return inputs, Z, A

    def _output(self, act, Z):
        form = _form(act)
        if form == "identity":
            return Z
        if form == "softmax":  # the same operations as Softmax.g, into a kept buffer
            E = self.out
            np.subtract(Z, np.maximum.reduce(Z, axis=0, keepdims=True, out=self.mx), out=E)
            np.exp(E, out=E)
            E /= np.add.reduce(E, axis=0, keepdims=True, out=self.s)
            return E
        return act.g(Z)

    def cross_entropy(self, Z, A, Y, scale):
        """Softmax + cross-entropy on labels ``Y``: the loss and ``scale``·(A − Y).

        The operations of ``CrossEntropy._value_from_logits`` and ``_dZ``, with the
        log-sum-exp taken from the softmax's own maxima and sums.
        """
        lse = (self.mx + np.log(self.s))[0]
        value = np.mean(lse - Z[Y, self.cols])
        dZ = self.dZ
        if scale is None:
            np.copyto(dZ, A)
            dZ[Y, self.cols] -= 1
        else:  # (A − Y)·2⁻ᵏ, exactly
            np.multiply(A, scale, out=dZ)
            dZ[Y, self.cols] -= scale
        return value, dZ

    def backward(self, inputs, dZ, scale, on_grad=None):
        """Backward from ``dZ`` of the last Dense; fills every dW, db (times ``scale``);
        ``on_grad(dense)`` is called as soon as a layer's dW, db are final."""
        blocks = self.blocks
        flip = {}
        for i in range(len(blocks) - 1, -1, -1):
            dense = blocks[i][0]
            dW, db = dense._dW, dense._db       # the views themselves (no property calls)
            A_prev = inputs[i]
            np.matmul(dZ, A_prev.T, out=dW)
            np.add.reduce(dZ, axis=1, keepdims=True, out=db)  # np.sum without wrappers
            if scale is not None:
                np.multiply(dW, scale, out=dW)
                np.multiply(db, scale, out=db)
            if on_grad is not None:
                on_grad(dense)
            if i == 0:
                return
            k = flip[dense.n_in] = 1 - flip.get(dense.n_in, 1)
            dA = self.dA[dense.n_in][k]
            np.matmul(dense._W.T, dZ, out=dA)
            _, act, after = blocks[i - 1]
            for layer in reversed(after):
                dA = layer.fast_backward(dA)
            dZ = _hidden_backward(act, self.Z[i - 1], self.acts[i - 1], dA)


def _hidden_forward(act, Z):
    """A = g(Z) for a hidden layer, in place where the backward pass allows it."""
    form = _form(act)
    if form == "identity":
        return Z
    if form == "relu":
        return np.maximum(Z, 0, out=Z)
    if form == "tanh":
        return np.tanh(Z, out=Z)  # g' = 1 − A² needs only A
    return act.g(Z)  # Sigmoid, LeakyReLU: Z is kept for g'


def _hidden_backward(act, Z, A, dA):
    """dZ = dA ⊙ g'(Z), in place in ``dA``."""
    form = _form(act)
    if form == "identity":
        return dA
    if form == "relu":
        return _kernels.relu_backward(dA, A)  # dA ⊙ [A > 0]; A > 0 exactly where Z > 0
    dA *= act.g_prime(Z, A)
    return dA


def loss_and_grad(model, A0, Y, loss, on_grad=None):
    """The fast training pass, or None when ``model`` or ``A0`` needs the readable one."""
    key = tuple(map(id, model.layers))
    cached = model.__dict__.get("_blocks")
    if cached is None or cached[0] != key:
        cached = model.__dict__["_blocks"] = (key, _blocks(model.layers))
        model.__dict__["_plans"] = {}
    blocks = cached[1]
    if blocks is None or A0.dtype != model.dtype or A0.ndim != 2:
        return None
    m = A0.shape[1]
    plans = model.__dict__["_plans"]
    plan = plans.pop(m, None) or _Plan(blocks, m, model.dtype)
    inputs, Z, A = plan.forward(A0)
    model._output = A
    last = blocks[-1][1]
    once = m & (m - 1) == 0  # m = 2^k: 1/m is exact, apply it once to dZ^{[L]}
    if (loss.fast_form == "cross_entropy" and _form(last) == "softmax" and not loss.from_logits
            and Y.ndim == 1 and Y.dtype == np.intp):
        value, dZ = plan.cross_entropy(Z, A, Y, 1.0 / m if once else None)
        plan.backward(inputs, dZ, None if once else 1.0 / m, on_grad)
        return _keep(plans, plan, m, value)
    if last is not None and loss.fuses(last):
        value = loss._value_from_logits(Z, A, Y)
        dZ = loss._dZ(A, Y)
    else:
        value = loss._value(A, Y)
        dZ = loss._dA(A, Y)
        if _form(last) != "identity":
            last._Z, last._A = Z, A
            dZ = last.backward(dZ)
    if once:
        plan.backward(inputs, np.multiply(dZ, 1.0 / m, dtype=model.dtype), None, on_grad)
    else:
        plan.backward(inputs, dZ, 1.0 / m, on_grad)
    return _keep(plans, plan, m, value)


def _keep(plans, plan, m, value):
    """Keep small buffers for the next call (most recently used last); return ``value``."""
    if plan.nbytes <= _KEEP_BYTES:
        plans[m] = plan
        while len(plans) > _KEEP_SIZES:
            plans.pop(next(iter(plans)))
    return value
