"""The folders are the layers, and every earlier import path still works: ``neuralab.layers``,
``from neuralab.train import fit``, ``neuralab.io`` ... are aliases of their new homes (the same
module objects), from one table in ``neuralab/__init__.py``, with no shim file per old module."""

from __future__ import annotations

import importlib
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

import neuralab as nl

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "neuralab"

#: old flat path -> new home, written out here independently of the package's own table
MOVED = {
    "layers": "nn.layers", "activations": "nn.activations", "losses": "nn.losses",
    "init": "nn.init", "model": "nn.model", "preprocessing": "nn.preprocessing",
    "hessian": "nn.hessian", "gradcheck": "nn.gradcheck", "regularizers": "nn.regularizers",
    "dropout": "nn.dropout", "batchnorm": "nn.batchnorm", "functional": "nn.functional",
    "_fastpath": "nn._fastpath", "_inputs": "nn._inputs",
    "schedules": "optim.schedules", "newton": "optim.newton",
    "train": "training.train", "_run": "training._run", "_guard": "training._guard",
    "_metrics": "training._metrics", "_batches": "training._batches",
    "_trainstate": "training._trainstate", "_comm": "training._comm",
    "callbacks": "training.callbacks",
    "_datasets": "data._datasets", "_datafiles": "data._datafiles", "_planar": "data._planar",
    "io": "export.io", "onnx": "export.onnx", "interop": "export.interop",
    "report": "export.report",
}

#: the paths README.md, docs/, notebooks, tests and benchmarks write (a fresh process each)
DOCUMENTED = ["layers", "train", "io", "onnx", "interop", "schedules", "model", "losses",
              "activations", "init", "hessian", "gradcheck", "preprocessing", "regularizers",
              "callbacks", "report", "newton", "functional", "dropout", "batchnorm",
              "_fastpath", "_guard", "_planar"]


def test_the_package_table_is_the_one_written_here():
    assert nl._MOVED == MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_is_the_new_module(old):
    new = importlib.import_module(f"neuralab.{MOVED[old]}")
    assert importlib.import_module(f"neuralab.{old}") is new
    assert sys.modules[f"neuralab.{old}"] is new
    assert getattr(nl, old) is new
    assert new.__name__ == f"neuralab.{MOVED[old]}"        # the module keeps its real name


def test_no_shim_file_is_left_at_the_old_paths():
    left = [old for old in MOVED if (SRC / f"{old}.py").exists() or (SRC / old).is_dir()]
    assert left == []


@pytest.mark.parametrize("old", DOCUMENTED)
def test_an_old_path_imports_first_in_a_fresh_process(old):
    code = (f"import neuralab.{old} as old, neuralab.{MOVED[old]} as new\n"
            "assert old is new, (old, new)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_from_old_paths_import_names_in_a_fresh_process():
    code = ("from neuralab.train import fit\n"
            "from neuralab.layers import Dense\n"
            "from neuralab.schedules import get\n"
            "from neuralab.newton import Newton\n"
            "from neuralab.callbacks.monitor import EarlyStopping\n"   # a moved package's file
            "import neuralab.callbacks.liveplot as liveplot\n"
            "import neuralab as nl\n"
            "assert fit is nl.fit and Dense is nl.Dense and Newton is nl.optim.Newton\n"
            "assert EarlyStopping is nl.EarlyStopping\n"
            "assert get is nl.optim.schedules.get\n"
            "assert liveplot.__name__ == 'neuralab.training.callbacks.liveplot'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_an_old_relative_import_still_resolves():
    """Code written against the flat package (``from .._fastpath import ...`` in a subpackage,
    ``from ._guard import ...`` at the root) resolves through the aliases."""
    space = {"__name__": "neuralab.playground._old_style", "__package__": "neuralab.playground"}
    exec("from ..layers import Dense\nfrom .._fastpath import loss_and_grad\n"  # noqa: S102
         "from ..callbacks import Callback", space)
    assert space["Dense"] is nl.Dense and space["Callback"] is nl.Callback
    assert space["loss_and_grad"] is nl.nn._fastpath.loss_and_grad
    root = {"__name__": "neuralab._old_style", "__package__": "neuralab"}
    exec("from ._guard import DivergenceGuard\nfrom .model import MLP", root)  # noqa: S102
    assert root["DivergenceGuard"] is nl.training._guard.DivergenceGuard and root["MLP"] is nl.MLP


def test_a_pickle_that_names_the_old_class_paths_loads():
    model = nl.MLP([2, 3, 1], seed=0)
    X = np.array([[0.5, -1.0], [2.0, 0.25]])
    data = pickle.dumps(model, protocol=2)              # classes named by text lines
    assert b"neuralab.nn.model" in data
    for old, new in MOVED.items():                      # as written before the folders
        data = data.replace(f"neuralab.{new}\n".encode(), f"neuralab.{old}\n".encode())
    assert b"neuralab.nn." not in data and b"neuralab.model\n" in data
    loaded = pickle.loads(data)
    assert type(loaded) is nl.MLP
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).params, model.params)
