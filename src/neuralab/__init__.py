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
    regularizers,
    schedules,
)
from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .callbacks import Callback, CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from .io import load, save
from .layers import Dense, Layer
from .losses import MSE, BinaryCrossEntropy, CrossEntropy
from .model import MLP, LogisticRegression, Perceptron, Sequential
from .onnx import export_onnx
from ._sysinfo import show_config
from ._version import __version__
from .train import DivergenceError, History, evaluate, fit


def __getattr__(name):
    # nl.distributed is imported on first use: it imports the core, never the reverse
    if name == "distributed":
        import importlib

        return importlib.import_module(f"{__name__}.distributed")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MLP", "MSE", "BinaryCrossEntropy", "Callback", "CrossEntropy", "Dense", "History",
    "Identity", "Layer", "LeakyReLU", "LogisticRegression", "Perceptron", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "activations", "evaluate", "fit", "functional", "init",
    "losses", "optim", "regularizers", "schedules", "hessian", "newton", "gradcheck",
    "interop", "export_onnx",
    "data", "io", "load", "save", "distributed",
    "callbacks", "CSVLogger", "DivergenceError", "EarlyStopping", "ModelCheckpoint",
    "ReduceLROnPlateau", "show_config",
]
