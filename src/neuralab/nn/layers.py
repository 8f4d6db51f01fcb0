"""Layers: the building blocks of a network, computing on examples stored as columns.

Inside a layer, a batch of ``m`` examples is a matrix with one column per example:
``A_prev`` is (n_{l-1}, m) and the layer's output is (n_l, m), as on the lecture's
vectorization slide. The public API (``Sequential.forward``) takes samples as rows and
transposes once, as a view, at the model's boundary.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int
from . import init as _init

#: Every layer class by name (filled by :meth:`Layer.__init_subclass__`): what model files,
#: ``Sequential.from_config`` and the export tables look layers up in.
LAYERS: dict[str, type[Layer]] = {}


class SecondOrderError(TypeError):
    """A layer cannot give what a second-order method (Hessian, Newton, gradcheck) needs."""


class Layer:
    """Base class. A layer with parameters exposes them as views into the model's flat θ.

    Subclasses implement ``forward(A_prev, training)`` and ``backward(dA)`` over column
    batches. A layer with parameters also implements ``param_shapes`` and ``init_params``; the
    model calls ``_bind`` to hand it its slices of the flat parameter and gradient vectors.

    Everything else about a layer is declared here, on the class, and asked of it by the rest
    of the library (one home per concept; a subclass registers itself by its class name):

    - ``get_config()``: the constructor arguments model files store;
    - ``buffers()``: non-trainable state (running statistics), saved in model files and
      checkpoints, changed only by ``forward(..., training=True)``;
    - ``needs_rng`` and ``bind_rng(rng)``: randomness drawn in training (dropout masks) comes
      from the model's layer generator, which checkpoints save;
    - ``r_forward`` / ``r_backward``: the R-operator for exact Hessian-vector products, or a
      :class:`SecondOrderError` naming the layer (:attr:`second_order` False);
    - ``fast_form``: how :mod:`neuralab._fastpath` runs it (``None``: the readable path); only
      a class's own declaration counts, so a subclass that changes a rule is never run by the
      plan of its parent;
    - ``onnx_nodes`` and ``to_torch`` / ``from_torch`` (:attr:`torch_twin`): the exports.
    """

    #: True for layers that own trainable parameters.
    trainable = False
    #: True for layers that draw random numbers in training (they get ``bind_rng``).
    needs_rng = False
    #: Whether the layer has exact second derivatives (``r_forward`` / ``r_backward``).
    second_order = True
    #: Whether a training pass is a function of θ alone (False: it draws random numbers).
    deterministic = True
    #: How the fast path runs this layer (see :mod:`neuralab._fastpath`), or None.
    fast_form: str | None = None
    #: Name of the ``torch.nn`` module class that is this layer's twin, or None.
    torch_twin: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "fast_form" not in cls.__dict__:
            cls.fast_form = None          # only a class's own declaration counts
        if not cls.__name__.startswith("_") and not cls.__dict__.get("abstract", False):
            LAYERS[cls.__name__] = cls

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

    @classmethod
    def config_n_params(cls, config: dict) -> int:
        """The parameter count of the layer ``config`` describes, without building it (model
        files are checked before anything large is allocated); ValueError if malformed."""
        return 0

    @staticmethod
    def _positive_ints(config: dict, *keys: str) -> list[int]:
        values: list = [config.get(k) for k in keys]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            raise ValueError(f"needs positive integer {' and '.join(keys)}, got "
                             f"{', '.join(map(repr, values))}")
        return values

    # ------------------------------------------------------------------ state and modes
    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable state arrays by name (saved in model files and checkpoints)."""
        return {}

    def _setup(self, n_in: int, dtype) -> None:
        """Called by the model once the input width and dtype are known (buffers)."""

    def bind_rng(self, rng: np.random.Generator) -> None:
        """Receive the generator this layer draws its training randomness from."""

    # ------------------------------------------------------------------ second order
    def refuse_second_order(self, what: str, exact: bool = True) -> None:
        """Raise :class:`SecondOrderError` naming this layer unless it has exact g″ (or, with
        ``exact=False``, for the gradient check, unless its training pass is deterministic)."""
        if not self.second_order and (exact or not self.deterministic):
            raise SecondOrderError(f"{what} cannot use a model with {type(self).__name__}: "
                                   f"{self._no_second_order}")

    _no_second_order = "it has no exact second derivative here"

    def r_forward(self, V, A, RA):
        """Forward with Pearlmutter's R-operator: ``(A_out, R{A_out}, cache)``.

        ``V`` is the directions' slice over this layer's parameters (k, n_params), ``A`` the
        input, ``RA`` its R-derivative (None where it is 0).
        """
        self.refuse_second_order("hessian")
        raise SecondOrderError(f"{type(self).__name__} has no R-operator")

    def r_backward(self, cache, V, dA, RdA, out, gauss_newton):
        """Backward with the R-operator: fills ``out`` (k, n_params) with R{∇θ}, returns
        ``(dA_prev, R{dA_prev})``."""
        raise SecondOrderError(f"{type(self).__name__} has no R-operator")

    # ------------------------------------------------------------------ exports
    def onnx_nodes(self, onnx, name: str, source: str, out: str, weights: list) -> list:
        """The ONNX nodes computing this layer at inference from ``source`` into ``out``."""
        supported = ", ".join(n for n, c in LAYERS.items() if c.onnx_nodes is not Layer.onnx_nodes
                              and getattr(c, "onnx_op", True))
        raise TypeError(f"export_onnx: layer {name} ({type(self).__name__}) has no ONNX "
                        f"mapping; supported: {supported}")

    def to_torch(self, torch, dtype):
        """The ``torch.nn`` module twin of this layer (at the same parameters)."""
        raise TypeError(f"to_torch: {type(self).__name__} has no PyTorch equivalent here; "
                        f"supported: {', '.join(n for n, c in LAYERS.items() if c.torch_twin)}")

    @classmethod
    def from_torch(cls, module) -> Layer:
        """This layer from its ``torch.nn`` twin ``module`` (parameters copied after binding
        by :meth:`load_torch`)."""
        raise TypeError(f"from_torch: {type(module).__name__} has no neuralab equivalent")

    def load_torch(self, module) -> None:
        """Copy the twin's parameters and buffers into this (bound) layer."""

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
    fast_form = "dense"
    torch_twin = "Linear"

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

    @classmethod
    def config_n_params(cls, config):
        n_in, n_out = cls._positive_ints(config, "n_in", "n_out")
        return n_out * n_in + n_out

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

    # ------------------------------------------------------------------ second order
    def _split(self, V):
        """Direction rows over this layer's slice → (k, n_out, n_in) and (k, n_out, 1)."""
        k = self.n_out * self.n_in
        return (V[:, :k].reshape(-1, self.n_out, self.n_in),
                V[:, k:].reshape(-1, self.n_out, 1))

    def r_forward(self, V, A, RA):
        r"""``Z = W A + b`` and :math:`\mathcal R\{Z\} = V_W A + W \mathcal R\{A\} + V_b`."""
        VW, Vb = self._split(V)
        Z = self.W @ A + self.b
        RZ = VW @ A + Vb
        if RA is not None:
            RZ += self.W @ RA
        return Z, RZ, (A, RA)

    def r_backward(self, cache, V, dZ, RdZ, out, gauss_newton, need_input_grad=True):
        r""":math:`\mathcal R\{dW\} = \tfrac1m(\mathcal R\{dZ\} A^T + dZ\,\mathcal R\{A\}^T)`,
        :math:`\mathcal R\{db\}`, and :math:`\mathcal R\{dA\} = V_W^T dZ + W^T \mathcal R\{dZ\}`."""
        A_prev, RA_prev = cache
        m = A_prev.shape[1]
        VW, _ = self._split(V)
        RdW = RdZ @ A_prev.T
        if RA_prev is not None and not gauss_newton:
            RdW += dZ @ RA_prev.swapaxes(-1, -2)
        Rdb = RdZ.sum(axis=-1, keepdims=True)
        k = self.n_out * self.n_in
        out[:, :k] = RdW.reshape(len(V), k) / m
        out[:, k:] = Rdb.reshape(len(V), self.n_out) / m
        if not need_input_grad:
            return None, None
        RdA = self.W.T @ RdZ
        if not gauss_newton:
            RdA += VW.swapaxes(-1, -2) @ dZ
        return self.W.T @ dZ, RdA

    # ------------------------------------------------------------------ exports
    def onnx_nodes(self, onnx, name, source, out, weights):
        W, b = f"W{name}", f"b{name}"
        weights += [onnx.numpy_helper.from_array(np.array(self.W), W),
                    onnx.numpy_helper.from_array(np.array(self.b[:, 0]), b)]
        return [onnx.helper.make_node("Gemm", [source, W, b], [out], name=f"dense{name}",
                                      transB=1)]

    def to_torch(self, torch, dtype):
        linear = torch.nn.Linear(self.n_in, self.n_out, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(self.W)))
            linear.bias.copy_(torch.from_numpy(np.array(self.b[:, 0])))
        return linear

    @classmethod
    def from_torch(cls, module):
        return cls(module.in_features, module.out_features)

    def load_torch(self, module):
        self.W[...] = module.weight.detach().cpu().numpy()
        self.b[...] = 0.0 if module.bias is None else \
            module.bias.detach().cpu().numpy()[:, None]
