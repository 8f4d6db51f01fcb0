"""The `neuralab` command, run in-process through ``main(argv)`` (and once as a subprocess)."""

import json
import subprocess
import sys

import numpy as np
import pytest

import neuralab as nl
from neuralab.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    code = main(["train", "--data", "moons", "--hidden", "16", "16", "--epochs", "8",
                 "--out-dir", str(out), "--name", "m"])
    assert code == 0
    return out / "m"


def test_help_shows_examples_for_each_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("neuralab train", "neuralab evaluate", "neuralab predict",
                    "neuralab datasets", "neuralab lab"):
        assert command in out


def test_datasets_lists_the_bundled_sets(capsys):
    code, out, _ = _run(capsys, "datasets")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == list(nl.data.DATASETS)


def test_train_writes_the_run_folder(moons_run):
    files = {p.name for p in moons_run.iterdir()}
    assert {"model.safetensors", "config.json", "metrics.csv", "metrics.jsonl", "report.html",
            "loss.png", "accuracy.png", "lr.png", "confusion.png", "boundary.png"} <= files
    config = json.loads((moons_run / "config.json").read_text())
    assert config["epochs"] == 8 and config["hidden"] == [16, 16] and config["dataset"] == "moons"
    rows = (moons_run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,loss") and len(rows) == 1 + 8
    records = [json.loads(line) for line in (moons_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, 9))
    assert records[-1]["loss"] == pytest.approx(float(rows[-1].split(",")[1]))
    page = (moons_run / "report.html").read_text()
    for png in ("loss.png", "accuracy.png", "lr.png", "confusion.png", "boundary.png",
                "diagnostics.png"):
        assert f'src="{png}"' in page
    assert "test accuracy" in page


def test_train_summary_matches_the_saved_model(moons_run, capsys):
    ds = nl.data.load("moons", val_size=0.1, seed=0, standardize=False)
    model = nl.load(moons_run / "model.safetensors")     # takes raw inputs: it scales them
    acc = nl.evaluate(model, ds.X_test, ds.y_test)["accuracy"]
    code, out, _ = _run(capsys, "evaluate", str(moons_run / "model.safetensors"),
                        "--data", "moons")
    assert code == 0
    # `evaluate --data moons` uses the run's split: the same test part as the line above
    ds0 = nl.data.load("moons", seed=0, standardize=False)
    acc0 = nl.evaluate(model, ds0.X_test, ds0.y_test)["accuracy"]
    assert acc0 == acc
    line = next(x for x in out.splitlines() if x.startswith("test accuracy"))
    assert float(line.split()[-1]) == pytest.approx(acc0, abs=1e-4)
    assert acc > 0.8


def test_predict_applies_the_models_scaling(moons_run, tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, 2))
    src = tmp_path / "in.csv"
    np.savetxt(src, X, delimiter=",", header="x1,x2", comments="")
    dest = tmp_path / "out.csv"
    code, out, _ = _run(capsys, "predict", str(moons_run / "model.safetensors"), str(src),
                        "--output", str(dest))
    assert code == 0 and "7 predictions" in out
    lines = dest.read_text().splitlines()
    assert lines[0] == "prediction,p_0,p_1"              # a column per class, by label
    got = np.array([[float(v) for v in row.split(",")] for row in lines[1:]])
    model = nl.load(moons_run / "model.safetensors")
    (scaler,) = model.preprocessing                      # the training part's statistics
    ds = nl.data.load("moons", val_size=0.1, seed=0)
    np.testing.assert_array_equal(scaler.mean_, ds.scaler.mean_)
    scaled = (X - scaler.mean_) / scaler.scale_
    model.preprocessing = []
    np.testing.assert_array_equal(got[:, 0], model.predict(scaled))
    np.testing.assert_allclose(got[:, 1:], model.predict_proba(scaled), atol=1e-5)
    npy = tmp_path / "in.npy"
    np.save(npy, X)
    code, out, _ = _run(capsys, "predict", str(moons_run / "model.safetensors"), str(npy))
    assert out.splitlines()[1:] == lines[1:]


def test_defaults_reach_97_percent_on_digits(tmp_path, capsys):
    code, out, _ = _run(capsys, "train", "--out-dir", str(tmp_path), "--name", "d")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("test accuracy"))
    assert float(line.split()[-1]) >= 0.97


