"""Options become runs the same way everywhere: `neuralab train`, each row of `neuralab sweep`,
`train --workers` (the user's own argv); run names and run folders (issues 18 and 22.1)."""

import csv
import hashlib
import json
import os

import numpy as np
import pytest

import neuralab as nl
from neuralab.cli import TRAIN_OPTIONS, build_parser, main
from neuralab.cli.parallel import NOT_IN_SWEEP

#: For every `neuralab train` option a value other than its default, and the other options a
#: run needs for that value to matter. A new option must be added here (the test says so).
CASES = {
    "dataset": ("iris", {}),
    "label": ("y", {"dataset": "CSV"}),
    "hidden": ([4, 3], {}),
    "features": ("x1,x2,x1*x2", {}),
    "standardize": (False, {}),
    "activation": ("tanh", {}),
    "optimizer": ("momentum", {}),
    "lr": (0.05, {}),
    "lr_min": (0.001, {}),
    "schedule": ("constant", {}),
    "regularizer": ("l2", {"reg_rate": 0.01}),
    "reg_rate": (0.02, {"regularizer": "l1"}),
    "epochs": (3, {}),
    "batch_size": (16, {}),
    "seed": (4, {}),
    "test_size": (0.0, {}),
    "val_size": (0.3, {}),
    "dtype": ("float64", {}),
    "patience": (1, {"epochs": 8, "lr": 0.2, "schedule": "constant"}),
    "on_divergence": ("raise", {}),
    # options another change adds: used once they exist
    "dropout": (0.2, {}),
    "batch_norm": (True, {}),
}
BASE = {"dataset": "moons", "hidden": [8], "epochs": 2}


def _flags(options) -> list[str]:
    """`neuralab train` flags for ``options``."""
    out = []
    for key, value in options.items():
        flag = "--data" if key == "dataset" else "--" + key.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, list):
            out += [flag, *map(str, value)]
        else:
            out += [flag, str(value)]
    return out


def _grid(options) -> list[str]:
    """`neuralab sweep` --grid items for ``options`` (one value each)."""
    out = []
    for key, value in options.items():
        text = "-".join(map(str, value)) if isinstance(value, list) else \
            str(value).lower() if isinstance(value, bool) else str(value)
        out += ["--grid", f"{key}={text}"]
    return out


@pytest.fixture(scope="module")
def labelled_csv(tmp_path_factory):
    """moons as a CSV whose label column `y` comes first."""
    ds = nl.data.load("moons", test_size=0.0, val_size=0.0, standardize=False)
    path = tmp_path_factory.mktemp("data") / "moons.csv"
    with open(path, "w") as f:
        f.write("y,a,b\n")
        for (a, b), y in zip(ds.X_train.tolist(), ds.y_train.tolist(), strict=True):
            f.write(f"{y},{a!r},{b!r}\n")
    return str(path)


def test_every_train_option_has_a_sweep_case():
    sweepable = set(TRAIN_OPTIONS) - set(NOT_IN_SWEEP)
    assert not sweepable - set(CASES), (
        f"add a non-default value for {sorted(sweepable - set(CASES))} to CASES: every "
        "`neuralab train` option must be checked to give the same run in a sweep")


