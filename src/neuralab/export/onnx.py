"""ONNX export: write a network as a standard ONNX graph that any ONNX runtime can execute.

Each ``Dense`` layer becomes one ``Gemm`` node, ``Y = X Wᵀ + b`` on samples as rows (``transB=1``
reads neuralab's (n_out, n_in) ``W`` as is), each activation its ONNX operator:

================= ===========================
neuralab          ONNX operator
================= ===========================
``Dense``         ``Gemm(transB=1)``
``Sigmoid``       ``Sigmoid``
``Tanh``          ``Tanh``
``ReLU``          ``Relu``
``LeakyReLU(α)``  ``LeakyRelu(alpha=α)``
``Identity``      ``Identity``
``Softmax``       ``Softmax(axis=-1)``
================= ===========================

A model's preprocessing (``model.preprocessing``) comes first in the graph, so the graph takes
raw rows as the model does:

========================== =========================================================
neuralab step              ONNX operators
========================== =========================================================
``Standardizer``           ``Sub`` (μ), ``Div`` (σ)
``FeatureMap``             ``Gather`` (a column), ``Mul`` (x², x·y), ``Sin``, ``Concat``
========================== =========================================================

They compute in the model's dtype (neuralab computes them in float64, then rounds), so a
float32 graph agrees with ``model.forward`` to float32 rounding. Another step type cannot be
exported (an error names it; ``preprocessing=False`` exports the layers only). An ONNX graph
outputs numbers, not labels: the class labels, the label column's and the features' names go
into the model's ``metadata_props`` (``neuralab.classes`` as JSON ``{"type", "values"}``,
``neuralab.target``, ``neuralab.feature_names``), the graph's output ``k`` being
``classes[k]``.

The ``onnx`` package is an optional extra (``pip install neuralab[onnx]``), imported only when
:func:`export_onnx` runs.
"""

from __future__ import annotations

import os

import numpy as np

from ..nn import _inputs
from ..nn.preprocessing import FeatureMap, Standardizer

#: opset of the exported graphs (Softmax with ``axis`` over the last dimension needs >= 13).
OPSET = 17


def _onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("export_onnx needs the onnx package; install the extra with "
                          "`pip install neuralab[onnx]` (or `pip install onnx`)") from exc
    return onnx


