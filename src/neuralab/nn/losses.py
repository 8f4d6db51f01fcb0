r"""Loss functions J(A, Y), averaged over the batch.

A loss takes what the network outputs (``A``, one row per sample at the public API) and the
targets. Internally the model calls the column-major methods (``_value``, ``_dA``, ``_dZ``):
gradients are returned *per example* (unscaled); the 1/m of the batch mean is applied in
:class:`~neuralab.layers.Dense`, exactly as the lecture writes ``dW = (1/m) dZ A_prevᵀ``.

A network that ends with :class:`~neuralab.activations.Softmax` trained with
:class:`CrossEntropy` (or :class:`~neuralab.activations.Sigmoid` with
:class:`BinaryCrossEntropy`) is *fused*: backpropagation starts from ``dZ = A − Y`` and the loss
value is computed from the logits ``Z``, so logits of ±1e4 give finite losses and gradients.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array
from .activations import Activation, Sigmoid, Softmax


def _logsumexp(Z):
    mx = Z.max(axis=0, keepdims=True)
    return (mx + np.log(np.exp(Z - mx).sum(axis=0, keepdims=True)))[0]


def _softplus(Z):
    """log(1 + e^z) without overflow."""
    return np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z)))


#: Every loss by name (filled by :meth:`Loss.__init_subclass__` from each class's ``names``).
LOSSES: dict[str, type[Loss]] = {}


class Loss:
    """Base class. ``loss(output, y)`` returns the batch-mean loss as a float.

    A subclass lists the names :func:`get` knows it by in ``names`` (it registers itself) and
    may declare ``fast_form`` (how :mod:`neuralab._fastpath` computes it; own declaration only).
    """

    #: the output activation this loss fuses with (None: no fusion)
    fuses_with: type[Activation] | None = None
    names: tuple[str, ...] = ()
    fast_form: str | None = None
    #: Whether its targets are classes (accuracy is then reported).
    classifier = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "fast_form" not in cls.__dict__:
            cls.fast_form = None
        for name in cls.__dict__.get("names", ()):
            LOSSES[name] = cls

    def __call__(self, output, y) -> float:
        A = check_array(output, "output", ndim=None)
        if A.ndim == 1:
            A = A[:, None]
        if A.ndim != 2:
            raise ValueError(f"output must be (m, k), got shape {A.shape}")
        Y = self.prepare_targets(y, A.shape[1], A.shape[0], A.dtype)
        return float(self._value(A.T, Y))

    def fuses(self, layer) -> bool:
        """Whether backprop may start from ``dZ`` of ``layer`` (the output activation)."""
        return self.fuses_with is not None and type(layer) is self.fuses_with

    def prepare_targets(self, y, n_out: int, m: int, dtype):
        """Validate ``y`` for an output of width ``n_out`` and put it in internal form."""
        raise NotImplementedError

    def select(self, Y, idx):
        """The targets of the samples ``idx`` (internal form)."""
        return Y[..., idx]

    def _value(self, A, Y) -> float:
        raise NotImplementedError

    def _dA(self, A, Y):
        raise NotImplementedError

    # Fused path (when the model's last layer is ``fuses_with``).
    def _value_from_logits(self, Z, A, Y) -> float:
        return self._value(A, Y)

    def _dZ(self, A, Y):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_m(y, m):
    if y.shape[0] != m:
        raise ValueError(f"y has {y.shape[0]} samples but X has {m}; they must match")


def _columns(y, n_out, m, dtype, loss, one_per_sample):
    """Targets y (m,) or (m, n_out) as the (n_out, m) columns the layers compute with;
    ``one_per_sample`` says what a 1-D y needs when the model has several outputs."""
    y = check_array(y, "y", dtype=dtype, ndim=None)
    given = y.shape
    if y.ndim == 1 and n_out != 1:
        raise ValueError(f"{loss} got y of shape {given} (one value per sample) but the model "
                         f"has {n_out} outputs: {one_per_sample}, or pass y of shape "
                         f"(m, {n_out})")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] != n_out:
        raise ValueError(f"y must have shape (m,) or (m, {n_out}) for an output of width "
                         f"{n_out}, got {given}")
    _check_m(y, m)
    return np.ascontiguousarray(y.T)


class CrossEntropy(Loss):
    r"""Categorical cross-entropy for a softmax output.

    .. math::

        J = -\frac{1}{m} \sum_{i=1}^m \log a_{y_i}^{(i)}, \qquad
        dZ = A - Y \quad\text{(fused with Softmax)}

    Targets: integer class indices of shape (m,), or one-hot / probability rows (m, k).

    Parameters
    ----------
    from_logits : bool, default False
        Treat the network's output as logits (as ``torch.nn.CrossEntropyLoss`` does), for a
        network that ends in :class:`~neuralab.activations.Identity`.
    """

    names = ("cross_entropy", "crossentropy", "categorical_crossentropy")
    fast_form = "cross_entropy"   # fused with the plan's own softmax
    classifier = True

    fuses_with = Softmax

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def fuses(self, layer):
        return not self.from_logits and super().fuses(layer)

    def prepare_targets(self, y, n_out, m, dtype):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == n_out and n_out > 1:
            Y = check_array(y, "y", dtype=dtype)
            _check_m(Y, m)
            if np.any(Y < 0) or np.any(np.abs(Y.sum(axis=1) - 1) > 1e-3):
                raise ValueError("one-hot y must have non-negative rows summing to 1")
            return np.ascontiguousarray(Y.T)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"y must be class indices (m,) or one-hot (m, {n_out}), "
                             f"got shape {y.shape}")
        yf = check_array(y, "y", ndim=1)
        _check_m(yf, m)
        if np.any(yf != np.round(yf)):
            raise ValueError("y must hold integer class indices for CrossEntropy")
        if yf.min() < 0 or yf.max() >= n_out:
            raise ValueError(f"y has labels outside the classes 0..{n_out - 1} "
                             f"(found {int(yf.min())}..{int(yf.max())}); "
                             "encode labels as 0..k-1 or widen the output layer")
        return yf.astype(np.intp)

    def _value(self, A, Y):
        if self.from_logits:
            return self._value_from_logits(A, None, Y)
        tiny = np.finfo(A.dtype).tiny
        if Y.ndim == 1:
            p = A[Y, np.arange(A.shape[1])]
            return -np.mean(np.log(np.maximum(p, tiny)))
        return -np.sum(Y * np.log(np.maximum(A, tiny))) / A.shape[1]

    def _value_from_logits(self, Z, A, Y):
        lse = _logsumexp(Z)
        if Y.ndim == 1:
            return np.mean(lse - Z[Y, np.arange(Z.shape[1])])
        return np.sum(Y * (lse[None, :] - Z)) / Z.shape[1]

    def _dZ(self, A, Y):
        dZ = A.copy()
        if Y.ndim == 1:
            dZ[Y, np.arange(A.shape[1])] -= 1
        else:
            dZ -= Y
        return dZ

    def _dA(self, A, Y):
        if self.from_logits:
            P = np.exp(A - A.max(axis=0, keepdims=True))
            P /= P.sum(axis=0, keepdims=True)
            return self._dZ(P, Y)
        tiny = np.finfo(A.dtype).tiny
        dA = np.zeros_like(A)
        if Y.ndim == 1:
            cols = np.arange(A.shape[1])
            dA[Y, cols] = -1.0 / np.maximum(A[Y, cols], tiny)
        else:
            dA = -Y / np.maximum(A, tiny)
        return dA

    def get_config(self):
        return {"from_logits": self.from_logits} if self.from_logits else {}


class BinaryCrossEntropy(Loss):
    r"""Binary cross-entropy for sigmoid outputs (the logistic-regression loss).

    .. math::

        J = -\frac{1}{m} \sum_{i=1}^m \big[y^{(i)} \log a^{(i)} + (1-y^{(i)}) \log(1-a^{(i)})\big],
        \qquad dZ = A - Y \quad\text{(fused with Sigmoid)}

    Targets in [0, 1] (usually {0, 1}) of shape (m,) or (m, 1), or (m, k) for k independent
    outputs, averaged over outputs too (as ``torch.nn.BCELoss``).
    """

    names = ("binary_cross_entropy", "binary_crossentropy", "bce")
    classifier = True

    fuses_with = Sigmoid

    def prepare_targets(self, y, n_out, m, dtype):
        y = _columns(y, n_out, m, dtype, "BinaryCrossEntropy", (
            "one label per sample needs one sigmoid output unit (e.g. nl.MLP([n_in, ..., 1], "
            "output='sigmoid')); for two or more softmax outputs use CrossEntropy"))
        if y.min() < 0 or y.max() > 1:
            raise ValueError("y must hold labels in {0, 1} (or probabilities in [0, 1]) for "
                             "BinaryCrossEntropy")
        return y

    def _value(self, A, Y):
        eps = np.finfo(A.dtype).eps
        A = np.clip(A, eps, 1 - eps)
        return -np.sum(Y * np.log(A) + (1 - Y) * np.log1p(-A)) / A.size

    def _value_from_logits(self, Z, A, Y):
        # −[y log σ(z) + (1−y) log(1−σ(z))] = softplus(z) − y z
        return np.sum(_softplus(Z) - Y * Z) / Z.size

    def _dZ(self, A, Y):
        dZ = A - Y
        if A.shape[0] > 1:
            dZ /= A.shape[0]
        return dZ

    def _dA(self, A, Y):
        eps = np.finfo(A.dtype).eps
        Ac = np.clip(A, eps, 1 - eps)
        return (Ac - Y) / (Ac * (1 - Ac)) / A.shape[0]


class MSE(Loss):
    r"""Mean squared error, averaged over samples and outputs (``torch.nn.MSELoss``).

    .. math::

        J = \frac{1}{m k} \sum_{i=1}^m \lVert a^{(i)} - y^{(i)} \rVert^2, \qquad
        dA = \frac{2}{k} (A - Y) \text{ per example}
    """

    names = ("mse", "mean_squared_error")

    def prepare_targets(self, y, n_out, m, dtype):
        return _columns(y, n_out, m, dtype, "MSE",
                        "one target per sample needs one output unit")

    def _value(self, A, Y):
        D = A - Y
        return np.sum(D * D) / D.size

    def _dA(self, A, Y):
        return (A - Y) * (2.0 / A.shape[0])


def get(spec) -> Loss:
    """A loss from a name ("cross_entropy", "bce", "mse"), a class, or an instance."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, type) and issubclass(spec, Loss):
        return spec()
    if not isinstance(spec, str):
        raise TypeError(f"loss must be a name or a Loss, got {spec!r}")
    key = spec.lower().replace("-", "_")
    if key not in LOSSES:
        raise ValueError(f"unknown loss {spec!r}; choose one of: {', '.join(sorted(LOSSES))}")
    return LOSSES[key]()


def default_loss(model) -> Loss:
    """The loss that matches the model's output layer: Softmax → :class:`CrossEntropy`,
    Sigmoid → :class:`BinaryCrossEntropy`, anything else → :class:`MSE`."""
    last = model.layers[-1]
    if isinstance(last, Softmax):
        return CrossEntropy()
    if isinstance(last, Sigmoid):
        return BinaryCrossEntropy()
    return MSE()