@pytest.mark.parametrize("key", [k for k in CASES if k in TRAIN_OPTIONS])
def test_a_sweep_row_is_the_train_run_of_the_same_options(key, labelled_csv, tmp_path, capsys):
    value, extra = CASES[key]
    options = {**BASE, **extra, key: value}
    if options["dataset"] == "CSV":
        options["dataset"] = labelled_csv
    out = str(tmp_path)
    code = main(["train", *_flags(options), "--out-dir", out, "--name", "t"])
    assert code == 0
    printed = capsys.readouterr().out
    with open(tmp_path / "t" / "metrics.csv") as f:
        metrics = list(csv.DictReader(f))
    assert main(["sweep", *_grid(options), "--local", "--out-dir", out, "--name", "s"]) == 0
    with open(tmp_path / "s" / "sweep.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert int(row["epochs_run"]) == len(metrics)
    for name in ("loss", "val_loss", "val_accuracy"):
        if name in metrics[-1]:
            assert float(row[name]) == float(metrics[-1][name]), name     # bit for bit
        else:
            assert np.isnan(float(row[name])), name
    summary = dict(line.split()[1:3] for line in printed.splitlines()
                   if line.startswith(("test loss", "test accuracy")))
    if options.get("test_size") == 0.0:
        assert np.isnan(float(row["test_accuracy"])) and not summary
    else:
        assert f"{float(row['test_loss']):.4f}" == summary["loss"]
        assert f"{float(row['test_accuracy']):.4f}" == summary["accuracy"]


def test_patience_stops_the_sweep_run_as_it_stops_train(tmp_path, capsys):
    grid = _grid({**BASE, "patience": 1, "epochs": 30, "lr": 0.5, "schedule": "constant"})
    assert main(["sweep", *grid, "--local", "--out-dir", str(tmp_path), "--name", "p"]) == 0
    with open(tmp_path / "p" / "sweep.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert int(row["epochs_run"]) < 30


@pytest.mark.parametrize("key", sorted(NOT_IN_SWEEP))
def test_the_sweep_refuses_options_it_cannot_apply_by_name(key, tmp_path, capsys):
    assert main(["sweep", "--grid", f"{key}=x", "--local", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{key} cannot be swept" in err
    assert not os.listdir(tmp_path)


def test_sweep_grid_values_read_as_train_reads_them(tmp_path, capsys):
    from neuralab.cli.parallel import _parse_grid

    parsed = _parse_grid(["features=x1,x2", "features=x1", "standardize=false,true",
                          "lr=0.1", "lr=0.3,0.1", "test_size=0", "hidden=8-4,16"])
    assert parsed["features"] == ["x1,x2", "x1"]          # a comma list is one value
    assert parsed["standardize"] == [False, True]
    assert parsed["lr"] == [0.1, 0.3]                     # a repeated key adds its values
    assert parsed["test_size"] == [0.0] and parsed["hidden"] == [[8, 4], [16]]
    assert _parse_grid(["standardize=0"])["standardize"] == [False]
    assert main(["sweep", "--grid", "standardize=maybe", "--out-dir", str(tmp_path)]) == 2
    assert "cannot read 'maybe' as standardize (true or false)" in capsys.readouterr().err


def test_a_sweep_run_that_train_would_refuse_is_refused_before_any_runs(tmp_path, capsys):
    code = main(["sweep", "--grid", "data=iris", "--grid", "features=x1,x7", "--grid",
                 "epochs=1", "--local", "--out-dir", str(tmp_path), "--name", "bad"])
    assert code == 2
    captured = capsys.readouterr()
    assert "x7" in captured.err and "4 feature columns" in captured.err
    assert "runs on" not in captured.out and not os.listdir(tmp_path)


def test_a_sweep_with_test_size_0_runs(tmp_path, capsys):
    grid = _grid({**BASE, "test_size": 0.0})
    assert main(["sweep", *grid, "--local", "--out-dir", str(tmp_path), "--name", "z"]) == 0
    with open(tmp_path / "z" / "sweep.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert np.isnan(float(row["test_accuracy"])) and float(row["val_accuracy"]) > 0


# ------------------------------------------------------------------------- train --workers
@pytest.fixture
def launched(monkeypatch):
    """Capture what `train --workers` would start instead of starting it."""
    from neuralab.distributed import launch

    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK"):
        monkeypatch.delenv(name, raising=False)
    calls = []
    monkeypatch.setattr(launch, "run", lambda n, argv, module=None: calls.append(
        (n, list(argv), module)) or 0)
    return calls


@pytest.mark.parametrize("key", [k for k in CASES if k in TRAIN_OPTIONS])
def test_workers_forwards_the_users_own_flags(key, launched, tmp_path, labelled_csv):
    value, extra = CASES[key]
    options = {**extra, key: value}
    if options.get("dataset") == "CSV":
        options["dataset"] = labelled_csv
    flags = [*_flags(options), "--out-dir", str(tmp_path), "--name", "w"]
    for workers in (["--workers", "2"], ["--workers=2"], ["--work", "2"]):
        launched.clear()
        assert main(["train", *workers, *flags]) == 0
        (n, argv, module), = launched
        assert n == 2 and module == "neuralab.cli" and argv == ["train", *flags]
        alone = vars(build_parser().parse_args(["train", *flags]))
        forwarded = vars(build_parser().parse_args(argv))
        assert forwarded == alone and forwarded["workers"] is None
    assert not os.listdir(tmp_path)                 # the launcher's ranks write, not this


def test_workers_passes_both_boolean_forms(launched, tmp_path):
    for flag in ("--standardize", "--no-standardize"):
        launched.clear()
        assert main(["train", flag, "--workers", "2", "--out-dir", str(tmp_path)]) == 0
        (_, argv, _), = launched
        assert flag in argv and "False" not in argv and "True" not in argv
        assert argv[-2] == "--name"                 # one name for every rank


def test_workers_refused_inside_an_mpi_job(launched, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PMI_SIZE", "2")
    assert main(["train", "--workers", "2", "--out-dir", str(tmp_path), "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert "--workers" in err and "already runs in one" in err
    assert launched == [] and not os.listdir(tmp_path)


@pytest.mark.parametrize("n", ["0", "-1"])
def test_workers_below_one_is_refused(n, launched, tmp_path, capsys):
    assert main(["train", "--workers", n, "--out-dir", str(tmp_path)]) == 2
    assert "--workers must be" in capsys.readouterr().err and launched == []


@pytest.mark.skipif(not os.environ.get("PATH"), reason="no PATH")
def test_workers_with_no_standardize_trains_on_two_ranks(tmp_path):
    """The defect itself: every rank failed with "unrecognized arguments: False"."""
    import subprocess
    import sys

    from neuralab.distributed import launch

    if launch.find_mpiexec() is None:
        pytest.skip("no mpiexec")
    pytest.importorskip("mpi4py")
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "PMI_RANK")}
    env.update({"PYTHONPATH": src, "MPIEXEC_TIMEOUT": "60"})
    proc = subprocess.run([sys.executable, "-m", "neuralab.cli", "train", "--data", "iris",
                           "--hidden", "4", "--epochs", "1", "--no-standardize", "--workers",
                           "2", "--out-dir", str(tmp_path), "--name", "w"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "w" / "config.json").read_text())["standardize"] is False


# ------------------------------------------------------------------- run names and folders
def _sha(path):
    return hashlib.sha1(path.read_bytes()).hexdigest()


TINY = ["train", "--data", "moons", "--hidden", "2", "--epochs", "1"]


@pytest.mark.parametrize("name", ["../x", "../../x", "/abs/x", "a/b", "..", ".", "a\\b"])
def test_a_run_name_is_one_folder_name(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs"
    assert main([*TINY, "--out-dir", str(out), "--name", name]) == 2
    assert "a run name is one folder name" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == []              # nothing written, anywhere here
    assert main(["sweep", "--grid", "epochs=1", "--local", "--out-dir", str(out), "--name",
                 name]) == 2
    assert "a run name is one folder name" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == []


def test_a_run_name_from_a_config_file_is_checked_too(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.toml").write_text('name = "../../victim"\nepochs = 1\n')
    assert main(["train", "--config", "run.toml", "--out-dir", "runs"]) == 2
    err = capsys.readouterr().err
    assert "config file 'run.toml': name '../../victim'" in err
    assert sorted(os.listdir(tmp_path)) == ["run.toml"]


def test_an_existing_run_folder_is_never_replaced_silently(tmp_path, capsys):
    out = str(tmp_path)
    assert main([*TINY, "--epochs", "3", "--out-dir", out, "--name", "m"]) == 0
    model = tmp_path / "m" / "model.safetensors"
    before = {p.name: _sha(p) for p in (tmp_path / "m").iterdir()}
    capsys.readouterr()
    assert main([*TINY, "--out-dir", out, "--name", "m"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--overwrite" in err and "--resume" in err
    assert {p.name: _sha(p) for p in (tmp_path / "m").iterdir()} == before
    # the ways to continue it stay open
    assert main(["train", "--resume", str(tmp_path / "m"), "--extend-epochs", "1"]) == 0
    assert len((tmp_path / "m" / "metrics.csv").read_text().splitlines()) == 1 + 4
    assert main(["train", "--resume", str(tmp_path / "m"), "--overwrite"]) == 2
    assert "pass only one" in capsys.readouterr().err
    # --overwrite replaces it
    assert main([*TINY, "--out-dir", out, "--name", "m", "--overwrite"]) == 0
    assert len((tmp_path / "m" / "metrics.csv").read_text().splitlines()) == 1 + 1
    assert _sha(model) != before["model.safetensors"]


def test_a_sweep_table_is_never_replaced_silently(tmp_path, capsys):
    args = ["sweep", "--grid", "data=moons", "--grid", "epochs=1", "--grid", "hidden=2",
            "--local", "--out-dir", str(tmp_path), "--name", "s"]
    assert main(args) == 0
    table = (tmp_path / "s" / "sweep.csv").read_text()
    assert main([*args[:-4], "--grid", "lr=0.1", *args[-4:]]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (tmp_path / "s" / "sweep.csv").read_text() == table
    assert main([*args, "--overwrite"]) == 0


# ----------------------------------------------------------------------- small option checks
def test_hidden_0_says_a_layer_needs_a_unit(tmp_path, capsys):
    assert main([*TINY, "--hidden", "0", "--out-dir", str(tmp_path)]) == 2
    assert "a layer needs at least 1 unit" in capsys.readouterr().err


@pytest.mark.parametrize("features", ["x1,,x2", "x1,x2,", ",x1"])
def test_features_with_an_empty_name_are_refused(features, tmp_path, capsys):
    assert main([*TINY, "--features", features, "--out-dir", str(tmp_path)]) == 2
    assert "empty name between commas" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_a_relative_data_path_in_a_config_file_is_read_beside_it(tmp_path, capsys,
                                                                 monkeypatch, labelled_csv):
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "data.csv").write_text(open(labelled_csv).read())
    (folder / "run.toml").write_text('dataset = "data.csv"\nlabel = "y"\nepochs = 1\n'
                                     'hidden = [2]\nname = "c"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["train", "--config", os.path.join("..", "shared", "run.toml")]) == 0
    config = json.loads((elsewhere / "runs" / "c" / "config.json").read_text())
    assert os.path.samefile(config["dataset"], folder / "data.csv")


def test_a_run_stopped_before_its_first_checkpoint_starts_afresh(tmp_path):
    """Only config.json there (killed in start-up): nothing trained to lose, no refusal."""
    (tmp_path / "early").mkdir()
    (tmp_path / "early" / "config.json").write_text("{}")
    assert main([*TINY, "--out-dir", str(tmp_path), "--name", "early"]) == 0
    assert (tmp_path / "early" / "model.safetensors").exists()
