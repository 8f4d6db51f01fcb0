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

from .._validation import check_float
from .layers import Layer, SecondOrderError

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


#: Every activation by name and alias (filled by :meth:`Activation.__init_subclass__`):
#: what :func:`get`, the CLI's and the playground's choice lists read.
ACTIVATIONS: dict[str, type[Activation]] = {}


class Activation(Layer):
    """Base class of the elementwise activation layers: ``A = g(Z)``, ``dZ = dA ⊙ g′(Z)``.

    A subclass sets ``name`` (and optional ``aliases``) and registers itself under them; it
    declares its second derivative (:meth:`derivatives`), its ONNX operator (``onnx_op``),
    its ``torch.nn`` twin (``torch_twin``) and how the fast path runs it (``fast_form``:
    ``"elementwise"`` uses ``g`` and ``g_prime``).
    """

    abstract = True
    name = "activation"
    aliases: tuple[str, ...] = ()
    #: Whether it may sit between hidden layers (False: an output activation only).
    hidden = True
    #: The ONNX operator computing g (own declaration only, like ``fast_form``), or None.
    onnx_op: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for attr in ("onnx_op", "torch_twin"):
            if attr not in cls.__dict__:
                setattr(cls, attr, None)       # a subclass may change the rule: no inherited twin
        if "name" in cls.__dict__ and not cls.__dict__.get("abstract", False):
            for key in (cls.name, *cls.aliases):
                ACTIVATIONS[key] = cls

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

    # ------------------------------------------------------------------ second order
    def derivatives(self, Z, A):
        """g′(Z) and g″(Z) for Hessian-vector products (g′ None where it is 1, g″ None where
        it is 0)."""
        raise SecondOrderError(f"Hessian-vector products do not know the second derivative of "
                               f"{type(self).__name__}; define its derivatives(Z, A)")

    def r_forward(self, V, Z, RZ):
        r""":math:`A = g(Z)`, :math:`\mathcal R\{A\} = g'(Z) \odot \mathcal R\{Z\}`."""
        A = self.g(Z)
        gp, _ = self.derivatives(Z, A)
        RA = RZ if gp is None or RZ is None else gp * RZ
        return A, RA, (Z, A, RZ)

    def r_backward(self, cache, V, dA, RdA, out, gauss_newton, need_input_grad=True):
        r""":math:`\mathcal R\{dZ\} = \mathcal R\{dA\} \odot g' + dA \odot g'' \odot
        \mathcal R\{Z\}` (the g″ term dropped for Gauss–Newton)."""
        Z, A, RZ = cache
        gp, gpp = self.derivatives(Z, A)
        if gp is None:
            return dA, RdA
        dZ, RdZ = dA * gp, RdA * gp
        if gpp is not None and RZ is not None and not gauss_newton:
            RdZ += (dA * gpp) * RZ
        return dZ, RdZ

    # ------------------------------------------------------------------ exports
    def _onnx_attrs(self) -> dict:
        return {}

    def onnx_nodes(self, onnx, name, source, out, weights):
        if self.onnx_op is None:
            super().onnx_nodes(onnx, name, source, out, weights)
        return [onnx.helper.make_node(self.onnx_op, [source], [out],
                                      name=f"{self.onnx_op.lower()}{name}",
                                      **self._onnx_attrs())]

    def _torch_kwargs(self) -> dict:
        return {}

    def to_torch(self, torch, dtype):
        if self.torch_twin is None:
            super().to_torch(torch, dtype)
        return getattr(torch.nn, self.torch_twin)(**self._torch_kwargs())

    @classmethod
    def from_torch(cls, module):
        return cls()


class ReLU(Activation):
    r""":math:`\mathrm{ReLU}(z) = \max(0, z)`, derivative 1 for z > 0 and 0 otherwise."""

    name = "relu"
    fast_form = "relu"                       # the compiled bias + ReLU kernels
    onnx_op, torch_twin = "Relu", "ReLU"

    def g(self, Z):
        return np.maximum(Z, 0)

    def g_prime(self, Z, A):
        return Z > 0

    def backward(self, dA, need_input_grad=True):
        return np.multiply(dA, self._Z > 0)

    def derivatives(self, Z, A):
        return (Z > 0).astype(Z.dtype), None


class Tanh(Activation):
    r"""Hyperbolic tangent, :math:`\tanh'(z) = 1 - \tanh^2 z`."""

    name = "tanh"
    fast_form = "tanh"                       # in place: g′ = 1 − A² needs only A
    onnx_op, torch_twin = "Tanh", "Tanh"

    def g(self, Z):
        return np.tanh(Z)

    def g_prime(self, Z, A):
        return 1.0 - A * A

    def derivatives(self, Z, A):
        gp = 1.0 - A * A
        return gp, -2.0 * A * gp             # tanh″ = −2 tanh · tanh′


