"""neuralab: a deep-learning library and lab on NumPy.

The public names; see README.md for the API in one screen.
"""

import importlib as _importlib
import importlib.abc as _abc
import importlib.machinery as _machinery
import sys as _sys
import typing as _typing

#: The folders are the layers (docs/architecture.md); the flat module paths of earlier releases
#: (``neuralab.layers``, ``from neuralab.train import fit``, ``neuralab.io`` ...) stay importable
#: as aliases of their new homes: the same module objects, registered in ``sys.modules`` and as
#: attributes of the package before anything else is imported, so old absolute and relative
#: imports, pickles and ``monkeypatch`` targets keep working. One table, no shim files.
_MOVED = {
    # layer 1: the network
    "_inputs": "nn._inputs", "init": "nn.init", "activations": "nn.activations",
    "losses": "nn.losses", "layers": "nn.layers", "dropout": "nn.dropout",
    "batchnorm": "nn.batchnorm", "regularizers": "nn.regularizers",
    "preprocessing": "nn.preprocessing", "_fastpath": "nn._fastpath", "model": "nn.model",
    "functional": "nn.functional", "hessian": "nn.hessian", "gradcheck": "nn.gradcheck",
    # layer 2: update rules
    "schedules": "optim.schedules", "newton": "optim.newton",
    # layer 3: training, data, files
    "_comm": "training._comm", "_batches": "training._batches", "_metrics": "training._metrics",
    "_trainstate": "training._trainstate", "_guard": "training._guard",
    "callbacks": "training.callbacks", "_run": "training._run", "train": "training.train",
    "_planar": "data._planar", "_datasets": "data._datasets", "_datafiles": "data._datafiles",
    "io": "export.io", "report": "export.report", "interop": "export.interop",
    "onnx": "export.onnx",
}


def _alias(old: str, new: str) -> None:
    module = _importlib.import_module(f"{__name__}.{new}")
    _sys.modules[f"{__name__}.{old}"] = module
    globals()[old] = module


class _MovedSubmodules(_abc.MetaPathFinder, _abc.Loader):
    """``neuralab.callbacks.monitor`` and the like: a submodule of a moved package, found
    under its new home on first import (the import system then keeps the real module)."""

    def find_spec(self, fullname: str, path=None, target=None):
        parts = fullname.split(".")
        if len(parts) > 2 and parts[0] == __name__ and parts[1] in _MOVED:
            return _machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        _, old, rest = module.__name__.split(".", 2)
        _sys.modules[module.__name__] = _importlib.import_module(
            f"{__name__}.{_MOVED[old]}.{rest}")


_sys.meta_path.insert(0, _MovedSubmodules())
for _old, _new in _MOVED.items():
    _alias(_old, _new)

if _typing.TYPE_CHECKING:  # the aliases above, spelled out for type checkers (nl.losses.MSE ...)
    from .export import interop, io, report
    from .nn import (
        activations,
        functional,
        gradcheck,
        hessian,
        init,
        losses,
        preprocessing,
        regularizers,
    )
    from .optim import newton, schedules
    from .training import callbacks

from . import data, optim  # noqa: E402
from ._sysinfo import show_config  # noqa: E402
from ._version import __version__  # noqa: E402
from .export.io import load, save  # noqa: E402
from .export.onnx import export_onnx  # noqa: E402
from .nn.activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh  # noqa: E402
from .nn.batchnorm import BatchNorm  # noqa: E402
from .nn.dropout import Dropout  # noqa: E402
from .nn.layers import Dense, Layer  # noqa: E402
from .nn.losses import MSE, BinaryCrossEntropy, CrossEntropy  # noqa: E402
from .nn.model import MLP, LogisticRegression, Perceptron, Sequential  # noqa: E402
from .nn.preprocessing import FeatureMap, Standardizer  # noqa: E402
from .training.callbacks import (  # noqa: E402
    Callback,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    ReduceLROnPlateau,
)
from .training.train import DivergenceError, History, evaluate, fit  # noqa: E402

__all__ = [
    "MLP", "MSE", "BatchNorm", "BinaryCrossEntropy", "Callback", "CrossEntropy", "Dense",
    "Dropout", "History",
    "Identity", "Layer", "LeakyReLU", "LogisticRegression", "Perceptron", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "activations", "evaluate", "fit", "functional", "init",
    "losses", "optim", "regularizers", "schedules", "hessian", "newton", "gradcheck",
    "interop", "export_onnx",
    "data", "io", "load", "save", "distributed", "preprocessing", "report", "FeatureMap",
    "Standardizer", "callbacks", "CSVLogger", "DivergenceError", "EarlyStopping",
    "ModelCheckpoint", "ReduceLROnPlateau", "show_config", "__version__",
]

#: Documented subpackages loaded on first use: they import heavier libraries (the lab's
#: matplotlib experiments, scikit-learn's estimator API, MPI) or sit above the core, which
#: never imports them (``nl.distributed``, ``nl.playground``).
_LAZY = ("lab", "sklearn", "distributed", "playground")


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'neuralab' has no attribute {name!r}")