@pytest.mark.parametrize("toml, message", [
    ('epochs = 3\nlearning_rate = 0.1\n', "unknown key 'learning_rate'"),
    ('epochs = "ten"\n', "epochs must be an integer"),
    ('hidden = 32\n', "hidden must be a list of integers"),
    ('lr = true\n', "lr must be a number"),
    ('epochs = [\n', "not valid TOML"),
])
def test_bad_config_is_one_line_and_exit_2(tmp_path, capsys, toml, message):
    path = tmp_path / "run.toml"
    path.write_text(toml)
    code, _, err = _run(capsys, "train", "--config", str(path), "--out-dir", str(tmp_path))
    assert code == 2
    assert err.startswith("neuralab: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_config_file_then_flags_override(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text('dataset = "iris"\nhidden = [8]\nepochs = 50\nname = "cfg"\n')
    code, _, _ = _run(capsys, "train", "--config", str(path), "--epochs", "2",
                      "--out-dir", str(tmp_path))
    assert code == 0
    config = json.loads((tmp_path / "cfg" / "config.json").read_text())
    assert (config["dataset"], config["hidden"], config["epochs"]) == ("iris", [8], 2)


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "cifar10", "--epochs", "1"], "unknown data set 'cifar10'"),
    (["train", "--data", "iris", "--lr", "-1", "--epochs", "1"], "lr must be > 0"),
    (["evaluate", "missing.safetensors", "--data", "iris"], "missing.safetensors"),
    (["predict", "missing.safetensors", "x.csv"], "missing.safetensors"),
])
def test_errors_are_one_line_without_traceback(tmp_path, capsys, argv, message):
    code, _, err = _run(capsys, *argv, "--out-dir", str(tmp_path)) if argv[0] == "train" \
        else _run(capsys, *argv)
    assert code != 0
    assert err.startswith("neuralab: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="cifar10"):
        main(["--debug", "train", "--data", "cifar10", "--out-dir", str(tmp_path)])


def test_console_entry_point_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "neuralab.cli", "datasets"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "digits" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "neuralab.cli", "evaluate", "nope.safetensors",
                           "--data", "iris"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr


def test_killed_run_resumes_to_the_same_model(tmp_path):
    import os
    import signal
    import time

    args = ["train", "--data", "digits", "--hidden", "64", "--epochs", "12",
            "--checkpoint-every", "7", "--out-dir", str(tmp_path)]
    assert main([*args, "--name", "whole"]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "neuralab.cli", *args, "--name", "cut"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "cut" / "checkpoint.safetensors"
    deadline = time.monotonic() + 60
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.exists()
    print("killed mid-run:", proc.returncode == -signal.SIGKILL)
    assert main(["train", "--resume", str(tmp_path / "cut")]) == 0
    whole = nl.load(tmp_path / "whole" / "model.safetensors").params
    resumed = nl.load(tmp_path / "cut" / "model.safetensors").params
    np.testing.assert_array_equal(resumed, whole)
    rows = (tmp_path / "cut" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 12


def test_csv_data_trains_evaluates_and_predicts(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0]
    y = (X[:, 0] + X[:, 1] / 10 > 0.5).astype(int)
    path = tmp_path / "table.csv"
    np.savetxt(path, np.c_[X, y], delimiter=",", header="a,b,c,target", comments="",
               fmt=["%.6f", "%.6f", "%.6f", "%d"])
    code, out, _ = _run(capsys, "train", "--data", str(path), "--label", "target", "--epochs",
                        "40", "--hidden", "8", "--out-dir", str(tmp_path), "--name", "csv")
    assert code == 0 and "test accuracy" in out
    model_path = str(tmp_path / "csv" / "model.safetensors")
    code, out, _ = _run(capsys, "evaluate", model_path, "--data", str(path), "--label",
                        "target")
    assert code == 0
    acc = float(next(x for x in out.splitlines() if x.startswith("test accuracy")).split()[-1])
    assert acc > 0.85                # learned on standardized inputs, evaluated the same way
    wrong = tmp_path / "wide.csv"
    np.savetxt(wrong, np.ones((2, 5)), delimiter=",")
    code, _, err = _run(capsys, "predict", model_path, str(wrong))
    assert code == 2 and "5 feature columns per row but the model expects 3" in err


def test_usage_errors_are_one_line(capsys):
    for argv in (["bogus"], ["train", "--schedule", "linear"], ["train", "--epochs", "x"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2
        assert err.startswith("neuralab: error: ") and len(err.strip().splitlines()) == 1


def test_lab_is_passed_through(capsys):
    code, out, _ = _run(capsys, "lab", "list")
    assert code == 0 and "sigmoid" in out


def test_divergence_is_reported_and_the_run_still_written(tmp_path, capsys):
    argv = ["train", "--data", "iris", "--optimizer", "sgd", "--lr", "1e38", "--schedule",
            "constant", "--epochs", "2", "--out-dir", str(tmp_path), "--name", "div"]
    code, out, err = _run(capsys, *argv)
    assert code == 3
    assert err.startswith("neuralab: warning: training diverged at step")
    assert "learning rate" in err and "Hint" in err and "Traceback" not in err
    assert "diverged" in out and "test accuracy" in out
    assert np.isfinite(nl.load(tmp_path / "div" / "model.safetensors").params).all()
    code, _, err = _run(capsys, *argv, "--on-divergence", "raise", "--name", "div2")
    assert code == 3 and err.startswith("neuralab: error: training diverged")
    assert np.isfinite(nl.load(tmp_path / "div2" / "model.safetensors").params).all()
    assert (tmp_path / "div2" / "metrics.csv").exists()


def test_cli_imports_matplotlib_only_to_draw():
    code = ("import sys, neuralab.cli as c; c.main(['datasets']); "
            "assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
