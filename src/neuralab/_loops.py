"""The loops numba compiles for :mod:`neuralab._kernels` (and :mod:`neuralab._blaspool`), as
plain Python: each line is one NumPy operation of the NumPy kernel it stands for, in the same
order and precision, so the compiled loop and the NumPy kernel agree bit for bit. Importing
this module imports no numba.
"""

from __future__ import annotations

import numpy as np


def _adam_loop(theta, grad, m, v, beta1, b1, beta2, b2, c_v, eps_c, update):  # pragma: no cover
    """The loop numba compiles (each line is one ufunc of :func:`adam_update_numpy`).

    Returns whether every updated θ is finite (``|θ| < ∞``, false for NaN), at no extra cost.
    """
    finite = True
    for i in range(theta.size):
        g = grad[i]
        mi = m[i] * beta1 + g * b1
        vi = v[i] * beta2 + (g * g) * b2
        m[i] = mi
        v[i] = vi
        if update:
            t = theta[i] - mi / (np.sqrt(vi) * c_v + eps_c)
            theta[i] = t
            finite &= abs(t) < np.inf
    return finite


def _bias_relu_loop(Z, b):  # pragma: no cover
    """The loop of :func:`bias_relu` (``z >= 0 or z != z``: np.maximum's choice of operand)."""
    n, m = Z.shape
    for i in range(n):
        bi = b[i, 0]
        for j in range(m):
            z = Z[i, j] + bi
            Z[i, j] = z if (z >= 0 or z != z) else 0


def _relu_backward_loop(dA, A, zero):  # pragma: no cover
    """The loop of :func:`relu_backward` (``zero`` is 0 in the dtype of dA)."""
    n, m = dA.shape
    for i in range(n):
        for j in range(m):
            if not A[i, j] > 0:
                dA[i, j] = dA[i, j] * zero


LOOPS = {"adam": _adam_loop, "bias_relu": _bias_relu_loop,
         "relu_backward": _relu_backward_loop}
