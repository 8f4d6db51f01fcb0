"""Models: a sequence of layers owning one flat parameter vector θ and one flat gradient ∇θ.

Every layer's ``W``, ``b``, ``dW``, ``db`` is a reshaped *view* into ``model.params`` /
``model.grads``, so an optimizer updates the whole network with one vectorized step over θ,
Newton's method sees the Hessian over θ, and saving a model is saving one vector.
"""

from __future__ import annotations

import numpy as np

from .. import _display
from .._validation import check_bool, check_float, check_int
from ..backend import resolve_dtype
from . import _fastpath
from . import activations as _act
from ._inputs import ModelInputs, preview
from .activations import Sigmoid, Softmax
from .batchnorm import BatchNorm
from .dropout import Dropout
from .layers import Dense, Layer


class Sequential(ModelInputs):
    """A feed-forward network: ``A^{[l]} = layer_l(A^{[l-1]})``.

    Parameters
    ----------
    layers : list of Layer
        E.g. ``[Dense(64, 32), ReLU(), Dense(32, 10), Softmax()]``. Consecutive ``Dense`` sizes
        must chain.
    seed : int or None, default None
        Seed of the generator that initializes the weights (same seed, same weights).
    dtype : {"float32", "float64"}, default "float32"
    preprocessing : list of steps, optional
        Input transforms without trainable parameters (:mod:`neuralab.preprocessing`:
        ``nl.data.Standardizer``, ``nl.preprocessing.FeatureMap``), applied in order to the
        raw rows before the first layer; their widths must chain into the first ``Dense``.
    classes : sequence, optional
        The original class labels (ints, strings, floats or bools, kept with their type):
        ``classes[k]`` is the label of output class k. Needs a Softmax output (one label per
        unit) or a single Sigmoid unit (two labels). ``predict`` then returns labels and
        ``fit``/``evaluate`` take labels in this form.
    target : str, optional
        Name of the label column (e.g. a CSV header), for the record.
    feature_names : list of str, optional
        Names of the raw input columns (``n_features_in`` of them), for the record.

    Attributes
    ----------
    params : ndarray (n_params,)
        θ, all parameters in one vector (layer order, ``W`` row-major then ``b``).
    grads : ndarray (n_params,)
        ∇θ, filled by :meth:`backward`.
    preprocessing : list
        The input steps (empty without any); settable, checked on assignment.
    classes : ndarray or None
    target : str or None
    feature_names : list of str or None
    n_in : int
        Width of the first layer's input (after the preprocessing).
    n_features_in : int
        Width of the raw rows the model takes (``n_in`` without preprocessing).

    Examples
    --------
    >>> import numpy as np, neuralab as nl
    >>> model = nl.Sequential([nl.Dense(4, 3), nl.ReLU(), nl.Dense(3, 2), nl.Softmax()], seed=0)
    >>> model.params.shape, model.layers[0].W.shape
    ((23,), (3, 4))
    >>> model.forward(np.ones((5, 4))).shape
    (5, 2)
    >>> model.classes = ["cat", "dog"]
    >>> model.predict(np.ones((2, 4))).dtype.kind
    'U'
    """

    #: Set by a callback (EarlyStopping) to end ``fit`` after the current epoch.
    stop_training = False

    def __init__(self, layers, seed: int | None = None, dtype="float32", *,
                 preprocessing=None, classes=None, target: str | None = None,
                 feature_names=None):
        if isinstance(layers, Layer):
            layers = [layers]
        layers = list(layers)
        if not layers:
            raise ValueError("layers is empty; a model needs at least one Dense layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a neuralab Layer (e.g. nl.Dense, "
                                f"nl.ReLU), got {type(layer).__name__}")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("the same layer object appears twice in layers; create a new one")
        self.layers = layers
        self.dtype = resolve_dtype(dtype)
        if seed is not None:
            seed = check_int(seed, "seed", minimum=0)
        self.seed = seed
        self.n_in, self.n_out = self._check_chain()
        n = sum(layer.n_params for layer in layers)
        width = self.n_in
        for layer in layers:                    # buffers in the model's dtype
            layer._setup(width, self.dtype)
            width = layer.output_size(width)
        self._params = np.zeros(n, dtype=self.dtype)
        self._grads = np.zeros(n, dtype=self.dtype)
        self._slices = []
        start = 0
        for layer in layers:
            stop = start + layer.n_params
            layer._bind(self._params[start:stop], self._grads[start:stop])
            self._slices.append(slice(start, stop))
            start = stop
        self.reset_parameters(seed)
        self.bind_rng(np.random.default_rng(None if seed is None else [seed, 1]))
        self.preprocessing = preprocessing
        self.classes = classes
        self.target = target
        self.feature_names = feature_names

    # ------------------------------------------------------------------ structure
    def _check_chain(self):
        n_in = n = None
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                if n is None:
                    n_in = n = layer.n_in
                elif layer.n_in != n:
                    raise ValueError(
                        f"layers do not chain: layers[{i}] is Dense({layer.n_in}, "
                        f"{layer.n_out}) but the layer before outputs {n} units; "
                        f"use Dense({n}, {layer.n_out})")
                n = layer.output_size(n)
            elif n is not None:
                try:
                    n = layer.output_size(n)
                except ValueError as exc:
                    raise ValueError(f"layers do not chain: layers[{i}]: {exc}") from None
        if n_in is None:
            raise ValueError("a model needs at least one Dense layer to fix its input width")
        return n_in, n

    def reset_parameters(self, seed: int | None = None) -> None:
        """Re-initialize every layer from a generator seeded with ``seed``."""
        rng = np.random.default_rng(seed)
        for layer in self.layers:
            layer.init_params(rng)

    def bind_rng(self, rng: np.random.Generator) -> None:
        """Hand ``rng`` to every layer that draws randomness in training (dropout masks).

        ``fit`` binds a generator seeded from its ``seed`` and saves its state in
        checkpoints, so a resumed run draws the same masks."""
        self._layer_rng = rng
        for layer in self.layers:
            if layer.needs_rng:
                layer.bind_rng(rng)

    @property
    def fast_path(self) -> bool:
        """Whether training steps run the fast plan (:mod:`neuralab._fastpath`: every layer
        declares a ``fast_form`` it can run) rather than the readable layer-by-layer pass."""
        return _fastpath._blocks(self.layers) is not None

    @property
    def needs_rng(self) -> bool:
        """Whether a layer draws randomness in training."""
        return any(layer.needs_rng for layer in self.layers)

    def buffers(self) -> dict[str, np.ndarray]:
        """Every layer's non-trainable state, ``"{i}.{name}"`` → array (live, not copies)."""
        return {f"{i}.{name}": value for i, layer in enumerate(self.layers)
                for name, value in layer.buffers().items()}

    def load_buffers(self, arrays: dict, where: str = "buffers") -> None:
        """Copy ``arrays`` (as :meth:`buffers` names them) into the layers' buffers."""
        for key, buf in self.buffers().items():
            value = arrays.get(key)
            shape = None if value is None else np.shape(value)
            if shape != buf.shape:
                raise ValueError(f"{where}: buffer {key!r} is missing or has shape "
                                 f"{shape}, expected {buf.shape}")
            buf[...] = value

    @property
    def params(self) -> np.ndarray:
        """θ: a writable view shared with the layers. Assign with ``model.params[...] = v``."""
        return self._params

    @params.setter
    def params(self, value):
        value = np.asarray(value)
        if value.shape != self._params.shape:
            raise ValueError(f"params must have shape {self._params.shape}, got {value.shape}")
        self._params[...] = value

    @property
    def grads(self) -> np.ndarray:
        """∇θ, filled by :meth:`backward` (a view shared with the layers)."""
        return self._grads

    @property
    def n_params(self) -> int:
        return self._params.size

    @property
    def output_activation(self) -> Layer:
        return self.layers[-1]

    # ------------------------------------------------------------------ computation
    def _forward(self, A, training=False):
        """Forward over a column batch ``A`` (n_in, m); returns the output (n_out, m)."""
        for layer in self.layers:
            A = layer.forward(A, training)
        return A

    def forward(self, X, training: bool = False) -> np.ndarray:
        """Outputs for raw samples as rows: ``X`` (m, n_features_in) → (m, n_out).

        The preprocessing runs first. At inference (``training=False``, the default) nothing
        is cached and no buffer changes; ``training=True`` runs the layers as a training step
        does (dropout masks drawn, batch statistics used and the running ones updated, inputs
        cached for :meth:`backward`), as Keras's ``model(X, training=True)``.
        """
        X = self._check_X(X)
        return self._forward(X.T, training=bool(training)).T

    __call__ = forward

    def backward(self, dA, start: int | None = None, on_grad=None) -> None:
        """Backpropagate ``dA`` (n_out, m columns, per example) and fill :attr:`grads`.

        ``start`` is the index of the layer to begin at (default: the last); the fused loss
        path begins below the output activation with ``dZ``. The input gradient of the first
        layer is not computed (nothing needs it). ``on_grad(layer)``, if given, is called as
        soon as a layer's slice of ∇θ is final (last layer first), e.g. to start its all-reduce.
        """
        last = len(self.layers) - 1 if start is None else start
        for i in range(last, -1, -1):
            dA = self.layers[i].backward(dA, need_input_grad=i > 0)
            if on_grad is not None and self.layers[i].n_params:
                on_grad(self.layers[i])

    def loss_and_grad(self, A0, Y, loss, on_grad=None) -> float:
        """One training pass over a column batch: forward, loss value, backward into grads.

        ``A0`` is (n_in, m); ``Y`` the targets as ``loss.prepare_targets`` returns them;
        ``on_grad`` as in :meth:`backward`.
        A stack of ``Dense`` layers and elementwise activations (every ``MLP``) runs the same
        formulas with buffers reused between steps (:mod:`neuralab._fastpath`); any other
        model runs the layer-by-layer pass below.
        """
        value = _fastpath.loss_and_grad(self, A0, Y, loss, on_grad)
        if value is not None:
            return float(value)
        A = self._forward(A0, training=True)
        self._output = A
        last = self.layers[-1]
        if loss.fuses(last):
            value = loss._value_from_logits(last._Z, A, Y)
            self.backward(loss._dZ(A, Y), start=len(self.layers) - 2, on_grad=on_grad)
        else:
            value = loss._value(A, Y)
            self.backward(loss._dA(A, Y), on_grad=on_grad)
        return float(value)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (m, n_classes), columns in the order of :attr:`classes`.

        A softmax output is returned as is; a single sigmoid unit gives the two columns
        ``[1 − p, p]`` (scikit-learn's convention).
        """
        P = self.forward(X)
        last = self.layers[-1]
        if isinstance(last, Sigmoid) and P.shape[1] == 1:
            return np.hstack([1.0 - P, P])
        if not isinstance(last, Softmax) and not isinstance(last, Sigmoid):
            raise ValueError("predict_proba needs a Softmax or Sigmoid output layer; this "
                             f"model ends with {type(last).__name__}")
        return P

    def predict(self, X) -> np.ndarray:
        """Predictions: the class for Softmax, 0/1 for Sigmoid, the raw output otherwise.

        With :attr:`classes` a class is its original label (``classes[k]``), else its index k.
        """
        P = self.forward(X)
        last = self.layers[-1]
        if isinstance(last, Softmax):
            k = P.argmax(axis=1)
        elif isinstance(last, Sigmoid):
            out = (P >= 0.5).astype(np.intp)
            k = out[:, 0] if out.shape[1] == 1 else out
        else:
            return P[:, 0] if P.shape[1] == 1 else P
        return k if self._classes is None else self._classes[k]

    def __getstate__(self):
        # the training buffers of the fast path are a cache: not part of a copy or a pickle
        state = self.__dict__.copy()
        for key in ("_blocks", "_plans", "_output"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        # a model pickled before preprocessing and labels existed has neither
        for key, default in (("_preprocessing", []), ("_classes", None), ("_target", None),
                             ("_feature_names", None)):
            state.setdefault(key, default)
        self.__dict__.update(state)
        # a pickle (or deepcopy) stores each layer's W, b, dW, db as separate arrays: make them
        # views into the restored θ and ∇θ again, or training would update θ behind their back
        for layer, sl in zip(self.layers, self._slices, strict=True):
            layer._bind(self._params[sl], self._grads[sl])

    # ------------------------------------------------------------------ description
    def summary(self) -> str:
        """A table of the layers with output shapes and parameter counts."""
        rows = [("#", "layer", "output", "params")]
        n = self.n_in
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                n = layer.n_out
            rows.append((str(i), repr(layer), f"(m, {n})", f"{layer.n_params:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        line = "  ".join("-" * w for w in widths)
        out = [f"{type(self).__name__}: input (m, {self.n_in}), dtype {self.dtype.name}"]
        if self._preprocessing:
            out.append(f"preprocessing: raw (m, {self.n_features_in}) -> "
                       + " -> ".join(repr(step) for step in self._preprocessing)
                       + f" -> (m, {self.n_in})")
        if self._classes is not None:
            out.append(f"classes: {preview(self._classes)}")
        out.append(line)
        for j, r in enumerate(rows):
            out.append("  ".join(r[c].ljust(widths[c]) if c < 3 else r[c].rjust(widths[c])
                                 for c in range(4)))
            if j == 0:
                out.append(line)
        out += [line, f"total parameters: {self.n_params:,}"]
        return "\n".join(out)

    def get_config(self) -> dict:
        """The architecture as plain data (what model files store)."""
        return {
            "class": type(self).__name__,
            "dtype": self.dtype.name,
            "layers": [{"type": type(layer).__name__, **layer.get_config()}
                       for layer in self.layers],
        }

    @classmethod
    def from_config(cls, config: dict) -> Sequential:
        """Rebuild a model (with fresh parameters) from :meth:`get_config`'s output."""
        from .layers import LAYERS as known  # every layer class registers itself
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("model config must be a dict with a 'layers' list")
        built = []
        for i, spec in enumerate(config["layers"]):
            if not isinstance(spec, dict) or spec.get("type") not in known:
                raise ValueError(f"model config layers[{i}] has an unknown layer type "
                                 f"{spec.get('type') if isinstance(spec, dict) else spec!r}; "
                                 f"known: {', '.join(sorted(known))}")
            kwargs = {k: v for k, v in spec.items() if k != "type"}
            try:
                built.append(known[spec["type"]](**kwargs))
            except TypeError as exc:
                raise ValueError(f"model config layers[{i}]: {exc}") from None
        model = Sequential(built, seed=None, dtype=config.get("dtype", "float32"))
        subclass = MODEL_CLASSES.get(config.get("class", "Sequential"), Sequential)
        model.__class__ = subclass
        return model

    def _repr_html_(self) -> str: return _display.model_html(self)

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        extra = "".join(f", {k}={v!r}" for k, v in (
            ("preprocessing", self._preprocessing),
            ("classes", None if self._classes is None else self._classes.tolist()))
            if v is not None and len(v))
        return f"{type(self).__name__}([{inner}], dtype={self.dtype.name!r}{extra})"


def check_model(model, name: str = "model") -> Sequential:
    """Check that ``model`` is a neuralab ``Sequential`` (or subclass) before any work."""
    if not isinstance(model, Sequential):
        raise TypeError(f"{name} must be a neuralab model (nl.Sequential, nl.MLP, ...), got "
                        f"{type(model).__name__}")
    return model


# ---------------------------------------------------------------------------- models
class LogisticRegression(Sequential):
    r"""Logistic regression ``y = σ(wᵀx + b)``: one Dense unit and a Sigmoid.

    Train with :class:`~neuralab.losses.BinaryCrossEntropy` (fused: ``dZ = a − y``).
    ``preprocessing``, ``classes``, ``target``, ``feature_names``: as in :class:`Sequential`.
    """

    def __init__(self, n_in: int, init="zeros", seed=None, dtype="float32", *,
                 preprocessing=None, classes=None, target=None, feature_names=None):
        super().__init__([Dense(n_in, 1, init=init), Sigmoid()], seed=seed, dtype=dtype,
                         preprocessing=preprocessing, classes=classes, target=target,
                         feature_names=feature_names)


class Perceptron(Sequential):
    """The lecture's perceptron, a generalized neuron ``y = f(wᵀx + b)`` with any activation f.

    ``preprocessing``, ``classes``, ``target``, ``feature_names``: as in :class:`Sequential`.
    """

    def __init__(self, n_in: int, activation="tanh", init="xavier_uniform", seed=None,
                 dtype="float32", *, preprocessing=None, classes=None, target=None,
                 feature_names=None):
        super().__init__([Dense(n_in, 1, init=init), _act.get(activation)], seed=seed,
                         dtype=dtype, preprocessing=preprocessing, classes=classes,
                         target=target, feature_names=feature_names)


class MLP(Sequential):
    """A multilayer perceptron from layer sizes.

    Parameters
    ----------
    sizes : list of int
        ``[n_in, n_1, ..., n_out]``: at least an input and an output size.
    activation : str, default "relu"
        Hidden activation.
    output : str or None, default "softmax"
        Output activation ("softmax", "sigmoid", "identity"/None).
    init : str or callable, default "he_normal"
        Weight initializer of every Dense layer.
    dropout : float in [0, 1), default 0.0
        Drop probability of an :class:`~neuralab.dropout.Dropout` after each hidden
        activation (0: none).
    batch_norm : bool, default False
        Put a :class:`~neuralab.batchnorm.BatchNorm` between each hidden Dense layer and its
        activation.
    seed, dtype, preprocessing, classes, target, feature_names
        As in :class:`Sequential`; ``sizes[0]`` is the first layer's input, after the
        preprocessing.
    """

    def __init__(self, sizes, activation="relu", output="softmax", init="he_normal", seed=None,
                 dtype="float32", *, dropout: float = 0.0, batch_norm: bool = False,
                 preprocessing=None, classes=None, target=None, feature_names=None):
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < 2:
            raise ValueError(f"sizes must list at least an input and an output size, "
                             f"e.g. [64, 128, 10]; got {sizes!r}")
        for i, s in enumerate(sizes):
            check_int(s, f"sizes[{i}]", minimum=1)
        _act.get(activation)  # validate the name before building
        dropout = check_float(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        batch_norm = check_bool(batch_norm, "batch_norm")
        layers: list[Layer] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(Dense(a, b, init=init))
            if i < len(sizes) - 2:
                if batch_norm:
                    layers.append(BatchNorm(b))
                layers.append(_act.get(activation))
                if dropout:
                    layers.append(Dropout(dropout))
        layers.append(_act.get(output))
        super().__init__(layers, seed=seed, dtype=dtype, preprocessing=preprocessing,
                         classes=classes, target=target, feature_names=feature_names)


class Objective:
    """J(θ) on one fixed batch: what a second-order optimizer re-evaluates.

    ``objective()`` runs forward and backward at the model's current θ, fills ``model.grads``
    and returns the loss. ``model``, ``A0`` (n_in, m columns), ``Y`` (internal targets) and
    ``loss`` are exposed for Hessian computations.
    """

    def __init__(self, model, A0, Y, loss):
        self.model, self.A0, self.Y, self.loss = model, A0, Y, loss

    def __call__(self) -> float:
        return self.model.loss_and_grad(self.A0, self.Y, self.loss)


MODEL_CLASSES = {c.__name__: c for c in (Sequential, LogisticRegression, Perceptron, MLP)}
