"""No shared state: trainings in threads of one process do not interfere.

Two different trainings run at the same time in two threads; each one's final parameters must
equal, bit for bit, the same training run alone. A static scan then looks for module-level
mutable containers that functions mutate at run time (the usual way state leaks between
models).
"""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import neuralab as nl

SRC = Path(nl.__file__).parent


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


# Two deliberately different runs: different widths, optimizers, schedules, batch sizes and
# dtypes, so any state shared through a module (workspaces, caches, RNGs) would show.
RUNS = {
    "adam-cosine-f32": dict(sizes=[64, 32, 10], dtype="float32", seed=1, batch_size=16,
                            optimizer=lambda: nl.optim.Adam(lr=3e-3),
                            schedule=lambda: nl.schedules.CosineAnnealing(3e-3, t_max=4)),
    "momentum-step-f64": dict(sizes=[64, 48, 10], dtype="float64", seed=2, batch_size=32,
                              optimizer=lambda: nl.optim.Momentum(lr=0.05, beta=0.9),
                              schedule=lambda: nl.schedules.StepDecay(0.05, 0.5, step_size=2)),
}


class _Trace(nl.Callback):
    """Appends ``name`` to a shared log after every batch (to see the threads interleave)."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def on_batch_end(self, step, logs=None):
        self.log.append(self.name)


def _train(spec, X, y, epochs=6, callbacks=()):
    model = nl.MLP(spec["sizes"], seed=spec["seed"], dtype=spec["dtype"])
    hist = nl.fit(model, X, y, optimizer=spec["optimizer"](), schedule=spec["schedule"](),
                  epochs=epochs, batch_size=spec["batch_size"], seed=spec["seed"],
                  validation_data=(X[:100], y[:100]), callbacks=list(callbacks))
    return model.params.copy(), hist["loss"]


def test_two_trainings_in_two_threads_equal_each_run_alone(digits):
    X, y = digits
    alone = {name: _train(spec, X, y) for name, spec in RUNS.items()}

    together, errors, log = {}, [], []
    start = threading.Barrier(len(RUNS))

    def worker(name, spec):
        try:
            start.wait()                                   # start both at the same moment
            together[name] = _train(spec, X, y, callbacks=[_Trace(name, log)])
        except BaseException as exc:                       # surface failures in the test
            errors.append((name, exc))

    threads = [threading.Thread(target=worker, args=item) for item in RUNS.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "a training thread hung"
    for name in RUNS:
        np.testing.assert_array_equal(together[name][0], alone[name][0], err_msg=name)
        assert together[name][1] == alone[name][1], name
    # the threads really ran at the same time: the batch log switches between them
    switches = sum(a != b for a, b in zip(log, log[1:], strict=False))
    assert switches >= 2, "the two trainings did not overlap; the test proves nothing"


def test_interleaved_steps_of_two_models_in_one_thread_do_not_interfere(digits):
    """Alternating single epochs of two models equals running each alone (no hidden globals)."""
    X, y = digits
    spec_a, spec_b = RUNS["adam-cosine-f32"], RUNS["momentum-step-f64"]
    alone_a, _ = _train(spec_a, X, y, epochs=1)
    alone_b, _ = _train(spec_b, X, y, epochs=1)
    ma = nl.MLP(spec_a["sizes"], seed=spec_a["seed"], dtype=spec_a["dtype"])
    mb = nl.MLP(spec_b["sizes"], seed=spec_b["seed"], dtype=spec_b["dtype"])
    oa, ob = spec_a["optimizer"](), spec_b["optimizer"]()
    sa, sb = spec_a["schedule"](), spec_b["schedule"]()

    class Interleave(nl.Callback):
        """After each batch of model A, run one forward/backward of model B."""

        def on_batch_end(self, step, logs=None):
            mb.loss_and_grad(X[:7].T, y[:7], nl.CrossEntropy())

    nl.fit(ma, X, y, optimizer=oa, schedule=sa, epochs=1, batch_size=spec_a["batch_size"],
           seed=spec_a["seed"], validation_data=(X[:100], y[:100]), callbacks=[Interleave()])
    mb.grads[...] = 0
    nl.fit(mb, X, y, optimizer=ob, schedule=sb, epochs=1, batch_size=spec_b["batch_size"],
           seed=spec_b["seed"], validation_data=(X[:100], y[:100]))
    np.testing.assert_array_equal(ma.params, alone_a)
    np.testing.assert_array_equal(mb.params, alone_b)


# ---------------------------------------------------------------------------- static scan

_MUTATORS = {"append", "extend", "insert", "pop", "popitem", "remove", "clear", "update",
             "setdefault", "add", "discard", "sort", "reverse", "__setitem__"}


def _module_level_mutables(tree):
    """Names bound at module level to a list/dict/set display or comprehension."""
    kinds = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
    names = set()
    for node in tree.body:
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        is_call = (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                   and value.func.id in {"dict", "list", "set", "defaultdict", "OrderedDict"})
        if isinstance(value, kinds) or is_call:
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _runtime_mutations(tree, names):
    """(function, name, how) for every mutation of ``names`` inside a function body."""
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Global):
                found += [(func.name, n, "global statement") for n in node.names]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and isinstance(node.func.value, ast.Name) and node.func.value.id in names
                  and node.func.attr in _MUTATORS):
                found.append((func.name, node.func.value.id, f".{node.func.attr}()"))
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) \
                    else [node.target]
                for t in targets:
                    if (isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)
                            and t.value.id in names):
                        found.append((func.name, t.value.id, "item assignment"))
    return found


#: Reviewed process-wide resources (not model state): the lazily created thread pool of the
#: chunked optimizer kernels. Results do not depend on it (each element's arithmetic is the same
#: whatever the split), and ThreadPoolExecutor.submit is thread-safe.
ALLOWED = {("_kernels.py", "_pool", "_POOL"), ("_kernels.py", "_pool", "_POOL_PID"),
           # the registries: a class enters its table when it is defined (at import)
           ("nn/layers.py", "__init_subclass__", "LAYERS"),
           ("nn/activations.py", "__init_subclass__", "ACTIVATIONS"),
           ("nn/losses.py", "__init_subclass__", "LOSSES"),
           ("optim/optimizer.py", "__init_subclass__", "OPTIMIZERS"),
           ("optim/schedules.py", "__init_subclass__", "SCHEDULES")}


def test_no_function_mutates_module_level_state():
    """Module-level tables (name → class registries) are filled at import and only read
    afterwards; no function keeps state in a module global."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = _module_level_mutables(tree)
        for func, name, how in _runtime_mutations(tree, names):
            if (str(path.relative_to(SRC)), func, name) not in ALLOWED:
                offenders.append(f"{path.relative_to(SRC)}: {func}() mutates {name} ({how})")
    assert offenders == [], "\n".join(offenders)


def test_the_scan_catches_a_mutating_function():
    tree = ast.parse("CACHE = {}\nSEEN: list = []\n"
                     "def f(k):\n    CACHE[k] = 1\n    SEEN.append(k)\n"
                     "def g():\n    global COUNT\n")
    found = _runtime_mutations(tree, _module_level_mutables(tree))
    assert {(f, n) for f, n, _ in found} == {("f", "CACHE"), ("f", "SEEN"), ("g", "COUNT")}


_RNG_OK = {"default_rng", "Generator", "PCG64", "SeedSequence", "BitGenerator", "get_state",
           "set_state"}


def test_no_global_numpy_random_state_is_used():
    """Randomness comes from explicit Generators (seeded per model / per fit), never from the
    process-wide legacy ``np.random.*`` functions two threads would share."""
    uses = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "random"
                    and getattr(node.value.value, "id", None) in {"np", "numpy"}
                    and node.attr not in _RNG_OK):
                uses.append(f"{path.relative_to(SRC)}:{node.lineno}: np.random.{node.attr}")
    assert uses == [], "\n".join(uses)
