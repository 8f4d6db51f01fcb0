"""The package's shape: imports point down the layers of docs/architecture.md, never in a
circle; fit shows the loop; optimizers show their rule and state, nothing else."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "neuralab"

#: The layers, lowest first (docs/architecture.md draws them): a module's layer is its folder.
#: A module may import modules of its own layer or below, never above; within a layer, never
#: in a circle. The modules at the package root are the engine (layer 0), except the two that
#: users run; the package itself (its __init__) gathers the public names: layer 5 may import it.
FOLDERS = {"nn": 1, "optim": 2, "training": 3, "data": 3, "export": 3, "distributed": 4,
           "cli": 5, "lab": 5, "playground": 5}
ROOT_MODULES = {"backend": 0, "_validation": 0, "_kernels": 0, "_loops": 0, "_blaspool": 0,
                "_version": 0, "_display": 0, "_textsafe": 0, "_sysinfo": 0, "sklearn": 5}
RANK = {**FOLDERS, **ROOT_MODULES, "neuralab": 5}


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
        pytest.fail(f"{module} is in no layer: put it in a folder (FOLDERS in "
                    "tests/test_architecture.py) and name it in docs/architecture.md")
    return RANK[key]


def test_every_module_is_in_a_known_folder_or_the_engine():
    strays = [name for name in _modules()
              if name != "neuralab" and name.split(".")[1] not in RANK]
    assert strays == []
    files = {path.name for path in SRC.iterdir()
             if path.suffix == ".py" and path.stem not in ("__init__",)}
    assert files == {f"{name}.py" for name in ROOT_MODULES}
    folders = {path.name for path in SRC.iterdir()
               if path.is_dir() and (path / "__init__.py").exists()}
    assert folders == set(FOLDERS)


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


DOC = SRC.parents[1] / "docs" / "architecture.md"


def _doc_table() -> list[tuple[int, str]]:
    """(layer, module) for every module docs/architecture.md's table names: `nn/layers`."""
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| (\d) \| (.+?) \|", line)
        if match:
            rows += [(int(match.group(1)), name) for name in re.findall(r"`([\w/]+)`",
                                                                        match.group(2))]
    return rows


def _dotted(doc_name: str) -> str:
    return "neuralab." + doc_name.strip("/").replace("/", ".")


def test_every_module_in_the_docs_table_exists_in_its_layer():
    modules = _modules()
    rows = _doc_table()
    assert len(rows) > 20
    for layer, name in rows:
        assert _dotted(name) in modules, f"docs/architecture.md names {name}: no such module"
        assert _layer(_dotted(name)) == layer, f"{name} is in layer {_layer(_dotted(name))}"


def test_every_module_file_is_named_in_the_docs_table():
    named = {_dotted(name) for _, name in _doc_table()}
    folders = {f"neuralab.{folder}" for folder in FOLDERS}
    missing = [m for m in _modules() if m != "neuralab" and m not in folders
               and not any(m == n or m.startswith(n + ".") for n in named)]
    assert missing == [], "name them in docs/architecture.md's table"


def test_the_docs_diagram_draws_the_folders_in_their_layers():
    block = DOC.read_text(encoding="utf-8").split("```")[1]
    drawn = {}
    for line in block.splitlines():
        match = re.match(r"^\s?(\d)\s", line)
        if match:
            words = set(re.findall(r"(\w+)/", line))
            words |= {w for w in re.findall(r"[\w]+", line) if w in ROOT_MODULES}
            drawn[int(match.group(1))] = words
    expected: dict[int, set[str]] = {}
    for name, layer in {**FOLDERS, **ROOT_MODULES}.items():
        expected.setdefault(layer, set()).add(name)
    assert drawn == expected


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
    tree = ast.parse((SRC / "training" / "train.py").read_text(encoding="utf-8"))
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert functions[:2] == ["fit", "training_loop"]


@pytest.mark.parametrize("name", ["fit", "training_loop"])
def test_fit_and_its_loop_are_short(name):
    fn = _function(SRC / "training" / "train.py", name)
    body = fn.body[1:] if isinstance(fn.body[0], ast.Expr) else fn.body   # without docstring
    lines = body[-1].end_lineno - body[0].lineno + 1
    assert lines < 80, f"{name} has {lines} lines of code"


def _optimizer_files():
    """optim/'s files but the schedules (a registry by class, which reads ``cls.__dict__``)."""
    return [path for path in (SRC / "optim").glob("*.py") if path.name != "schedules.py"]


def test_optimizers_touch_no_instance_dict():
    for path in _optimizer_files():
        assert "__dict__" not in path.read_text(encoding="utf-8"), path.name


def test_every_optimizer_update_fits_on_a_screen():
    for path in _optimizer_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name in ("_update", "step"):
                lines = node.end_lineno - node.lineno + 1
                assert lines <= 50, f"{path.name}: {node.name} at line {node.lineno} is {lines}"
