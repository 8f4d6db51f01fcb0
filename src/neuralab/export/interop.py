r"""PyTorch interop: move a network to ``torch.nn.Sequential`` and back, with the same outputs.

A neuralab ``Dense`` layer and ``torch.nn.Linear`` store the same matrix in the same
orientation: ``W`` is (n_out, n_in) in both, so ``Linear.weight = W`` and
``Linear.bias = b[:, 0]`` (neuralab keeps ``b`` as a column). The activations map one to one:

================= ===================================
neuralab          PyTorch
================= ===================================
``Dense(i, o)``   ``Linear(i, o)``
``Sigmoid``       ``Sigmoid``
``Tanh``          ``Tanh``
``ReLU``          ``ReLU``
``LeakyReLU(α)``  ``LeakyReLU(negative_slope=α)``
``Identity``      ``Identity``
``Softmax``       ``Softmax(dim=1)`` (over the units of each sample)
================= ===================================

PyTorch stays optional: it is imported inside the functions, never by ``import neuralab``.
"""

from __future__ import annotations

import numpy as np

from ..nn.layers import LAYERS, Dense
from ..nn.model import Sequential


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed in the test env
        raise ImportError("neuralab.interop needs PyTorch; install it with `pip install torch`"
                          ) from exc
    return torch


def _as_model(model) -> Sequential:
    """A neuralab Sequential, also from a fitted ``neuralab.sklearn`` estimator (``model_``)."""
    if isinstance(model, Sequential):
        return model
    inner = getattr(model, "model_", None)
    if isinstance(inner, Sequential):
        return inner
    raise TypeError(f"model must be a neuralab Sequential (or a fitted neuralab.sklearn "
                    f"estimator), got {type(model).__name__}")


def to_torch(model, *, drop_preprocessing: bool = False):
    r"""An equivalent ``torch.nn.Sequential`` with copies of the parameters.

    Parameters
    ----------
    model : Sequential
        A neuralab network (or a fitted ``neuralab.sklearn`` estimator).
    drop_preprocessing : bool, default False
        The torch network holds the layers only. A model with ``preprocessing`` (input
        scaling, feature maps) is refused unless this is True; then the torch network takes
        the first layer's input, and you apply the steps yourself
        (``X1 = step.transform(X)`` for each step of ``model.preprocessing``). The class
        labels (``model.classes``) are not carried either: output k is ``classes[k]``.

    Returns
    -------
    torch.nn.Sequential
        In the model's dtype (float32 or float64). For samples as rows ``X`` (m, n_in),

        .. math::

            \mathrm{torch}(X) = \mathrm{model.forward}(X)

        up to rounding; ``Linear`` holds ``weight = W`` and ``bias = b[:, 0]``.

    Examples
    --------
    >>> import numpy as np, neuralab as nl
    >>> model = nl.MLP([4, 8, 3], seed=0)
    >>> net = nl.interop.to_torch(model)
    >>> net
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=3, bias=True)
      (3): Softmax(dim=1)
    )
    """
    torch = _torch()
    nn = torch.nn
    model = _as_model(model)
    if model.preprocessing and not drop_preprocessing:
        raise ValueError(f"to_torch: this model has preprocessing "
                         f"({', '.join(type(s).__name__ for s in model.preprocessing)}), which "
                         "a torch.nn.Sequential of the layers would not apply; pass "
                         "drop_preprocessing=True and transform the inputs yourself")
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[
        model.dtype]
    modules = []
    for i, layer in enumerate(model.layers):
        try:
            modules.append(layer.to_torch(torch, dtype))
        except TypeError as exc:
            raise TypeError(f"to_torch: layer {i} ({type(layer).__name__}) has no PyTorch "
                            f"equivalent here; {str(exc).split('; ')[-1]}") from None
    return nn.Sequential(*modules)


def _flatten(module):
    nn = _torch().nn
    if isinstance(module, nn.Sequential):
        for child in module:
            yield from _flatten(child)
    else:
        yield module


def from_torch(module, dtype=None) -> Sequential:
    """A neuralab ``Sequential`` with the layers and parameters of a torch ``Sequential``.

    Parameters
    ----------
    module : torch.nn.Sequential or torch.nn.Linear
        ``Linear`` layers and the activations ``Sigmoid``, ``Tanh``, ``ReLU``,
        ``LeakyReLU``, ``Identity`` and ``Softmax(dim=1 or -1)``; nested ``Sequential``
        containers are flattened. A ``Linear`` without bias gets ``b = 0``.
    dtype : {"float32", "float64"} or None, default None
        None takes the dtype of the first ``Linear`` weight.

    Returns
    -------
    Sequential
        ``model.forward(X)`` equals ``module(X)`` up to rounding: ``W = weight``,
        ``b = bias[:, None]``.

    Raises
    ------
    TypeError
        Naming the first module that has no neuralab equivalent.
    """
    torch = _torch()
    nn = torch.nn
    if isinstance(module, nn.Linear):
        module = nn.Sequential(module)
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"from_torch expects a torch.nn.Sequential (or Linear), got "
                        f"{type(module).__name__}; rebuild the network as a Sequential")
    twins = {getattr(nn, cls.torch_twin): cls for cls in LAYERS.values()
             if cls.torch_twin and hasattr(nn, cls.torch_twin)}
    layers, linears = [], []
    for i, sub in enumerate(_flatten(module)):
        cls = twins.get(type(sub))
        if cls is None:
            raise TypeError(f"from_torch: module {i} ({sub!r}) is not supported; use one of "
                            f"{', '.join(str(c.torch_twin) for c in twins.values())}")
        try:
            layers.append(cls.from_torch(sub))
        except TypeError as exc:
            raise TypeError(f"from_torch: module {i} ({sub!r}) is not supported; "
                            f"{str(exc).split('; ')[-1]}") from None
        linears.append((layers[-1], sub))
    if not any(isinstance(layer, Dense) for layer in layers):
        raise ValueError("from_torch: the module has no Linear layer to fix its input width")
    if dtype is None:
        dtype = next(str(sub.weight.dtype).removeprefix("torch.")
                     for layer, sub in linears if isinstance(layer, Dense))
    model = Sequential(layers, dtype=dtype)
    for layer, sub in linears:
        layer.load_torch(sub)
    return model
