"""Notebook displays: the HTML of models, histories and data sets, LivePlot, the progress bar."""

import base64
import os
import re
import struct
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import neuralab as nl
from neuralab import _display

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG
    return struct.unpack(">II", png[16:24])            # IHDR width, height


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(s) for s in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def _cells(html: str) -> list[list[str]]:
    """The text of each table row's cells."""
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", html)]


def _moons(n=120):
    ds = nl.data.load("moons", n_samples=n, val_size=0.2, seed=0)
    return ds


# ---------------------------------------------------------------------------- Sequential
def test_model_html_is_the_summary_table():
    model = nl.MLP([4, 8, 3], activation="tanh", seed=0)
    html = model._repr_html_()
    rows = _cells(html)
    assert rows[0] == ["#", "layer", "output", "params"]
    assert rows[1] == ["0", "Dense(n_in=4, n_out=8, init=&#x27;he_normal&#x27;, "
                            "bias_init=&#x27;zeros&#x27;)", "(m, 8)", "40"]
    assert rows[2] == ["1", "Tanh()", "(m, 8)", "0"]
    assert rows[3][2:] == ["(m, 3)", "27"] and rows[4] == ["3", "Softmax()", "(m, 3)", "0"]
    assert len(rows) == 1 + len(model.layers)
    assert "<b>MLP</b>: input (m, 4), dtype float32, 67 parameters" in html


def test_model_html_counts_thousands_and_names_subclasses():
    html = nl.LogisticRegression(2000)._repr_html_()
    assert "<b>LogisticRegression</b>" in html and "2,001 parameters" in html


# ---------------------------------------------------------------------------- History
def test_history_html_draws_loss_and_accuracy_and_shows_last_values():
    ds = _moons()
    h = nl.fit(nl.MLP([2, 8, 2], seed=0), ds.X_train, ds.y_train, epochs=3,
               validation_data=(ds.X_val, ds.y_val))
    html = h._repr_html_()
    assert "<b>History</b>: 3 epochs" in html
    (png,) = _images(html)
    width, height = _png_size(png)
    assert width == 2 * 3.6 * 80 and height == 2.6 * 80      # two panels: loss, accuracy
    last = dict(row for row in _cells(html)[1:])
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "lr"):
        assert last[key] == f"{h[key][-1]:.4g}"
    assert not any(k.startswith(("grad_norm", "time")) for k in last)


def test_history_html_of_a_regression_has_one_panel():
    X = np.random.default_rng(0).normal(size=(40, 3))
    model = nl.MLP([3, 4, 1], output="identity", seed=0)
    h = nl.fit(model, X, X.sum(axis=1), epochs=2)
    (png,) = _images(h._repr_html_())
    assert _png_size(png)[0] == 3.6 * 80


def test_history_html_without_epochs_and_after_divergence():
    empty = nl.History()
    assert "0 epochs" in empty._repr_html_() and not _images(empty._repr_html_())
    h = nl.History()
    h.record(0, {"loss": 1.0})
    h.divergence = {"step": 7, "epoch": 1, "batch": 2, "lr": 10.0, "what": "loss"}
    html = h._repr_html_()
    assert "1 epoch," in html and "diverged</b> at step 7 (loss not finite, lr 10)" in html


# ---------------------------------------------------------------------------- Dataset
def test_dataset_html_shows_parts_class_counts_and_first_rows():
    ds = nl.data.load("iris", val_size=0.2, seed=0)
    html = ds._repr_html_()
    rows = _cells(html)
    assert rows[0] == ["part", "X", "y", "samples per class"]
    assert rows[1] == ["train", "(90, 4)", "(90,)", "30 30 30"]
    assert rows[2][:3] == ["val", "(30, 4)", "(30,)"] and rows[3][:3] == ["test", "(30, 4)",
                                                                         "(30,)"]
    assert rows[4] == ["row", "x0", "x1", "x2", "x3", "y"]
    preview = rows[5:]
    assert len(preview) == _display.PREVIEW_ROWS
    assert preview[0] == ["0", *(f"{v:.4g}" for v in ds.X_train[0]), str(ds.y_train[0])]
    assert "Dataset iris</b> (classification, 4 features, 3 classes)" in html


def test_dataset_html_cuts_wide_rows_and_handles_regression():
    digits = nl.data.load("digits", seed=0)
    head = _cells(digits._repr_html_())[3]          # train, test, then the preview's header
    assert head == ["row", *(f"x{j}" for j in range(_display.PREVIEW_COLS)), "…", "y"]
    html = nl.data.load("diabetes", seed=0)._repr_html_()
    assert "samples per class" not in html and "(regression, 10 features)" in html
    assert _cells(html)[0] == ["part", "X", "y"]


# ---------------------------------------------------------------------------- LivePlot
class _FileWatcher(nl.Callback):
    """Reads the PNG after each epoch (it runs after LivePlot) and at the end."""

    keeps_params = True

    def __init__(self, path):
        self.path, self.seen = path, []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(Path(self.path).read_bytes() if os.path.exists(self.path) else None)


def test_liveplot_rewrites_the_png_every_epoch_atomically(tmp_path):
    ds = _moons()
    path = tmp_path / "curves" / "live.png"                  # the folder is created
    live = nl.callbacks.LivePlot(metrics=["loss", "val_loss", "accuracy"], path=path)
    watch = _FileWatcher(path)
    nl.fit(nl.MLP([2, 8, 2], seed=0), ds.X_train, ds.y_train, epochs=3,
           validation_data=(ds.X_val, ds.y_val), callbacks=[live, watch])
    assert live.draws == 3
    assert all(png is not None and png[:8] == PNG for png in watch.seen)
    assert len(set(watch.seen)) == 3                         # rewritten after each epoch
    assert _png_size(watch.seen[-1])[0] == 2 * 3.6 * 80      # loss panel + accuracy panel
    assert os.listdir(path.parent) == ["live.png"]           # no temporary file left