class Sigmoid(Activation):
    r"""Logistic sigmoid :math:`\sigma(z) = 1/(1+e^{-z})`, :math:`\sigma' = \sigma(1-\sigma)`."""

    name = "sigmoid"
    fast_form = "elementwise"
    onnx_op, torch_twin = "Sigmoid", "Sigmoid"

    def g(self, Z):
        return sigmoid(Z)

    def g_prime(self, Z, A):
        return A * (1.0 - A)

    def derivatives(self, Z, A):
        gp = A * (1.0 - A)
        return gp, gp * (1.0 - 2.0 * A)      # σ″ = σ′(1 − 2σ)


class LeakyReLU(Activation):
    r""":math:`\max(\alpha z, z)`; ``alpha`` is α, the slope for z ≤ 0 (0 ≤ α < 1)."""

    name = "leaky_relu"
    aliases = ("leakyrelu",)
    fast_form = "elementwise"
    onnx_op, torch_twin = "LeakyRelu", "LeakyReLU"

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = check_float(alpha, "alpha", low=0.0, high=1.0, high_inclusive=False)

    def g(self, Z):
        return np.where(Z > 0, Z, Z * Z.dtype.type(self.alpha))

    def g_prime(self, Z, A):
        return np.where(Z > 0, Z.dtype.type(1), Z.dtype.type(self.alpha))

    def derivatives(self, Z, A):
        return np.where(Z > 0, 1.0, self.alpha).astype(Z.dtype), None

    def get_config(self):
        return {"alpha": self.alpha}

    def _onnx_attrs(self):
        return {"alpha": float(self.alpha)}

    def _torch_kwargs(self):
        return {"negative_slope": self.alpha}

    @classmethod
    def from_torch(cls, module):
        return cls(alpha=module.negative_slope)


class Identity(Activation):
    """The identity g(z) = z (a linear output, for regression)."""

    name = "identity"
    aliases = ("linear",)
    fast_form = "identity"
    onnx_op, torch_twin = "Identity", "Identity"

    def g(self, Z):
        return Z

    def backward(self, dA, need_input_grad=True):
        return dA

    def derivatives(self, Z, A):
        return None, None


class Softmax(Activation):
    r"""Softmax over the units of each example (axis 0 of the column batch).

    Backward applies the Jacobian without forming it:
    :math:`dZ = A \odot (dA - \mathbf{1}\,(\mathbf{1}^T (dA \odot A)))`. Followed by
    :class:`~neuralab.losses.CrossEntropy`, the model skips this and starts from ``dZ = A − Y``.
    """

    name = "softmax"
    hidden = False                           # not elementwise: an output layer only
    fast_form = "softmax"                    # output layer only (not elementwise)
    onnx_op, torch_twin = "Softmax", "Softmax"

    def g(self, Z):
        E = np.exp(Z - Z.max(axis=0, keepdims=True))
        E /= E.sum(axis=0, keepdims=True)
        return E

    def backward(self, dA, need_input_grad=True):
        A = self._A
        return A * (dA - np.sum(dA * A, axis=0, keepdims=True))

    def r_forward(self, V, Z, RZ):
        A = self.g(Z)
        RA = None if RZ is None else softmax_jvp(A, RZ)
        return A, RA, (Z, A, RZ)

    def r_backward(self, cache, V, dA, RdA, out, gauss_newton, need_input_grad=True):
        Z, A, RZ = cache
        dZ = softmax_jvp(A, dA)
        if gauss_newton or RZ is None:
            return dZ, softmax_jvp(A, RdA)
        RA = softmax_jvp(A, RZ)
        s = np.sum(dA * A, axis=-2, keepdims=True)
        RdZ = RA * (dA - s) + A * (RdA - np.sum(RdA * A + dA * RA, axis=-2, keepdims=True))
        return dZ, RdZ

    def _onnx_attrs(self):
        return {"axis": -1}

    def _torch_kwargs(self):
        return {"dim": 1}

    @classmethod
    def from_torch(cls, module):
        if module.dim not in (1, -1):
            raise TypeError(f"from_torch: {module!r} is not supported; use Softmax(dim=1)")
        return cls()


def softmax_jvp(A, R):
    """The softmax Jacobian (diag(A) − A Aᵀ per column) applied to R, over the unit axis −2."""
    return A * (R - np.sum(A * R, axis=-2, keepdims=True))


def hidden_names() -> tuple[str, ...]:
    """The names of the registered hidden activations (the CLI's and the playground's choices)."""
    return tuple(name for name, cls in ACTIVATIONS.items() if cls.hidden and name == cls.name)


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
