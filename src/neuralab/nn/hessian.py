r"""Exact second derivatives of a network's loss: Hessian-vector products and the Hessian.

The product :math:`Hv` of the Hessian of J(θ) (the batch-mean loss) with a direction v costs
about two gradient evaluations and never forms H. It is Pearlmutter's R-operator,
:math:`\mathcal R\{f\} = \tfrac{d}{dr} f(\theta + r v)\big|_{r=0}`, pushed through the forward
pass and then through backpropagation (forward-over-reverse). With examples as columns:

.. math::

    \mathcal R\{Z\} = V_W A_{prev} + W \mathcal R\{A_{prev}\} + V_b, \qquad
    \mathcal R\{A\} = g'(Z) \odot \mathcal R\{Z\}

    \mathcal R\{dZ\} = \mathcal R\{dA\} \odot g'(Z) + dA \odot g''(Z) \odot \mathcal R\{Z\},
    \qquad \mathcal R\{dA_{prev}\} = V_W^T dZ + W^T \mathcal R\{dZ\}

    \mathcal R\{dW\} = \tfrac1m\big(\mathcal R\{dZ\} A_{prev}^T
    + dZ\, \mathcal R\{A_{prev}\}^T\big), \qquad
    \mathcal R\{db\} = \tfrac1m \textstyle\sum_i \mathcal R\{dZ\}_{:,i}

and the loss contributes its own second derivative (for softmax + cross-entropy, fused:
:math:`\mathcal R\{dZ\} = \mathcal R\{A\}`). The Gauss–Newton product :math:`J^T H_\ell J v`
keeps only the terms through the loss's curvature (it drops the g'' and the V_Wᵀ dZ,
dZ R{A_prev}ᵀ terms), so it is positive semi-definite.

Every function takes an :class:`~neuralab.model.Objective` (model, column batch ``A0``,
internal targets ``Y``, loss) — what ``fit`` hands a second-order optimizer — and several
directions at once as the rows of ``V`` (k, d).
"""

from __future__ import annotations

import numpy as np

from . import activations as _act
from . import losses as _losses
from .layers import Dense
from .model import Objective


def objective(model, X, y, loss=None) -> Objective:
    """An :class:`~neuralab.model.Objective` from samples as rows (the public convention):
    raw rows through the model's preprocessing, labels through its ``classes``."""
    loss = _losses.default_loss(model) if loss is None else _losses.get(loss)
    X = model._check_X(X)
    Y = loss.prepare_targets(model._encode_labels(y), model.n_out, X.shape[0], model.dtype)
    return Objective(model, X.T, Y, loss)


def loss_value(obj: Objective) -> float:
    """J(θ) on the objective's batch by a forward pass only (no gradient, no layer caches)."""
    model, loss = obj.model, obj.loss
    A = obj.A0
    for layer in model.layers[:-1]:
        A = layer.forward(A, training=False)
    last = model.layers[-1]
    out = last.forward(A, training=False)
    if loss.fuses(last):
        return float(loss._value_from_logits(A, out, obj.Y))
    return float(loss._value(out, obj.Y))


_softmax_jvp = _act.softmax_jvp


def check_second_order(model, what: str) -> None:
    """Raise ``SecondOrderError`` (a TypeError) naming the first layer of ``model``
    without exact second derivatives (``what`` names the method, e.g. "NewtonCG")."""
    for layer in model.layers:
        layer.refuse_second_order(what)


# ----------------------------------------------------------------------------- the loss

def _onehot(loss, Y, A):
    if Y.ndim == 1:
        T = np.zeros_like(A)
        T[Y, np.arange(A.shape[1])] = 1.0
        return T
    return Y


def _loss_terms(loss, A, RA, Y, Z=None, RZ=None, fused=False, gauss_newton=False):
    """The loss's gradient and its R-derivative, per example (unscaled by 1/m).

    Fused: w.r.t. the output activation's input Z; otherwise w.r.t. the output A.
    """
    if fused:
        dZ = loss._dZ(A, Y)
        if isinstance(loss, _losses.CrossEntropy):
            return dZ, _softmax_jvp(A, RZ)
        scale = 1.0 / A.shape[0] if A.shape[0] > 1 else 1.0
        return dZ, (A * (1.0 - A)) * RZ * scale
    dA = loss._dA(A, Y)
    if isinstance(loss, _losses.MSE):
        return dA, RA * (2.0 / A.shape[0])
    if isinstance(loss, _losses.CrossEntropy):
        if loss.from_logits:
            P = np.exp(A - A.max(axis=0, keepdims=True))
            P /= P.sum(axis=0, keepdims=True)
            return dA, _softmax_jvp(P, RA)
        tiny = np.finfo(A.dtype).tiny
        return dA, _onehot(loss, Y, A) / np.maximum(A, tiny) ** 2 * RA
    if isinstance(loss, _losses.BinaryCrossEntropy):
        eps = np.finfo(A.dtype).eps
        Ac = np.clip(A, eps, 1 - eps)
        s = Ac * (1.0 - Ac)
        curv = (s - (Ac - Y) * (1.0 - 2.0 * Ac)) / (s * s) / A.shape[0]
        return dA, np.where((A > eps) & (A < 1 - eps), curv, 0.0) * RA
    raise TypeError(f"Hessian-vector products support MSE, BinaryCrossEntropy and CrossEntropy, "
                    f"not {type(loss).__name__}")


