"""Activation functions and their derivatives as plain elementwise functions.

``nl.functional.sigmoid(z)``, ``nl.functional.sigmoid_grad(z)`` and so on, for plotting and
teaching; the layers in :mod:`neuralab.activations` use the same formulas.
"""

from .activations import (
    identity,
    identity_grad,
    leaky_relu,
    leaky_relu_grad,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_grad,
    tanh,
    tanh_grad,
)

__all__ = [
    "identity", "identity_grad", "leaky_relu", "leaky_relu_grad", "relu", "relu_grad",
    "sigmoid", "sigmoid_grad", "softmax", "softmax_grad", "tanh", "tanh_grad",
]
