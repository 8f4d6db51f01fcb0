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
    schedules,
)
from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from .io import load, save
from .layers import Dense, Layer
from .losses import MSE, BinaryCrossEntropy, CrossEntropy
from .model import MLP, LogisticRegression, Perceptron, Sequential
from .onnx import export_onnx
from .train import Callback, DivergenceError, History, evaluate, fit

__version__ = "0.1.0"

__all__ = [
    "MLP", "MSE", "BinaryCrossEntropy", "Callback", "CrossEntropy", "Dense", "History",
    "Identity", "Layer", "LeakyReLU", "LogisticRegression", "Perceptron", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "activations", "evaluate", "fit", "functional", "init",
    "losses", "optim", "schedules", "hessian", "newton", "gradcheck",
    "interop", "export_onnx",
    "data", "io", "load", "save",
    "callbacks", "CSVLogger", "DivergenceError", "EarlyStopping", "ModelCheckpoint",
    "ReduceLROnPlateau",
]
