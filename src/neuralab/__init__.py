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
    report,
    schedules,
)
from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from .io import load, save
from .layers import Dense, Layer
from .losses import MSE, BinaryCrossEntropy, CrossEntropy
from .model import MLP, LogisticRegression, Perceptron, Sequential
from .onnx import export_onnx
from .preprocessing import FeatureMap, Standardizer
from .train import Callback, DivergenceError, History, evaluate, fit

__version__ = "0.1.0"

__all__ = [
    "MLP", "MSE", "BinaryCrossEntropy", "Callback", "CrossEntropy", "Dense", "History",
    "Identity", "Layer", "LeakyReLU", "LogisticRegression", "Perceptron", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "activations", "evaluate", "fit", "functional", "init",
    "losses", "optim", "schedules", "hessian", "newton",
    "interop", "export_onnx",
    "data", "io", "load", "save",
    "callbacks", "CSVLogger", "DivergenceError", "EarlyStopping", "ModelCheckpoint",
    "ReduceLROnPlateau",
    "gradcheck", "preprocessing", "report", "FeatureMap", "Standardizer",
]

#: Documented modules loaded on first use (``nl.lab``, ``nl.sklearn``): they import heavier
#: libraries (matplotlib's experiments, scikit-learn's estimator API) than ``import neuralab``.
_LAZY = ("lab", "sklearn")


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'neuralab' has no attribute {name!r}")