def test_liveplot_every_n_epochs_and_always_at_the_end(tmp_path):
    ds = _moons()
    path = tmp_path / "live.png"
    live = nl.callbacks.LivePlot(every=2, path=str(path))
    watch = _FileWatcher(path)
    nl.fit(nl.MLP([2, 8, 2], seed=0), ds.X_train, ds.y_train, epochs=5,
           callbacks=[live, watch])                          # no validation: val_loss skipped
    assert watch.seen[0] is None and watch.seen[1] is not None
    assert watch.seen[2] == watch.seen[1]                    # epoch 3: not redrawn
    assert watch.seen[3] != watch.seen[2] and watch.seen[4] == watch.seen[3]
    assert live.draws == 3 and path.read_bytes() != watch.seen[4]   # epoch 5, at train end


def test_liveplot_refuses_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="needs path="):
        nl.callbacks.LivePlot()                              # not in a notebook
    with pytest.raises(TypeError, match="metrics"):
        nl.callbacks.LivePlot(metrics="loss", path=tmp_path / "a.png")
    with pytest.raises(ValueError, match="every"):
        nl.callbacks.LivePlot(every=0, path=tmp_path / "a.png")
    with pytest.raises(ValueError, match="not a regular file"):
        nl.callbacks.LivePlot(path=tmp_path)
    live = nl.callbacks.LivePlot(metrics=["loss", "val_acc"], path=tmp_path / "a.png")
    ds = _moons()
    model = nl.MLP([2, 4, 2], seed=0)
    with pytest.raises(ValueError, match="does not log 'val_acc'; logged: loss"):
        nl.fit(model, ds.X_train, ds.y_train, epochs=2, callbacks=[live],
               validation_data=(ds.X_val, ds.y_val))
    assert not (tmp_path / "a.png").exists()


def test_liveplot_in_a_notebook_displays_once_then_updates(monkeypatch):
    import IPython.display

    calls = []
    monkeypatch.setattr(_display, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display",
                        lambda obj, display_id=None: calls.append(("display", obj, display_id)))
    monkeypatch.setattr(IPython.display, "update_display",
                        lambda obj, display_id=None: calls.append(("update", obj, display_id)))
    live = nl.callbacks.LivePlot()                           # no path needed in a notebook
    ds = _moons()
    nl.fit(nl.MLP([2, 8, 2], seed=0), ds.X_train, ds.y_train, epochs=3,
           validation_data=(ds.X_val, ds.y_val), callbacks=[live])
    assert [c[0] for c in calls] == ["display", "update", "update"]
    assert len({c[2] for c in calls}) == 1 and calls[0][2].startswith("neuralab-liveplot-")
    assert all(c[1].data[:8] == PNG for c in calls)
    assert len({c[1].data for c in calls}) == 3


# ---------------------------------------------------------------------------- in a kernel
class _Recorder(NotebookClient):
    def process_message(self, msg, cell, cell_index):
        transient = msg["content"].get("transient") or {}
        self.messages.append((cell_index, msg["msg_type"], transient.get("display_id")))
        return super().process_message(msg, cell, cell_index)


def test_in_a_real_kernel_progress_widget_live_plot_and_rich_displays(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]))
    cells = [
        "import neuralab as nl\nfrom neuralab import _display\nprint(_display.in_notebook())",
        "ds = nl.data.load('moons', n_samples=120, val_size=0.2, seed=0)\n"
        "model = nl.MLP([2, 8, 2], seed=0)\n"
        "live = nl.callbacks.LivePlot(metrics=['loss', 'val_loss'])\n"
        "h = nl.fit(model, ds.X_train, ds.y_train, epochs=3, verbose=1, callbacks=[live],\n"
        "           validation_data=(ds.X_val, ds.y_val))\nprint(live.draws)",
        "model", "h", "ds"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = _Recorder(nb, kernel_name="python3", timeout=120,
                       resources={"metadata": {"path": str(tmp_path)}})
    client.messages = []
    client.execute()
    assert nb.cells[0].outputs[0].text == "True\n"
    train = nb.cells[1].outputs
    bars = [o for o in train if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(bars) == 3                                    # a tqdm widget per epoch
    assert "epoch 3/3" in bars[-1].data["text/plain"]
    images = [o for o in train if "image/png" in o.get("data", {})]
    assert len(images) == 1                                  # one figure, redrawn in place
    assert base64.b64decode(images[0].data["image/png"])[:8] == PNG
    assert not any(o.output_type == "stream" and "epoch 1/3  loss" in o.text for o in train)
    assert train[-1].text == "3\n"
    kinds = [(kind, did) for i, kind, did in client.messages if i == 1 and did]
    ids = {did for _, did in kinds}
    assert len(ids) == 1 and [k for k, _ in kinds] == ["display_data"] + ["update_display_data"] * 2
    for cell, text in ((2, "<b>MLP</b>"), (3, "<b>History</b>: 3 epochs"),
                       (4, "<b>Dataset moons</b>")):
        assert text in nb.cells[cell].outputs[0].data["text/html"]


def test_no_progress_bar_outside_terminals_and_kernels(monkeypatch):
    from neuralab.callbacks import _progress_callback

    assert not _display.in_notebook()
    monkeypatch.setattr(sys, "stdout", open(os.devnull, "w"))   # not a tty
    try:
        assert not hasattr(_progress_callback(2, 3), "bar")      # a line per epoch, no bar
        monkeypatch.setattr(_display, "in_notebook", lambda: True)
        bar = _progress_callback(2, 3)
        assert bar is not None and bar.notebook
    finally:
        sys.stdout.close()
