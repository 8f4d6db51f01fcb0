"""The package's shape: imports point down the layers of docs/architecture.md, never in a
circle; fit shows the loop; optimizers show their rule and state, nothing else."""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "neuralab"

#: The layers, lowest first (docs/architecture.md draws them). A module may import modules of
#: its own layer or below, never above; within a layer, never in a circle.
LAYERS = {
    0: ("backend", "_validation", "_kernels", "_version", "_display", "_textsafe"),
    1: ("init", "layers", "activations", "losses", "functional", "model", "_fastpath",
        "hessian", "gradcheck", "regularizers", "preprocessing", "_inputs", "dropout",
        "batchnorm"),
    2: ("optim", "schedules", "newton"),
    3: ("train", "_run", "callbacks", "_metrics", "_guard", "_batches", "_trainstate", "_comm",
        "data", "_datasets", "_datafiles", "_planar", "io", "report"),
    4: ("distributed",),
    5: ("cli", "__main__", "lab", "playground", "sklearn", "interop", "onnx", "_sysinfo",
        "neuralab"),
}
RANK = {name: rank for rank, names in LAYERS.items() for name in names}


def _modules() -> dict[str, pathlib.Path]:
    """Dotted module names (``neuralab.optim.adam``) -> file, for every module of the package."""
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: pathlib.Path, modules) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in the file (functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from . import x` names a submodule x when there is one
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:        # neuralab.optim.Adam -> optim
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _graph():
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "neuralab"
    if key not in RANK:
        pytest.fail(f"{module} is in no layer: add it to LAYERS in tests/test_architecture.py "
                    "and to docs/architecture.md")
    return RANK[key]


def _cycles(graph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_circle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_imports_point_down_the_layers():
    upward = [f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
              for a, targets in _graph().items() for b in targets if _layer(b) > _layer(a)]
    assert upward == []


def test_the_core_never_imports_the_extensions():
    extensions = ("neuralab.playground", "neuralab.distributed", "neuralab.lab")
    graph = _graph()
    bad = [f"{a} -> {b}" for a, targets in graph.items() for b in targets
           if b.startswith(extensions) and not a.startswith(extensions)
           and not a.startswith(("neuralab.cli", "neuralab.__main__"))]
    assert bad == []


def _function(path, name) -> ast.FunctionDef:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return next(node for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef) and node.name == name)


def test_train_py_opens_with_fit_and_its_loop():
    tree = ast.parse((SRC / "train.py").read_text(encoding="utf-8"))
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert functions[:2] == ["fit", "training_loop"]


@pytest.mark.parametrize("name", ["fit", "training_loop"])
def test_fit_and_its_loop_are_short(name):
    fn = _function(SRC / "train.py", name)
    body = fn.body[1:] if isinstance(fn.body[0], ast.Expr) else fn.body   # without docstring
    lines = body[-1].end_lineno - body[0].lineno + 1
    assert lines < 80, f"{name} has {lines} lines of code"


def test_optimizers_touch_no_instance_dict():
    for path in (SRC / "optim").glob("*.py"):
        assert "__dict__" not in path.read_text(encoding="utf-8"), path.name


def test_every_optimizer_update_fits_on_a_screen():
    for path in (SRC / "optim").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name in ("_update", "step"):
                lines = node.end_lineno - node.lineno + 1
                assert lines <= 50, f"{path.name}: {node.name} at line {node.lineno} is {lines}"
