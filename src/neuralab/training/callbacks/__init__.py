"""Callbacks for ``nl.fit``: early stopping, model checkpoints, learning-rate reduction, logs.

Each is a :class:`Callback`; write your own by subclassing it and overriding
the hooks you need (``on_epoch_end(epoch, logs)`` sees that epoch's ``loss``, ``val_loss``,
``accuracy``, ``lr``... as in Keras). Their state (best value, patience counter, best θ) is
saved in ``fit``'s checkpoints, so a resumed run decides exactly as the uninterrupted one.

Examples
--------
>>> import numpy as np, neuralab as nl
>>> X = np.random.default_rng(0).normal(size=(60, 2)); y = (X[:, 0] > 0).astype(int)
>>> stop = nl.callbacks.EarlyStopping(monitor="val_loss", patience=2)
>>> h = nl.fit(nl.MLP([2, 8, 2], seed=0), X, y, epochs=5, validation_split=0.25,
...            callbacks=[stop])
>>> len(h.epoch) <= 5
True
"""


from .base import Callback, _CallbackList  # noqa: F401  (_CallbackList: for fit)
from .liveplot import LivePlot
from .logs import CSVLogger, _EpochLines, _progress_callback, _ProgressBar  # noqa: F401
from .monitor import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau

__all__ = ["Callback", "CSVLogger", "EarlyStopping", "LivePlot", "ModelCheckpoint",
           "ReduceLROnPlateau"]
