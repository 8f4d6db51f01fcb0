"""neuralab: a deep-learning library and lab on NumPy.

The public names; see README.md for the API in one screen.
"""

from . import (
    activations,
    callbacks,
    data,
    functional,
    gradcheck,
    hessian,
    init,
    interop,
    io,
    losses,
    newton,
    optim,
    preprocessing,
    regularizers,
    report,
    schedules,
)
from ._sysinfo import show_config
from ._version import __version__
from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import BatchNorm
from .callbacks import Callback, CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from .dropout import Dropout
from .io import load, save
from .layers import Dense, Layer
from .losses import MSE, BinaryCrossEntropy, CrossEntropy
from .model import MLP, LogisticRegression, Perceptron, Sequential
from .onnx import export_onnx
from .preprocessing import FeatureMap, Standardizer
from .train import DivergenceError, History, evaluate, fit

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
