"""Sweeps of fits on a Dask cluster through joblib: GridSearchCV and `neuralab sweep`.

Skipped without dask[distributed], unless ``NEURALAB_REQUIRE_MPI=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

REQUIRED = os.environ.get("NEURALAB_REQUIRE_MPI") == "1"


@pytest.fixture(scope="module")
def dask():
    try:
        import dask.distributed  # noqa: F401
        import joblib  # noqa: F401
    except ImportError:
        if REQUIRED:
            pytest.fail("NEURALAB_REQUIRE_MPI=1 but dask[distributed] is not installed")
        pytest.skip("dask[distributed] is not installed (pip install 'neuralab[dask]')")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_on_a_dask_cluster_equals_the_serial_search(dask):
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV

    from neuralab.distributed.sweep import dask_backend
    from neuralab.sklearn import NeuralNetClassifier

    X, y = load_iris(return_X_y=True)
    grid = {"lr": [0.003, 0.03], "hidden_layer_sizes": [(8,), (16,)]}

    def search():
        est = NeuralNetClassifier(epochs=15, batch_size=16, random_state=0, dtype="float64")
        return GridSearchCV(est, grid, cv=3, n_jobs=-1).fit(X, y)

    from dask.distributed import get_task_stream

    with dask_backend(n_workers=2) as client, get_task_stream(client) as stream:
        on_dask = search()
    # the fits ran as tasks in the workers' processes (12 fits, 3 folds x 4 candidates)
    assert len(stream.data) >= 12
    assert len({task["worker"] for task in stream.data}) == 2
    serial = GridSearchCV(NeuralNetClassifier(epochs=15, batch_size=16, random_state=0,
                                              dtype="float64"), grid, cv=3).fit(X, y)
    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"],
                               serial.cv_results_["mean_test_score"])
    assert on_dask.best_params_ == serial.best_params_


def test_sweep_command_runs_the_grid_on_dask(dask, tmp_path, capsys):
    from neuralab.cli import main

    args = ["sweep", "--grid", "data=iris", "--grid", "lr=0.003,0.03", "--grid",
            "hidden=8,8-4", "--grid", "epochs=4", "--out-dir", str(tmp_path), "--name", "s"]
    assert main([*args, "--dask-workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "4 runs on a local Dask cluster of 2 processes" in out
    with open(tmp_path / "s" / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["lr"], r["hidden"]) for r in rows) == sorted(
        (lr, h) for lr in ("0.003", "0.03") for h in ("[8]", "[8, 4]"))
    val = [float(r["val_accuracy"]) for r in rows]
    assert val == sorted(val, reverse=True) and all(0 <= v <= 1 for v in val)
    # the same runs here, one after the other, give the same numbers
    assert main([*args, "--local", "--name", "here"]) == 0
    with open(tmp_path / "here" / "sweep.csv") as f:
        here = {(r["lr"], r["hidden"]): r["test_accuracy"] for r in csv.DictReader(f)}
    assert {(r["lr"], r["hidden"]): r["test_accuracy"] for r in rows} == here


def test_sweep_grid_errors_are_one_line(tmp_path, capsys):
    from neuralab.cli import main

    assert main(["sweep", "--grid", "nosuch=1", "--out-dir", str(tmp_path)]) == 2
    assert "expected KEY=V1,V2" in capsys.readouterr().err
    assert main(["sweep", "--grid", "lr=fast", "--out-dir", str(tmp_path)]) == 2
    assert "cannot read 'fast' as lr" in capsys.readouterr().err


def test_train_config_refuses_the_options_it_does_not_apply():
    from neuralab.cli import TRAIN_OPTIONS
    from neuralab.distributed.sweep import train_config

    config = {k: v[1] for k, v in TRAIN_OPTIONS.items()}
    for key, value in (("features", "x1"), ("regularizer", "l2"), ("patience", 2),
                       ("standardize", False)):
        with pytest.raises(ValueError, match=f"train_config does not apply {key}"):
            train_config({**config, "dataset": "iris", key: value})
