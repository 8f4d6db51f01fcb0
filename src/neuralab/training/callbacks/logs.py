"""Callbacks that show or write the logs: a CSV file, the progress bar, a line per epoch."""

from __future__ import annotations

import csv
import os
import sys
import time

from ..._validation import check_writable_file
from .base import Callback


class CSVLogger(Callback):
    """Write the epoch logs to a CSV file (one row per epoch, a column per logged name).

    The file is rewritten from the whole history after each epoch (a temporary file renamed
    over ``path``), so it is always complete, and a resumed run continues it without duplicate
    rows.
    """

    keeps_params = True
    writes_files = True

    def __init__(self, path, separator: str = ","):
        self.path = check_writable_file(path)
        self.separator = separator

    def on_epoch_end(self, epoch, logs=None):
        check_writable_file(self.path)
        history = self.history
        keys = list(history.history)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, delimiter=self.separator)
            writer.writerow(["epoch", *keys])
            for row, e in enumerate(history.epoch):
                writer.writerow([e + 1, *(_cell(history.history[k], row) for k in keys)])
        os.replace(tmp, self.path)


def _cell(values, row):
    return repr(values[row]) if row < len(values) and isinstance(values[row], float) else (
        values[row] if row < len(values) else "")


class _ProgressBar(Callback):
    """A tqdm bar per epoch: batch, running loss and accuracy, lr, ETA."""

    is_progress_bar = True
    keeps_params = True
    writes_files = True

    def __init__(self, epochs, n_batches, file=None, notebook=False):
        self.epochs, self.n_batches, self.file = epochs, n_batches, file
        self.bar, self._shown, self.notebook = None, 0.0, notebook

    def on_epoch_begin(self, epoch, logs=None):
        import shutil

        from tqdm.auto import tqdm

        # a pseudo-terminal may report 0 x 0 (tqdm would then hide the bar): shutil falls back
        size = shutil.get_terminal_size((100, 24))
        shape = {} if self.notebook else {"ncols": size.columns, "nrows": size.lines}
        self.bar = tqdm(total=self.n_batches, desc=f"epoch {epoch + 1}/{self.epochs}",
                        unit="batch", file=self.file, leave=True, mininterval=0.2, **shape)

    def on_batch_end(self, step, logs=None):
        bar = self.bar
        bar.update(logs["batch"] + 1 - bar.n)
        now = time.monotonic()
        if now - self._shown > 0.2:                 # formatting costs more than a step
            self._shown = now
            sums = logs["sums"]
            post = {"loss": f"{sums['loss'] / sums['seen']:.4f}"}
            if "accuracy" in sums:
                post["acc"] = f"{sums['accuracy'] / sums['seen']:.4f}"
            if logs["lr"] is not None:
                post["lr"] = f"{logs['lr']:.3g}"
            bar.set_postfix(post, refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        keys = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
        self.bar.set_postfix({k.replace("accuracy", "acc"): f"{logs[k]:.4g}"
                              for k in keys if k in logs}, refresh=False)
        self.bar.close()

    def on_train_end(self, logs=None):
        if self.bar is not None and not self.bar.disable:
            self.bar.close()


class _EpochLines(Callback):
    """``verbose`` output when stdout is not a terminal: one line per epoch."""

    keeps_params = True
    writes_files = True

    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        shown = "  ".join(f"{k} {logs[k]:.4g}" for k in logs
                          if not k.startswith(("grad_norm", "dead_relu")))
        print(f"epoch {epoch + 1}/{self.epochs}  {shown}", flush=True)


def _progress_callback(epochs, n_batches):
    """A progress bar in a Jupyter kernel (tqdm.auto's widget) or when stdout is a terminal,
    else one line per epoch."""
    from ..._display import in_notebook

    if in_notebook():
        return _ProgressBar(epochs, n_batches, file=sys.stdout, notebook=True)
    isatty = getattr(sys.stdout, "isatty", None)
    if isatty is None or not isatty():
        return _EpochLines(epochs)
    return _ProgressBar(epochs, n_batches, file=sys.stdout)
