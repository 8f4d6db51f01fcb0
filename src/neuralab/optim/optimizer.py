"""The base class of every optimizer: validation, the step count ``t``, state (de)serialization."""

from __future__ import annotations

import numpy as np

from .._validation import check_float


def check_beta(value, name):
    """A decay rate β in [0, 1), named in the error."""
    return check_float(value, name, low=0.0, high=1.0, high_inclusive=False)


def torch_alias(value, default, alias, name, alias_name):
    """``value`` or PyTorch's name for it (``alias``), refusing both at once.

    ``Momentum(lr, momentum=0.9)`` reads as ``torch.optim.SGD`` does; the lecture's symbol
    (``beta``) stays the primary name.
    """
    if alias is None:
        return value
    if value != default:
        raise TypeError(f"pass {name} or {alias_name} (PyTorch's name for it), not both")
    return alias


#: Every optimizer by name (filled by :meth:`Optimizer.__init_subclass__` from ``names``).
OPTIMIZERS: dict[str, type[Optimizer]] = {}


class Optimizer:
    """Base class: validates ``lr``, counts steps ``t``, (de)serializes state.

    A subclass lists the names :func:`neuralab.optim.get` knows it by in ``names`` (it
    registers itself) and declares what it needs of a training run (``needs_closure``,
    :meth:`check_run`) and of the divergence guard (:meth:`step_bound`).

    Subclasses implement ``_update(theta, grad, lr)`` in place and list their state arrays in
    ``_state_names``. ``_update`` may return whether the new θ is all finite when it learns
    that for free (Adam's fused kernel does); :meth:`step` passes it on.
    """

    _state_names: tuple[str, ...] = ()
    #: True for optimizers that need to re-evaluate the objective (Newton); ``fit`` then passes
    #: ``closure=`` to :meth:`step`.
    needs_closure = False
    names: tuple[str, ...] = ()
    #: Why this optimizer cannot train with a regularizer (None: it can). Declared here once;
    #: ``fit``, the CLI and the playground ask :meth:`check_run`.
    no_regularizer: str | None = None
    #: True when the optimizer needs the model's exact second derivatives (Newton).
    second_order = False

    @classmethod
    def check_run(cls, regularizer=None, model=None) -> None:
        """Raise ValueError if this optimizer cannot train ``model`` with ``regularizer``
        (either may be None: not known yet)."""
        if regularizer is not None and cls.no_regularizer is not None:
            raise ValueError(f"regularizer cannot be used with {cls.__name__} "
                             f"({cls.no_regularizer}); use a first-order optimizer or drop "
                             "the regularizer")
        if model is not None and cls.second_order:
            for layer in model.layers:
                layer.refuse_second_order(cls.__name__)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in vars(cls).get("names", ()):
            OPTIMIZERS[name] = cls

    def __init__(self, lr: float = 0.01, weight_decay: float = 0.0):
        self.lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
        self.weight_decay = check_float(weight_decay, "weight_decay", low=0.0)
        self.t = 0
        self._work: dict = {}     # work buffers reused between steps (not state)

    def step(self, theta: np.ndarray, grad: np.ndarray, lr: float | None = None,
             closure=None) -> bool | None:
        """Update ``theta`` in place from ``grad``, with rate ``lr`` (default ``self.lr``).

        ``grad`` is never modified. Returns True/False when the update itself saw whether
        every new θ is finite, else None (nothing checked).
        """
        lr = self.lr if lr is None else lr
        self.t += 1
        return self._update(theta, self._decayed(theta, grad), lr)

    def _update(self, theta, grad, lr):
        raise NotImplementedError

    def step_bound(self):
        """An object that can prove the next steps leave θ finite, so that the divergence
        guard may skip its copy of θ (Adam offers one), or None: the guard copies θ."""
        return None

    def _decayed(self, theta, grad):
        """``grad + weight_decay * theta`` (PyTorch's L2 form) in a scratch buffer, or ``grad``."""
        if self.weight_decay == 0.0:
            return grad
        g = self._scratch("g", grad)
        np.multiply(theta, self.weight_decay, out=g)
        g += grad
        return g

    def _zeros(self, name, like):
        """The state array ``name``, created as zeros shaped like ``like`` on first use."""
        arr = getattr(self, name, None)
        if arr is None or arr.shape != like.shape or arr.dtype != like.dtype:
            arr = np.zeros_like(like)
            setattr(self, name, arr)
        return arr

    def _scratch(self, name, like, size=None):
        """A reusable work buffer (not state) of ``like``'s dtype: saves a temporary per step.

        Shaped like ``like``, or 1-D of ``size`` elements.
        """
        shape = like.shape if size is None else (size,)
        arr = self._work.get(name)
        if arr is None or arr.shape != shape or arr.dtype != like.dtype:
            arr = self._work[name] = np.empty(shape, dtype=like.dtype)
        return arr

    def _state(self, name):
        arr = getattr(self, name, None)
        if arr is None:
            raise RuntimeError(f"{type(self).__name__} has no state yet ({name} is made on the "
                               "first step); call step() first")
        return arr

    def effective_lr(self, lr: float | None = None):
        """The per-parameter rate that multiplies the step direction, for rate ``lr``.

        A float for the non-adaptive rules (the same for every parameter); adaptive rules
        return an array shaped like θ.
        """
        return self.lr if lr is None else float(lr)

    def state_dict(self) -> dict:
        """Step count and state arrays (copies), enough to resume exactly."""
        state = {"t": self.t}
        for name in self._state_names:
            arr = getattr(self, name, None)
            if arr is not None:
                state[name] = arr.copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        if not isinstance(state, dict) or "t" not in state:
            raise ValueError("optimizer state must be a dict with at least 't'")
        self.t = int(state["t"])
        for name in self._state_names:
            setattr(self, name, None if name not in state else np.array(state[name]))

    def get_config(self) -> dict:
        """The constructor arguments (what rebuilds this optimizer), without its state."""
        return {k: v for k, v in vars(self).items()
                if not k.startswith("_") and not k.endswith("_") and k != "t"
                and isinstance(v, (int, float, bool, str))}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
