r"""Gradient checking: backpropagation against central finite differences.

.. math::

    \frac{\partial J}{\partial \theta_i} \approx
    \frac{J(\theta + h e_i) - J(\theta - h e_i)}{2h}

Used by the tests and by the ``backprop`` lab experiment. Run it in float64.
"""

from __future__ import annotations

import numpy as np

from . import losses as _losses


def _objective(model, X, y, loss):
    for layer in model.layers:          # a random layer (Dropout) has no gradient to check
        layer.refuse_second_order("gradient_check", exact=False)
    loss = _losses.get(loss)
    X = model._check_X(X)
    Y = loss.prepare_targets(model._encode_labels(y), model.n_out, X.shape[0], model.dtype)
    A0 = X.T
    return (lambda: model.loss_and_grad(A0, Y, loss))


def numerical_gradient(model, X, y, loss, h: float = 1e-5) -> np.ndarray:
    """∇θ J by central differences over every parameter (slow: 2 forward passes each)."""
    f = _objective(model, X, y, loss)
    theta = model.params
    saved = theta.copy()
    g = np.empty_like(theta, dtype=np.float64)
    for i in range(theta.size):
        theta[i] = saved[i] + h
        f_plus = f()
        theta[i] = saved[i] - h
        f_minus = f()
        theta[i] = saved[i]
        g[i] = (f_plus - f_minus) / (2 * h)
    theta[...] = saved
    return g


def analytic_gradient(model, X, y, loss) -> np.ndarray:
    """∇θ J by backpropagation (a copy of ``model.grads`` after one pass)."""
    _objective(model, X, y, loss)()
    return model.grads.astype(np.float64)


def relative_error(a, b) -> float:
    """‖a − b‖ / max(‖a‖ + ‖b‖, tiny): 0 for equal vectors, ~1 for unrelated ones."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / max(denom, np.finfo(np.float64).tiny))


def gradient_check(model, X, y, loss, h: float = 1e-5) -> dict:
    """Relative error of backprop against finite differences, overall and per layer.

    Returns
    -------
    dict
        ``{"total": err, "layers": [(index, name, n_params, err), ...]}``.
    """
    if model.dtype != np.float64:
        raise ValueError("gradient_check needs a float64 model: build it with dtype='float64'")
    num = numerical_gradient(model, X, y, loss, h)
    ana = analytic_gradient(model, X, y, loss)
    rows = []
    for i, (layer, sl) in enumerate(zip(model.layers, model._slices, strict=True)):
        if layer.n_params:
            rows.append((i, type(layer).__name__, layer.n_params,
                         relative_error(ana[sl], num[sl])))
    return {"total": relative_error(ana, num), "layers": rows}
