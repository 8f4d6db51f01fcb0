r"""First-order optimizers: one vectorized step over the flat parameter vector θ.

Each optimizer sees one flat ``theta`` and one flat ``grad`` (``model.params``,
``model.grads``); its state (velocity, accumulators, moments) is arrays of that length, made on
the first step. The learning rate is supplied per step by the schedule (as in optax):
``opt.step(theta, grad, lr)``; without one, the optimizer's own ``lr`` is used.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_float


class Optimizer:
    """Base class: validates ``lr``, counts steps ``t``, (de)serializes state.

    Subclasses implement ``_update(theta, grad, lr)`` in place and list their state arrays in
    ``_state_names``.
    """

    _state_names: tuple[str, ...] = ()
    #: True for optimizers that need to re-evaluate the objective (Newton); ``fit`` then passes
    #: ``closure=`` to :meth:`step`.
    needs_closure = False

    def __init__(self, lr: float = 0.01):
        self.lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
        self.t = 0

    def step(self, theta: np.ndarray, grad: np.ndarray, lr: float | None = None,
             closure=None) -> None:
        """Update ``theta`` in place from ``grad``, with rate ``lr`` (default ``self.lr``)."""
        lr = self.lr if lr is None else lr
        self.t += 1
        self._update(theta, grad, lr)

    def _update(self, theta, grad, lr):
        raise NotImplementedError

    def _zeros(self, name, like):
        arr = getattr(self, name, None)
        if arr is None or arr.shape != like.shape or arr.dtype != like.dtype:
            arr = np.zeros_like(like)
            setattr(self, name, arr)
        return arr

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
        return {"lr": self.lr}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    r"""Gradient descent, the lecture's first rule.

    .. math::

        \theta_{t+1} = \theta_t - \alpha \nabla J(\theta_t)

    α is ``lr``. With ``fit(batch_size=None)`` this is full-batch gradient descent, with
    ``batch_size=1`` stochastic gradient descent, and mini-batch GD in between.

    Examples
    --------
    >>> import numpy as np, neuralab as nl
    >>> theta, grad = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    >>> nl.optim.SGD(lr=0.1).step(theta, grad); theta
    array([0.95, 2.1 ])
    """

    def _update(self, theta, grad, lr):
        theta -= lr * grad


GD = SGD

OPTIMIZERS = {"sgd": SGD, "gd": SGD}


def get(spec, **kwargs) -> Optimizer:
    """An optimizer from a name ("sgd", "adam", ...) and keyword arguments, or an instance."""
    if isinstance(spec, Optimizer):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"optimizer must be a name or an Optimizer, got {spec!r}")
    key = spec.lower().replace("-", "_")
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {spec!r}; choose one of: "
                         f"{', '.join(sorted(OPTIMIZERS))}")
    return OPTIMIZERS[key](**kwargs)
