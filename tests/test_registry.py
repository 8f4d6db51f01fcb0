"""One home per concept: every layer, activation, loss, optimizer and schedule registers itself,
and nothing in the package selects by a hand-kept list of their types."""

import ast
from pathlib import Path

import numpy as np
import pytest

import neuralab as nl
from neuralab import activations, layers, losses, optim, schedules

SRC = Path(nl.__file__).parent


def _registered_names():
    classes = {*layers.LAYERS.values(), *losses.LOSSES.values(), *optim.OPTIMIZERS.values(),
               *schedules.SCHEDULES.values()}
    return {cls.__name__ for cls in classes}


def _name(node):
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)


def _family(name):
    for family in (layers.LAYERS, losses.LOSSES, optim.OPTIMIZERS, schedules.SCHEDULES):
        if any(cls.__name__ == name for cls in family.values()):
            return id(family)
    return None


def scan(source: str) -> list[str]:
    """Places in ``source`` that select by a registered type: ``type(x) is ReLU`` (or ``in``
    a collection of them), or a literal collection holding two classes of one registry."""
    known = _registered_names()
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Call)
                and _name(node.left.func) == "type"):
            for right in node.comparators:
                items = right.elts if isinstance(right, (ast.Tuple, ast.List, ast.Set)) else \
                    right.keys if isinstance(right, ast.Dict) else [right]
                if any(_name(item) in known for item in items):
                    found.append(f"line {node.lineno}: type(...) compared with a layer type")
        if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
            items = node.keys if isinstance(node, ast.Dict) else node.elts
            items = items + (node.values if isinstance(node, ast.Dict) else [])
            families = [_family(_name(i)) for i in items if _name(i) in known]
            if any(families.count(f) >= 2 for f in set(families) if f is not None):
                found.append(f"line {node.lineno}: a hand-kept collection of registered types")
    return found


def test_scan_catches_hand_kept_selection():
    assert scan("if type(layer) is ReLU: pass")
    assert scan("ok = type(layer) in (_act.Tanh, Sigmoid)")
    assert scan("TABLE = {nl.ReLU: 'Relu', nl.Tanh: 'Tanh'}")
    assert scan("OPTS = {'sgd': SGD, 'adam': Adam}")
    assert not scan("ok = layer.fast_form == 'relu' and isinstance(layer, Dense)")


def test_no_module_selects_by_a_hand_kept_list_of_types():
    bad = {}
    for path in sorted(SRC.rglob("*.py")):
        found = scan(path.read_text(encoding="utf-8"))
        if found:
            bad[str(path.relative_to(SRC))] = found
    assert bad == {}


def test_registries_hold_every_public_class():
    for cls in (nl.Dense, nl.ReLU, nl.Softmax, nl.LeakyReLU):
        assert layers.LAYERS[cls.__name__] is cls
    assert activations.ACTIVATIONS["leakyrelu"] is nl.LeakyReLU
    assert activations.ACTIVATIONS["linear"] is nl.Identity
    assert losses.LOSSES["bce"] is nl.BinaryCrossEntropy
    assert optim.OPTIMIZERS["newton_cg"] is optim.NewtonCG
    assert schedules.SCHEDULES["sgdr"] is schedules.CosineWarmRestarts
    assert "Activation" not in layers.LAYERS        # abstract bases are not registered


def test_a_new_activation_is_one_class():
    """Defined in one place, it is known to get(), from_config, the CLI's choices, the
    Hessian, the fast path (as a generic elementwise layer) and the exports."""

    class Softsign(activations.Activation):
        name = "softsign_test"
        fast_form = "elementwise"

        def g(self, Z):
            return Z / (1 + np.abs(Z))

        def g_prime(self, Z, A):
            return 1 / (1 + np.abs(Z)) ** 2

        def derivatives(self, Z, A):
            d = 1 + np.abs(Z)
            return 1 / d ** 2, -2 * np.sign(Z) / d ** 3

    try:
        assert isinstance(activations.get("softsign_test"), Softsign)
        assert "softsign_test" in activations.hidden_names()
        model = nl.MLP([3, 4, 2], activation="softsign_test", seed=0, dtype="float64")
        again = nl.Sequential.from_config(model.get_config())
        assert type(again.layers[1]) is Softsign
        X, y = np.random.default_rng(0).normal(size=(8, 3)), np.arange(8) % 2
        obj = nl.hessian.objective(model, X, y)
        H = nl.hessian.hessian(obj)
        assert np.allclose(H, H.T, atol=1e-10)
        with pytest.raises(TypeError, match="no ONNX mapping"):
            nl.export_onnx(model, "unused.onnx")
    finally:
        for table in (activations.ACTIVATIONS, layers.LAYERS):
            for key in [k for k, v in table.items() if v is Softsign]:
                del table[key]


def test_a_subclass_that_changes_a_rule_runs_the_readable_path():
    class MyReLU(nl.ReLU):
        def g(self, Z):
            return np.maximum(Z, 0) * 2

    try:
        assert MyReLU.fast_form is None and MyReLU.onnx_op is None
        model = nl.Sequential([nl.Dense(3, 2), MyReLU(), nl.Dense(2, 2), nl.Softmax()], seed=0)
        from neuralab.nn import _fastpath
        assert _fastpath._blocks(model.layers) is None
    finally:
        layers.LAYERS.pop("MyReLU", None)


def test_newton_declares_its_rules_once():
    assert optim.Newton.no_regularizer and optim.NewtonCG.no_regularizer
    assert optim.SGD.no_regularizer is None
    with pytest.raises(ValueError, match="regularizer cannot be used with Newton"):
        optim.Newton.check_run("l2")