# ----------------------------------------------------------------------------- R-pass

def hvp(obj: Objective, V, *, gauss_newton: bool = False) -> np.ndarray:
    r"""Hessian-vector products :math:`H v` (or Gauss–Newton :math:`G v`) at the model's θ.

    Parameters
    ----------
    obj : Objective
        The model, its column batch and loss; the model's ``params`` is the point θ.
    V : array (d,) or (k, d)
        One direction, or k directions as rows.
    gauss_newton : bool, default False
        Return the positive semi-definite Gauss–Newton product instead of the exact Hessian's.

    Returns
    -------
    array shaped like ``V``
        The products :math:`H v` of the Hessian of the batch-mean loss J(θ).

    Notes
    -----
    Uses only the model's parameters and layer types; the layers' caches and
    ``model.grads`` are left untouched.
    """
    model, A0, Y, loss = obj.model, obj.A0, obj.Y, obj.loss
    V = np.asarray(V)
    single = V.ndim == 1
    V = V.reshape(1, -1) if single else V
    if V.ndim != 2 or V.shape[1] != model.n_params:
        raise ValueError(f"V must have shape ({model.n_params},) or (k, {model.n_params}), "
                         f"got {np.shape(V)}")
    V = V.astype(model.dtype, copy=False)
    layers, slices = model.layers, model._slices
    check_second_order(model, "hessian")
    fused = loss.fuses(layers[-1])

    # forward with R{·}: each layer keeps what its R-backward needs (its cache)
    A, RA, cache = A0, None, []
    for layer, sl in zip(layers, slices, strict=True):
        A, RA, c = layer.r_forward(V[:, sl], A, RA)
        cache.append(c)
    if RA is None:  # no parameters: H = 0
        out = np.zeros_like(V)
        return out[0] if single else out

    start = len(layers) - 1
    if fused:
        Z, _, RZ = cache[-1]
        dA, RdA = _loss_terms(loss, A, RA, Y, Z, RZ, fused=True)
        start -= 1
    else:
        dA, RdA = _loss_terms(loss, A, RA, Y)

    out = np.zeros_like(V)
    for i in range(start, -1, -1):
        dA, RdA = layers[i].r_backward(cache[i], V[:, slices[i]], dA, RdA, out[:, slices[i]],
                                       gauss_newton, need_input_grad=i > 0)
    return out[0] if single else out


# ----------------------------------------------------------------------------- full Hessian

def is_logistic_regression(obj: Objective) -> bool:
    """Whether ``obj`` is one Dense unit + Sigmoid trained with fused BinaryCrossEntropy."""
    layers = obj.model.layers
    return (len(layers) == 2 and isinstance(layers[0], Dense) and layers[0].n_out == 1
            and isinstance(obj.loss, _losses.BinaryCrossEntropy) and obj.loss.fuses(layers[1]))


def logistic_hessian(obj: Objective) -> np.ndarray:
    r"""The Hessian of logistic regression in closed form, over θ = [w, b].

    .. math::

        H = \frac1m \tilde X^T \operatorname{diag}\big(p(1-p)\big) \tilde X, \qquad
        \tilde X = [X \;\; \mathbf 1]

    with p = σ(wᵀx + b) per sample (here X is ``obj.A0``ᵀ).
    """
    if not is_logistic_regression(obj):
        raise ValueError("logistic_hessian needs a model [Dense(n, 1), Sigmoid()] trained with "
                         "BinaryCrossEntropy; use hessian() for other models")
    dense = obj.model.layers[0]
    A0 = obj.A0
    m = A0.shape[1]
    p = _act.sigmoid(dense.W @ A0 + dense.b)[0]
    Xt = np.vstack([A0, np.ones((1, m), dtype=A0.dtype)])  # (n + 1, m): columns [x; 1]
    return (Xt * (p * (1.0 - p))) @ Xt.T / m


def hessian(obj: Objective, *, chunk: int | None = None) -> np.ndarray:
    """The full (d, d) Hessian of J(θ), from d exact Hessian-vector products.

    Logistic regression uses :func:`logistic_hessian`. Otherwise the products are taken
    ``chunk`` directions at a time (default: as many as fit in about 32 MB of work arrays).
    """
    if is_logistic_regression(obj):
        return logistic_hessian(obj)
    d = obj.model.n_params
    if chunk is None:
        units = sum(getattr(layer, "n_out", 0) for layer in obj.model.layers) + obj.A0.shape[0]
        chunk = int(max(1, min(d, 4e6 // max(1, 3 * units * obj.A0.shape[1]))))
    H = np.empty((d, d), dtype=obj.model.dtype)
    eye = np.eye(d, dtype=obj.model.dtype)
    for start in range(0, d, chunk):
        H[start:start + chunk] = hvp(obj, eye[start:start + chunk])
    return H
