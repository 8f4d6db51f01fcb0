r"""Activation functions g and their derivatives g′, as plain functions and as layers.

The plain functions (also reachable as ``nl.functional``) work elementwise on any array and are
meant for plotting and teaching; the layer classes cache what their backward pass needs and
compute ``dZ = dA ⊙ g′(Z)``, as on the backpropagation slide.

=========== ============================== ==================================
name        g(z)                           g′(z)
=========== ============================== ==================================
sigmoid     1 / (1 + e^{−z})               σ(z)(1 − σ(z))
tanh        (e^z − e^{−z}) / (e^z + e^{−z})  1 − tanh²(z)
relu        max(0, z)                      1 if z > 0 else 0
leaky_relu  max(αz, z)                     1 if z > 0 else α
identity    z                              1
softmax     e^{z_i} / Σ_j e^{z_j}          diag(s) − s sᵀ  (a Jacobian)
=========== ============================== ==================================

All are finite for any finite input (no overflow at ±1e4, no warnings).
"""

from __future__ import annotations

import numpy as np

from ._validation import check_float
from .layers import Layer

# ----------------------------------------------------------------------------- functions


def sigmoid(z):
    """σ(z) = 1 / (1 + e^{−z}), computed without overflow for any z."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.result_type(z, 0.5))


def sigmoid_grad(z):
    """σ′(z) = σ(z)(1 − σ(z))."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z):
    """tanh(z)."""
    return np.tanh(z)


def tanh_grad(z):
    """tanh′(z) = 1 − tanh²(z)."""
    t = np.tanh(z)
    return 1.0 - t * t


def relu(z):
    """ReLU(z) = max(0, z)."""
    return np.maximum(z, 0)


def relu_grad(z):
    """ReLU′(z) = 1 for z > 0, else 0 (the subgradient 0 at z = 0, as PyTorch)."""
    z = np.asarray(z)
    return (z > 0).astype(np.result_type(z, 0.5))


def leaky_relu(z, alpha=0.01):
    """LeakyReLU(z) = max(αz, z) for 0 ≤ α < 1."""
    z = np.asarray(z)
    return np.where(z > 0, z, alpha * z)


def leaky_relu_grad(z, alpha=0.01):
    """LeakyReLU′(z) = 1 for z > 0, else α."""
    z = np.asarray(z)
    return np.where(z > 0, 1.0, alpha).astype(np.result_type(z, 0.5))


def identity(z):
    """g(z) = z."""
    return np.asarray(z)


def identity_grad(z):
    """g′(z) = 1."""
    return np.ones_like(np.asarray(z, dtype=np.result_type(np.asarray(z), 0.5)))


def softmax(z, axis=-1):
    """softmax(z)_i = e^{z_i} / Σ_j e^{z_j} along ``axis`` (the max is subtracted first)."""
    z = np.asarray(z)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_grad(z, axis=-1):
    """The Jacobian ∂s_i/∂z_j = s_i(δ_ij − s_j), shape (..., k, k) with k along ``axis``."""
    s = np.moveaxis(softmax(z, axis=axis), axis, -1)
    return s[..., :, None] * (np.eye(s.shape[-1], dtype=s.dtype) - s[..., None, :])


# ----------------------------------------------------------------------------- layers


class Activation(Layer):
    """Base class of the elementwise activation layers: ``A = g(Z)``, ``dZ = dA ⊙ g′(Z)``."""

    name = "activation"

    def __init__(self):
        self._Z = None
        self._A = None

    def g(self, Z):
        raise NotImplementedError

    def g_prime(self, Z, A):
        """g′ at ``Z``; ``A = g(Z)`` is passed too, for rules cheaper in terms of A."""
        raise NotImplementedError

    def forward(self, Z, training=True):
        A = self.g(Z)
        if training:
            self._Z, self._A = Z, A
        return A

    def backward(self, dA, need_input_grad=True):
        return dA * self.g_prime(self._Z, self._A)


class Sigmoid(Activation):
    r"""Logistic sigmoid :math:`\sigma(z) = 1/(1+e^{-z})`, :math:`\sigma' = \sigma(1-\sigma)`."""

    name = "sigmoid"

    def g(self, Z):
        return sigmoid(Z)

    def g_prime(self, Z, A):
        return A * (1.0 - A)


class Tanh(Activation):
    r"""Hyperbolic tangent, :math:`\tanh'(z) = 1 - \tanh^2 z`."""

    name = "tanh"

    def g(self, Z):
        return np.tanh(Z)

    def g_prime(self, Z, A):
        return 1.0 - A * A


class ReLU(Activation):
    r""":math:`\mathrm{ReLU}(z) = \max(0, z)`, derivative 1 for z > 0 and 0 otherwise."""

    name = "relu"

    def g(self, Z):
        return np.maximum(Z, 0)

    def g_prime(self, Z, A):
        return Z > 0

    def backward(self, dA, need_input_grad=True):
        return np.multiply(dA, self._Z > 0)


class LeakyReLU(Activation):
    r""":math:`\max(\alpha z, z)`; ``alpha`` is α, the slope for z ≤ 0 (0 ≤ α < 1)."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = check_float(alpha, "alpha", low=0.0, high=1.0, high_inclusive=False)

    def g(self, Z):
        return np.where(Z > 0, Z, Z * Z.dtype.type(self.alpha))

    def g_prime(self, Z, A):
        return np.where(Z > 0, Z.dtype.type(1), Z.dtype.type(self.alpha))

    def get_config(self):
        return {"alpha": self.alpha}


class Identity(Activation):
    """The identity g(z) = z (a linear output, for regression)."""

    name = "identity"

    def g(self, Z):
        return Z

    def backward(self, dA, need_input_grad=True):
        return dA


class Softmax(Activation):
    r"""Softmax over the units of each example (axis 0 of the column batch).

    Backward applies the Jacobian without forming it:
    :math:`dZ = A \odot (dA - \mathbf{1}\,(\mathbf{1}^T (dA \odot A)))`. Followed by
    :class:`~neuralab.losses.CrossEntropy`, the model skips this and starts from ``dZ = A − Y``.
    """

    name = "softmax"

    def g(self, Z):
        E = np.exp(Z - Z.max(axis=0, keepdims=True))
        E /= E.sum(axis=0, keepdims=True)
        return E

    def backward(self, dA, need_input_grad=True):
        A = self._A
        return A * (dA - np.sum(dA * A, axis=0, keepdims=True))


ACTIVATIONS = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "leakyrelu": LeakyReLU,
    "identity": Identity,
    "linear": Identity,
    "softmax": Softmax,
}


def get(spec) -> Activation:
    """An activation layer from a name ("relu", "tanh", ...), a class, or an instance."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, type) and issubclass(spec, Activation):
        return spec()
    if spec is None:
        return Identity()
    if not isinstance(spec, str):
        raise TypeError(f"activation must be a name or an Activation, got {spec!r}")
    key = spec.lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {spec!r}; choose one of: "
                         f"{', '.join(sorted(set(ACTIVATIONS)))}")
    return ACTIVATIONS[key]()