def export_onnx(model, path, *, input_name: str = "X", output_name: str = "Y",
                opset: int = OPSET, preprocessing: bool = True):
    """Write ``model`` to ``path`` as an ONNX graph and return the ``onnx.ModelProto``.

    Parameters
    ----------
    model : Sequential
        A neuralab network (or a fitted ``neuralab.sklearn`` estimator, whose ``model_`` is
        exported; a classifier's graph outputs its class probabilities).
    path : str or os.PathLike
        The ``.onnx`` file to write.
    input_name, output_name : str, default "X", "Y"
        Names of the graph's input (batch, n_features_in) and output (batch, n_out); the
        batch dimension is dynamic (named "batch").
    opset : int, default 17
        ONNX operator-set version (at least 13).
    preprocessing : bool, default True
        Put the model's preprocessing in the graph (raw rows in); ``False`` exports the layers
        only (the graph then takes the first layer's input, (batch, n_in)).

    Returns
    -------
    onnx.ModelProto
        The graph, already checked by ``onnx.checker.check_model``. It computes in the model's
        dtype (float32 or float64).

    Examples
    --------
    >>> import numpy as np, onnxruntime as ort, neuralab as nl
    >>> model = nl.MLP([4, 8, 3], seed=0)
    >>> _ = nl.export_onnx(model, "mlp.onnx")                                # doctest: +SKIP
    >>> sess = ort.InferenceSession("mlp.onnx")                            # doctest: +SKIP
    >>> sess.run(None, {"X": np.ones((2, 4), np.float32)})[0].shape         # doctest: +SKIP
    (2, 3)
    """
    from .interop import _as_model

    model = _as_model(model)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike), got {path!r}")
    for name, value in (("input_name", input_name), ("output_name", output_name)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if input_name == output_name:
        raise ValueError("input_name and output_name must differ")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 13:
        raise ValueError(f"opset must be an integer >= 13 (Softmax over axis -1), got {opset!r}")
    onnx = _onnx()
    helper = onnx.helper
    elem = helper.np_dtype_to_tensor_dtype(model.dtype)

    steps = list(model.preprocessing) if preprocessing else []
    nodes: list = []
    weights: list = []
    current = _preprocessing_nodes(onnx, steps, input_name, model.dtype, nodes, weights)
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        out = output_name if i == last else f"a{i}"
        nodes += layer.onnx_nodes(onnx, str(i), current, out, weights)
        current = out

    graph = helper.make_graph(
        nodes, "neuralab",
        inputs=[helper.make_tensor_value_info(
            input_name, elem, ["batch", model.n_features_in if steps else model.n_in])],
        outputs=[helper.make_tensor_value_info(output_name, elem, ["batch", model.n_out])],
        initializer=weights)
    proto = helper.make_model(graph, producer_name="neuralab",
                              opset_imports=[helper.make_opsetid("", opset)])
    _labels_metadata(helper, proto, model)
    onnx.checker.check_model(proto)
    onnx.save(proto, os.fspath(path))
    return proto


def _preprocessing_nodes(onnx, steps, current, dtype, nodes, weights) -> str:
    """Append the nodes of the preprocessing ``steps``; return the name of their output."""
    make, constant = onnx.helper.make_node, onnx.numpy_helper.from_array
    for i, step in enumerate(steps):
        p = f"pre{i}"
        if isinstance(step, Standardizer):
            weights.extend([constant(np.asarray(step.mean_, dtype=dtype), f"{p}_mean"),
                            constant(np.asarray(step.scale_, dtype=dtype), f"{p}_scale")])
            nodes.extend([make("Sub", [current, f"{p}_mean"], [f"{p}_centred"],
                               name=f"{p}_sub"),
                          make("Div", [f"{p}_centred", f"{p}_scale"], [f"{p}_out"],
                               name=f"{p}_div")])
        elif isinstance(step, FeatureMap):
            _feature_map_nodes(onnx, step, current, p, nodes, weights)
        else:
            raise TypeError(f"export_onnx: model.preprocessing[{i}] ({type(step).__name__}) "
                            "has no ONNX form (Standardizer and FeatureMap have); export with "
                            "preprocessing=False and apply it before the ONNX runtime")
        current = f"{p}_out"
    return current


def _feature_map_nodes(onnx, step, source, p, nodes, weights) -> None:
    """A FeatureMap's columns: Gather each raw column once, Mul / Sin, Concat into ``p_out``."""
    make, constant = onnx.helper.make_node, onnx.numpy_helper.from_array
    columns = {}

    def column(j):
        if j not in columns:                          # x_j as a (batch, 1) column, once
            weights.append(constant(np.array([j], dtype=np.int64), f"{p}_i{j}"))
            nodes.append(make("Gather", [source, f"{p}_i{j}"], [f"{p}_x{j}"],
                              name=f"{p}_gather{j}", axis=1))
            columns[j] = f"{p}_x{j}"
        return columns[j]

    outs = []
    for k, (kind, cols) in enumerate(step.terms()):
        x = column(cols[0])
        if kind == "x":
            outs.append(x)
            continue
        out = f"{p}_f{k}"
        if kind == "sin":
            nodes.append(make("Sin", [x], [out], name=f"{p}_sin{k}"))
        else:
            y = x if kind == "square" else column(cols[1])
            nodes.append(make("Mul", [x, y], [out], name=f"{p}_mul{k}"))
        outs.append(out)
    nodes.append(make("Concat", outs, [f"{p}_out"], name=f"{p}_concat", axis=1))


def _labels_metadata(helper, proto, model) -> None:
    """Record classes, target and feature names in ``proto.metadata_props`` (JSON strings)."""
    import json

    entries = {"neuralab.classes": _inputs.classes_to_json(model.classes),
               "neuralab.target": model.target, "neuralab.feature_names": model.feature_names}
    helper.set_model_props(proto, {k: json.dumps(v) for k, v in entries.items()
                                   if v is not None})
