r"""Weight initializers: functions of ``(shape, rng)`` returning an array of that shape.

``shape`` is ``(n_out, n_in)`` for a weight matrix (the lecture's ``W^{[l]}`` is
(n_l, n_{l-1})), so ``fan_in = shape[1]`` and ``fan_out = shape[0]``. The generator is passed
in explicitly; nothing here keeps global random state.

============== ==================================================
name           distribution
============== ==================================================
zeros          0 (no symmetry breaking: every hidden unit stays identical)
normal         N(0, std²), ``std`` = ε, the lecture's small random numbers (default 0.01)
uniform        U(−limit, limit), default limit 0.05
xavier_normal  N(0, 2 / (fan_in + fan_out))            (Glorot & Bengio, 2010)
xavier_uniform U(±√(6 / (fan_in + fan_out)))
he_normal      N(0, 2 / fan_in)                        (He et al., 2015)
he_uniform     U(±√(6 / fan_in))
lecun_normal   N(0, 1 / fan_in)                        (LeCun et al., 1998)
============== ==================================================

An initializer may be given by name (``"he_normal"``), as a dict with arguments
(``{"name": "normal", "std": 0.5}``) or as any callable ``f(shape, rng)``.
"""

from __future__ import annotations

import functools

import numpy as np

from .._validation import check_float


def _fans(shape):
    if len(shape) == 1:
        return shape[0], shape[0]
    return shape[1], shape[0]


def zeros(shape, rng=None):
    """All zeros."""
    return np.zeros(shape)


def normal(shape, rng, std=0.01):
    """N(0, std²): the lecture's ``W ~ N(0, ε)`` with ε = ``std``."""
    check_float(std, "std", low=0.0)
    return rng.normal(0.0, std, size=shape)


def uniform(shape, rng, limit=0.05):
    """U(−limit, limit)."""
    check_float(limit, "limit", low=0.0)
    return rng.uniform(-limit, limit, size=shape)


def xavier_normal(shape, rng):
    """N(0, 2 / (fan_in + fan_out)): keeps activation variance through tanh/sigmoid layers."""
    fan_in, fan_out = _fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def xavier_uniform(shape, rng):
    """U(±√(6 / (fan_in + fan_out)))."""
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def he_normal(shape, rng):
    """N(0, 2 / fan_in): keeps activation variance through ReLU layers."""
    fan_in, _ = _fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


def he_uniform(shape, rng):
    """U(±√(6 / fan_in))."""
    fan_in, _ = _fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


def lecun_normal(shape, rng):
    """N(0, 1 / fan_in)."""
    fan_in, _ = _fans(shape)
    return rng.normal(0.0, np.sqrt(1.0 / fan_in), size=shape)


INITIALIZERS = {
    "zeros": zeros,
    "normal": normal,
    "uniform": uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "glorot_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "kaiming_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "lecun_normal": lecun_normal,
}


def get(spec):
    """Resolve an initializer given by name, ``{"name": ..., **kwargs}`` dict, or callable."""
    if callable(spec):
        return spec
    if isinstance(spec, dict):
        kwargs = dict(spec)
        name = kwargs.pop("name", None)
        if name is None:
            raise ValueError("an initializer dict needs a 'name' key, e.g. "
                             "{'name': 'normal', 'std': 0.1}")
        fn = get(name)
        for k, v in kwargs.items():
            check_float(v, f"init argument {k!r}", low=0.0)
        return functools.partial(fn, **kwargs)
    if not isinstance(spec, str):
        raise TypeError(f"init must be a name, a dict or a callable, got {spec!r}")
    key = spec.lower().replace("-", "_")
    if key not in INITIALIZERS:
        raise ValueError(f"unknown init {spec!r}; choose one of: "
                         f"{', '.join(sorted(INITIALIZERS))} or pass a callable (shape, rng)")
    return INITIALIZERS[key]
