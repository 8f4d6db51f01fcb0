"""Layers: the building blocks of a network, computing on examples stored as columns.

Inside a layer, a batch of ``m`` examples is a matrix with one column per example:
``A_prev`` is (n_{l-1}, m) and the layer's output is (n_l, m), as on the lecture's
vectorization slide. The public API (``Sequential.forward``) takes samples as rows and
transposes once, as a view, at the model's boundary.
"""

from __future__ import annotations

import numpy as np

from . import init as _init
from ._validation import check_array, check_int


class Layer:
    """Base class. A layer with parameters exposes them as views into the model's flat θ.

    Subclasses implement ``forward(A_prev)`` and ``backward(dA)`` over column batches. A layer
    with parameters also implements ``param_shapes`` and ``init_params``; the model calls
    ``_bind`` to hand it its slices of the flat parameter and gradient vectors.
    """

    #: True for layers that own trainable parameters.
    trainable = False

    def param_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of each parameter, in the order they sit in θ."""
        return []

    @property
    def n_params(self) -> int:
        return int(sum(np.prod(shape) for _, shape in self.param_shapes()))

    def _bind(self, theta: np.ndarray, grad: np.ndarray) -> None:
        """Receive this layer's slices of θ and ∇θ (1-D views)."""

    def init_params(self, rng: np.random.Generator) -> None:
        """Fill this layer's parameters (in place) using ``rng``."""

    def output_size(self, n_in: int) -> int:
        """Number of units this layer outputs given ``n_in`` inputs."""
        return n_in

    def forward(self, A_prev: np.ndarray, training: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dA: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this layer (for model files)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    r"""Fully connected layer ``Z = W A_prev + b``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths; ``W`` is (n_out, n_in) like ``torch.nn.Linear.weight``,
        ``b`` is (n_out, 1).
    init : str or callable, default "he_normal"
        Weight initializer, by name (see :mod:`neuralab.init`) or a callable
        ``init(shape, rng) -> array``.
    bias_init : str or callable, default "zeros"
        Bias initializer.

    Notes
    -----
    With examples as columns and ``m`` examples in the batch:

    .. math::

        Z = W A_{prev} + b, \qquad
        dW = \tfrac{1}{m}\, dZ\, A_{prev}^T, \qquad
        db = \tfrac{1}{m} \textstyle\sum_i dZ_{:,i}, \qquad
        dA_{prev} = W^T dZ

    ``dZ`` arrives unscaled (per example); the 1/m of the batch mean is applied here.

    ``W``, ``b``, ``dW``, ``db`` are views into the model's θ and ∇θ. Assigning one
    (``layer.W = array``) copies the values into θ after a shape check (``b`` also takes
    shape (n_out,)); ``layer.W[...] = ...`` writes in place as before.

    Examples
    --------
    >>> import numpy as np, neuralab as nl
    >>> layer = nl.Dense(3, 2)
    >>> layer.param_shapes()
    [('W', (2, 3)), ('b', (2, 1))]
    """

    trainable = True

    def __init__(self, n_in: int, n_out: int, init="he_normal", bias_init="zeros"):
        self.n_in = check_int(n_in, "n_in", minimum=1)
        self.n_out = check_int(n_out, "n_out", minimum=1)
        self.init = init
        self.bias_init = bias_init
        self._init_fn = _init.get(init)
        self._bias_init_fn = _init.get(bias_init)
        self._W = self._b = self._dW = self._db = None
        self._A_prev = None

    def param_shapes(self):
        return [("W", (self.n_out, self.n_in)), ("b", (self.n_out, 1))]

    def _bind(self, theta, grad):
        k = self.n_out * self.n_in
        self._W = theta[:k].reshape(self.n_out, self.n_in)
        self._b = theta[k:].reshape(self.n_out, 1)
        self._dW = grad[:k].reshape(self.n_out, self.n_in)
        self._db = grad[k:].reshape(self.n_out, 1)

    def _assign(self, name, value):
        """``layer.<name> = value``: copy into the view (θ or ∇θ), never rebind it."""
        view = getattr(self, "_" + name)
        if value is view:       # an in-place operator (layer.dW *= s) has written into it
            return
        if view is None:
            raise ValueError(f"Dense.{name} does not exist until the layer is in a model "
                             "(nl.Sequential([...]) makes it a view into model.params)")
        value = check_array(value, name, dtype=view.dtype, ndim=None)
        if name in ("b", "db") and value.shape == (self.n_out,):
            value = value[:, None]
        if value.shape != view.shape:
            raise ValueError(f"{name} must have shape {view.shape} (n_out, "
                             f"{'n_in' if name in ('W', 'dW') else '1'}), got {value.shape}; "
                             f"the values are copied into the model's flat vector (write "
                             f"layer.{name}[...] = ... to set part of it)")
        view[...] = value

    def __setstate__(self, state):
        for name in ("W", "b", "dW", "db"):     # pickled when these were plain attributes
            if name in state:
                state["_" + name] = state.pop(name)
        self.__dict__.update(state)

    W = property(lambda self: self._W, lambda self, v: self._assign("W", v),
                 doc="Weights (n_out, n_in): a view into θ; assignment copies into it.")
    b = property(lambda self: self._b, lambda self, v: self._assign("b", v),
                 doc="Bias (n_out, 1): a view into θ; assignment copies into it.")
    dW = property(lambda self: self._dW, lambda self, v: self._assign("dW", v),
                  doc="∂J/∂W (n_out, n_in): a view into ∇θ; assignment copies into it.")
    db = property(lambda self: self._db, lambda self, v: self._assign("db", v),
                  doc="∂J/∂b (n_out, 1): a view into ∇θ; assignment copies into it.")

    def init_params(self, rng):
        self.W[...] = self._init_fn((self.n_out, self.n_in), rng)
        self.b[...] = self._bias_init_fn((self.n_out, 1), rng)

    def output_size(self, n_in):
        if n_in != self.n_in:
            raise ValueError(f"Dense expects {self.n_in} inputs but receives {n_in}")
        return self.n_out

    def forward(self, A_prev, training=True):
        if training:
            self._A_prev = A_prev
        Z = self.W @ A_prev
        Z += self.b
        return Z

    def backward(self, dZ, need_input_grad=True):
        A_prev = self._A_prev
        m = A_prev.shape[1]
        np.matmul(dZ, A_prev.T, out=self.dW)
        self.dW *= 1.0 / m
        np.sum(dZ, axis=1, keepdims=True, out=self.db)
        self.db *= 1.0 / m
        return self.W.T @ dZ if need_input_grad else None

    def get_config(self):
        cfg = {"n_in": self.n_in, "n_out": self.n_out}
        if isinstance(self.init, str):
            cfg["init"] = self.init
        if isinstance(self.bias_init, str):
            cfg["bias_init"] = self.bias_init
        return cfg
