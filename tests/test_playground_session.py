"""The playground's session, driven without a server: the library's training bit for bit,
race, zero init, weight edits, gradient panel, uploads, frames and exports."""

import numpy as np
import pytest

import neuralab as nl
from neuralab.playground import _config, export, frames, protocol
from neuralab.playground.protocol import ProtocolError
from neuralab.playground.session import Session


def _fit_twin(session, optimizer, lr, epochs, regularizer=None):
    """The same data, network, optimizer and schedule trained by nl.fit."""
    s = session.state
    model = nl.Sequential(_config.layers(s, session.X_in.shape[1], session.n_out, session.task),
                          seed=s["seed"], dtype="float64",
                          preprocessing=[nl.FeatureMap(s["features"], n_features_in=2)])
    nl.fit(model, session.X, session.y,
           optimizer=_config.optimizer(s, optimizer, lr, 10_000),
           schedule=_config.schedule(s, lr), epochs=epochs, batch_size=s["batchSize"],
           seed=s["seed"], regularizer=regularizer)
    return model


def _epochs(session, epochs):
    per_epoch = -(-len(session.y) // session.state["batchSize"])
    session.advance(epochs * per_epoch)


@pytest.mark.parametrize("optimizer, lr, schedule", [
    ("sgd", 0.03, {}), ("momentum", 0.03, {"schedule": "step", "stepSize": 2}),
    ("nesterov", 0.03, {}), ("adagrad", 0.1, {"schedule": "exponential"}),
    ("rmsprop", 0.01, {}), ("adam", 0.01, {"schedule": "cosine", "tMax": 3, "warmup": 1}),
    ("adamw", 0.01, {}), ("newton", 1.0, {})])
def test_a_run_equals_fit_bit_for_bit_at_epoch_boundaries(optimizer, lr, schedule):
    s = Session({"dataset": "spiral", "hidden": [5, 4], "optimizer": optimizer, "lr": lr,
                 "batchSize": 7, "seed": 3, "features": ["x1", "x2", "sin(x1)"], **schedule})
    _epochs(s, 2)
    twin = _fit_twin(s, optimizer, lr, 2)
    assert s.runs[0].epoch == 2 and s.runs[0].batch == 0
    assert np.array_equal(s.model.params, twin.params)
    _epochs(s, 1)
    assert not np.array_equal(s.model.params, twin.params)     # it did train on


def test_frames_do_not_change_training():
    a = Session({"dataset": "xor", "hidden": [4], "seed": 1})
    b = Session({"dataset": "xor", "hidden": [4], "seed": 1})
    for _ in range(5):
        a.advance(13)
        a.frame()
    b.advance(65)
    assert np.array_equal(a.model.params, b.model.params)


def test_the_snippet_reproduces_theta_mid_epoch(tmp_path, monkeypatch):
    s = Session({"dataset": "gaussians", "problem": "multiclass", "classes": 4,
                 "hidden": [6], "optimizer": "adam", "lr": 0.01, "batchSize": 9, "seed": 5,
                 "schedule": "step", "warmup": 2, "features": ["x1", "x2", "x1*x2"]})
    s.advance(123)
    assert s.runs[0].batch > 0                                 # stopped inside an epoch
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(export.python_snippet(s), "playground.py", "exec"), namespace)
    assert np.array_equal(namespace["model"].params, s.model.params)
    assert nl.load(tmp_path / "playground.safetensors").n_params == s.model.n_params


def test_the_snippet_says_when_it_cannot_reproduce():
    s = Session({"dataset": "xor", "hidden": [3]})
    s.advance(10)
    s.update({"lr": 0.1})
    s.edit_weight(0, 0, 0, 1.5)
    text = export.python_snippet(s)
    assert "edited by hand" in text and "lr changed at step 10" in text


def test_race_runs_start_from_the_same_weights_and_each_equals_fit():
    s = Session({"dataset": "circle", "hidden": [4], "optimizer": "sgd", "lr": 0.03,
                 "race": [{"optimizer": "momentum", "lr": 0.03},
                          {"optimizer": "adam", "lr": 0.01}]})
    assert len(s.runs) == 3
    for run in s.runs[1:]:
        assert np.array_equal(run.model.params, s.model.params)
    _epochs(s, 2)
    for run, (name, lr) in zip(s.runs, [("sgd", 0.03), ("momentum", 0.03), ("adam", 0.01)],
                               strict=True):
        assert np.array_equal(run.model.params, _fit_twin(s, name, lr, 2).params)
    _, _, sec = frames.unpack(s.frame())
    race = sec[frames.RACE].reshape(3, len(frames.RACE_NAMES))
    assert len({run.metrics for run in s.runs}) == 3           # they differ
    # each run's training time per epoch, beside its curves (measured, so only its sign)
    assert frames.RACE_NAMES[-1] == "ms_per_epoch" and (race[:, -1] > 0).all()
    assert all(run.timed_steps == run.train.state.step for run in s.runs)


def _neurons(session):
    _, _, sec = frames.unpack(session.frame())
    T = frames.THUMB * frames.THUMB
    return sec[frames.NEURONS].reshape(-1, T)


def test_zero_init_keeps_every_neuron_of_a_layer_identical():
    s = Session({"dataset": "circle", "hidden": [4, 3], "init": "zeros",
                 "activation": "sigmoid", "lr": 0.3})
    assert any("Zero initialization" in n for n in s.notices)
    s.advance(200)
    images = _neurons(s)
    assert (images[:4] == images[0]).all() and (images[4:] == images[4]).all()
    W = s.model.layers[2].W
    assert np.allclose(W, W[0]) and np.abs(W).max() > 0       # moved, but identically
    s.update({"init": "xavier_uniform"})
    s.advance(50)
    images = _neurons(s)
    assert not (images[:4] == images[0]).all()


def test_weight_and_bias_edits_reach_the_model_and_the_frame():
    s = Session({"dataset": "xor", "hidden": [3]})
    s.edit_weight(0, 2, 1, -7.5)
    s.edit_weight(1, 0, 3, 2.25)                               # j = n_in: the bias
    assert s.model.layers[0].W[2, 1] == -7.5 and s.model.layers[2].b[0, 0] == 2.25
    _, _, sec = frames.unpack(s.frame())
    assert sec[frames.WEIGHTS][2 * 2 + 1] == -7.5
    with pytest.raises(ProtocolError, match="shape"):
        s.edit_weight(0, 3, 0, 1.0)
    with pytest.raises(ProtocolError, match="layer must be below 2"):
        s.edit_weight(2, 0, 0, 1.0)


def test_gradient_panel_and_dead_relus():
    s = Session({"dataset": "circle", "hidden": [8] * 6, "activation": "sigmoid", "lr": 0.1})
    s.advance(50)
    _, _, sec = frames.unpack(s.frame())
    g = sec[frames.GRADS]
    assert g.shape == (7,) and np.isfinite(g).all()
    assert g[0] < g[-1] / 10                                   # vanishing with sigmoid
    s = Session({"dataset": "circle", "hidden": [4, 4], "activation": "relu"})
    for i in range(4):
        s.edit_weight(0, i, 2, -100.0)                         # bias far below zero
    scalars = dict(zip(frames.SCALAR_NAMES, frames.unpack(s.frame())[2][frames.SCALARS],
                       strict=True))
    assert scalars["dead_relu"] >= 0.5


def test_inputs_and_regularization_are_the_library_s():
    # the network carries nl.FeatureMap (its model file takes raw x1, x2) and L1/L2 are
    # nl.regularizers inside the loop fit runs: a regularized run equals fit(regularizer=)
    s = Session({"features": ["x1^2", "sin(x2)"], "hidden": [2]})
    assert s.model.n_in == 2 and s.model.n_features_in == 2
    assert isinstance(s.model.preprocessing[0], nl.FeatureMap)
    assert s.renderer.G.shape == (2, frames.GRID ** 2)
    X = np.array([[1.0, 2.0], [-0.5, 3.0]])
    assert np.array_equal(s.model.preprocessing[0].transform(X),
                          np.column_stack([X[:, 0] ** 2, np.sin(X[:, 1])]))
    for kind in ("L1", "L2"):
        s = Session({"dataset": "circle", "hidden": [4], "optimizer": "sgd", "lr": 0.1,
                     "regularization": kind, "regRate": 0.01, "batchSize": 10, "seed": 2,
                     "features": ["x1", "x2", "x1^2"]})
        _epochs(s, 2)
        twin = _fit_twin(s, "sgd", 0.1, 2, getattr(nl.regularizers, kind)(0.01))
        assert np.array_equal(s.model.params, twin.params), kind


def test_live_changes_go_on_from_the_current_weights():
    s = Session({"dataset": "xor", "hidden": [4], "optimizer": "sgd", "lr": 0.03, "seed": 1})
    s.advance(30)
    before, t = s.model.params.copy(), s.runs[0].step
    s.update({"optimizer": "adam", "regularization": "L1", "regRate": 0.001})
    assert s.runs[0].train.optimizer.t == 0 and np.array_equal(s.model.params, before)
    s.advance(5)
    assert s.runs[0].step == t + 5 and s.runs[0].train.optimizer.t == 5
    s.update({"batchSize": 3})                     # a new loop from the next epoch
    s.advance(2)
    assert s.runs[0].step == t + 7 and s.runs[0].batch == 2
    with pytest.raises(ProtocolError, match="Newton"):
        s.update({"optimizer": "newton"})
    assert s.state["optimizer"] == "adam"


def test_divergence_pauses_and_keeps_finite_weights():
    s = Session(_config.PRESETS["lr-too-large"]["state"])
    s.play()
    for _ in range(10):
        s.advance()
    assert not s.playing and s.runs[0].diverged
    assert np.isfinite(s.model.params).all()
    assert any("diverged" in n for n in s.notices)


def test_newton_is_refused_above_its_size_limit_and_the_state_stays():
    s = Session({"hidden": [8] * 6})
    s.advance(10)
    with pytest.raises(ProtocolError, match="limited to networks of 300"):
        s.update({"optimizer": "newton"})
    assert s.state["optimizer"] == "sgd" and s.runs[0].optimizer.__class__.__name__ == "SGD"
    assert s.runs[0].step == 10                                  # training kept
    with pytest.raises(ProtocolError, match="limited to networks of 300"):
        s.update({"optimizer": "newton", "hidden": [8] * 5})
    assert s.state["hidden"] == [8] * 6 and s.runs[0].step == 10


def test_upload_trains_on_the_csv_and_bad_files_are_explained():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, (60, 2))
    rows = "\n".join(f"{a},{b},{int(a > b)}" for a, b in X)
    s = Session()
    s.upload("a,b,label\n" + rows)
    assert s.state["dataset"] == "upload" and s.task == "binary"
    assert len(s.y) + len(s.y_test) == 60 and s.domain[0] < -2.9
    s.advance(100)
    assert s.runs[0].metrics[3] > 0.7
    s.upload("\n".join(f"{a},{b},{a - b}" for a, b in X))
    assert s.task == "regression" and s.state["problem"] == "regression"
    for text, match in [("1,2\n" * 20, "line 1: expected 3 values"),
                        ("1,2,0\n" * 10 + "x,2,1\n", "line 11, column 1"),
                        ("1,2,0\n" * 10 + "nan,2,1\n", "not a finite number"),
                        ("1,2,0\n" * 3, "at least 10"),
                        ("\n".join(f"{i},{-i},{i % 2 * 5}" for i in range(20)), "0..K-1"),
                        ("1,2,0\n" * 2001, "over the limit of 2,000")]:
        with pytest.raises(ProtocolError, match=match):
            s.upload(text)
    assert s.task == "regression"                               # the last good upload stays


def test_frame_layout_and_quantization():
    assert frames.quantize(np.array([-2.0, -1.0, 0.0, 1.0, 3.0])).tolist() == \
        [0, 0, 128, 255, 255]
    s = Session({"dataset": "gaussians", "problem": "multiclass", "classes": 5,
                 "hidden": [3, 2]})
    s.set_focus(1, 2)
    kind, seq, sec = frames.unpack(s.frame())
    assert kind == frames.FRAME and seq == 1
    assert sec[frames.OUTPUT].dtype == np.uint8 and sec[frames.OUTPUT].size == 100 * 100
    assert set(np.unique(sec[frames.CLASSES])) <= set(range(5))
    assert sec[frames.NEURONS].size == (5 + 5) * 20 * 20            # hidden and output units
    assert sec[frames.FOCUS].size == 10_000
    assert list(sec[frames.SHAPE]) == [2, 3, 2, 5]
    assert sec[frames.WEIGHTS].size == s.model.n_params
    kind, _, sec = frames.unpack(s.data_frame())
    assert kind == frames.DATA and sec[frames.POINTS].shape == (500 * 4,)
    assert sec[frames.INPUTS].size == 2 * 400
    _, _, sec = frames.unpack(s.curve_frame())
    assert np.allclose(sec[frames.LR_CURVE], 0.03)


def test_the_output_heatmap_is_the_models_forward_pass():
    s = Session({"dataset": "xor", "hidden": [4]})
    s.advance(100)
    _, _, sec = frames.unpack(s.frame())
    P = s.model.forward(s.grid)[:, 0]                           # float64, the public API
    expected = frames.quantize(np.float32(2 * P - 1))
    assert np.abs(sec[frames.OUTPUT].astype(int) - expected).max() <= 1


def test_exported_model_is_accepted_by_load_and_neuralab_evaluate(tmp_path, capsys):
    from neuralab.cli import main

    for features in (["x1", "x2"], ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)"]):
        s = Session({"dataset": "xor", "hidden": [4, 4], "seed": 2, "features": features})
        s.advance(300)
        model_path, data_path = tmp_path / "m.safetensors", tmp_path / "d.csv"
        model_path.write_bytes(export.export(s, "model")[0])
        data_path.write_bytes(export.export(s, "data")[0])
        loaded = nl.load(model_path)         # the features travel in the file: raw x1, x2 in
        assert np.array_equal(loaded.params, s.model.params)
        assert loaded.preprocessing[0].features == features
        assert main(["evaluate", str(model_path), "--data", str(data_path)]) == 0
        out = capsys.readouterr().out
        expected = nl.evaluate(s.model, np.vstack([s.X, s.X_test]),
                               np.concatenate([s.y, s.y_test]))["accuracy"]
        assert "500 samples" in out and f"test accuracy   {expected:.4f}" in out


def test_toml_is_read_by_neuralab_train_and_lists_its_gaps(tmp_path):
    from neuralab.cli.options import _read_config

    s = Session({"dataset": "circle", "hidden": [], "optimizer": "newton", "lr": 1.0})
    text = export.train_toml(s)
    assert "no hidden layer" in text and "Newton" in text
    path = tmp_path / "run.toml"
    path.write_text(text)
    config = _read_config(str(path))
    assert config["dataset"] == "playground-data.csv" and config["dtype"] == "float64"
    assert config["hidden"] == [1] and config["optimizer"] == "sgd"
    # input features, raw inputs and the regularizer are neuralab train options too
    s = Session({"dataset": "circle", "hidden": [3], "features": ["x1", "x2", "x1*x2"],
                 "regularization": "L1", "regRate": 0.003})
    path.write_text(export.train_toml(s))
    config = _read_config(str(path))
    assert config["features"] == "x1,x2,x1*x2" and config["standardize"] is False
    assert config["regularizer"] == "l1" and config["reg_rate"] == 0.003
    assert "regularization" not in export.train_toml(s).split("not expressible")[1]


def test_live_settings_keep_training_and_data_changes_rebuild():
    s = Session({"dataset": "xor"})
    s.advance(30)
    theta = s.model.params.copy()
    s.update({"lr": 0.3, "optimizer": "momentum", "stepsPerFrame": 5})
    assert np.array_equal(s.model.params, theta) and s.runs[0].step == 30
    s.update({"noise": 25})
    assert s.runs[0].step == 0 and s.state["noise"] == 25
    s.update({"problem": "regression"})
    assert s.state["dataset"] == "reg-plane" and s.task == "regression"


def test_the_snippet_reproduces_an_upload_with_the_pages_own_split(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    X = rng.uniform(-3, 3, (90, 2)).tolist()
    for rows in ("\n".join(f"{a!r},{b!r},{int(a * b > 0)}" for a, b in X),
                 "\n".join(f"{a!r},{b!r},{float(np.sin(a) + b / 3)!r}" for a, b in X)):
        s = Session({"hidden": [5], "seed": 7, "trainShare": 60, "batchSize": 8})
        s.upload("x1,x2,label\n" + rows)
        s.advance(4 * -(-len(s.y) // 8))                       # 4 epochs
        monkeypatch.chdir(tmp_path)
        (tmp_path / "playground-data.csv").write_bytes(export.export(s, "data")[0])
        namespace = {}
        exec(compile(export.python_snippet(s), "playground.py", "exec"), namespace)
        assert np.array_equal(namespace["X_train"], s.X)      # the page's split, not a new one
        assert np.array_equal(namespace["y_test"], s.y_test)
        assert np.array_equal(namespace["model"].params, s.model.params)


def _toml_body(text):
    code, _, gaps = text.partition("not expressible")
    return [line for line in code.splitlines() if not line.startswith("#")], gaps


def test_every_setting_travels_in_the_toml_or_is_listed():
    # field -> (the context it matters in, another value); every STATE field is here
    cases = {"problem": ({}, "regression"), "dataset": ({}, "xor"), "classes": (
        {"problem": "multiclass"}, 5), "points": ({}, 300), "noise": ({}, 20),
        "trainShare": ({}, 70), "seed": ({}, 9), "features": ({}, ["x1", "x2", "x1*x2"]),
        "hidden": ({}, [3]), "activation": ({}, "relu"),
        "alpha": ({"activation": "leaky_relu"}, 0.2), "init": ({}, "he_uniform"),
        "initScale": ({"init": "normal"}, 0.5), "optimizer": ({}, "adam"), "lr": ({}, 0.1),
        "beta": ({"optimizer": "momentum"}, 0.5), "rho": ({"optimizer": "rmsprop"}, 0.5),
        "beta1": ({"optimizer": "adam"}, 0.5), "beta2": ({"optimizer": "adam"}, 0.9),
        "eps": ({"optimizer": "adam"}, 1e-4), "weightDecay": ({"optimizer": "adamw"}, 0.2),
        "damping": ({"optimizer": "newton", "hidden": [2]}, 0.5),
        "schedule": ({}, "step"), "gamma": ({"schedule": "step"}, 0.3),
        "stepSize": ({"schedule": "step"}, 5), "decay": ({"schedule": "exponential"}, 0.3),
        "tMax": ({"schedule": "cosine"}, 4), "lrMin": ({"schedule": "cosine"}, 0.001),
        "warmup": ({}, 3), "regularization": ({"regRate": 0.01}, "L2"),
        "regRate": ({"regularization": "L1"}, 0.03), "batchSize": ({}, 5),
        "race": ({}, [{"optimizer": "adam", "lr": 0.01}]), "batchNorm": ({}, True),
        "dropout": ({}, 0.3), "layerActivations": ({"hidden": [3, 3]}, ["relu", "sigmoid"])}
    assert set(cases) | set(export.VIEW_ONLY) == set(protocol.STATE)
    for field, (context, value) in cases.items():
        before = Session(dict(context))
        after = Session({**context, field: value})
        for s in (before, after):
            s.advance(2 * -(-len(s.y) // s.state["batchSize"]))   # 2 epochs
        (code0, gaps0), (code1, gaps1) = (_toml_body(export.train_toml(s))
                                          for s in (before, after))
        new_gaps = [g for g in gaps1.splitlines() if g not in gaps0.splitlines()]
        if field in export.IN_THE_DATA:          # the points themselves: in the data export
            assert export.data_csv(after) != export.data_csv(before), field
        else:
            assert code1 != code0 or any(field in g for g in new_gaps), field


def test_the_cosine_period_travels_or_is_listed(tmp_path):
    s = Session({"schedule": "cosine", "tMax": 4, "lr": 0.1})
    s.advance(10 * -(-len(s.y) // s.state["batchSize"]))
    text = export.train_toml(s)
    assert "tMax 4 (the cosine period)" in text and "10 epochs" in text
    s = Session({"schedule": "cosine", "tMax": 2, "lr": 0.1, "lrMin": 0.01})
    s.advance(2 * -(-len(s.y) // s.state["batchSize"]))
    text = export.train_toml(s)
    assert "tMax" not in text and "lr_min = 0.01" in text     # T = the run's epochs: it travels


@pytest.mark.parametrize("problem", ["classification", "regression", "multiclass"])
def test_an_exported_model_works_with_predict_and_evaluate(problem, tmp_path, capsys):
    from neuralab.cli import main

    s = Session({"problem": problem, "hidden": [4], "seed": 1})
    s.advance(100)
    model_path, data_path = tmp_path / "m.safetensors", tmp_path / "d.csv"
    model_path.write_bytes(export.export(s, "model")[0])
    data_path.write_bytes(export.export(s, "data")[0])
    loaded = nl.load(model_path)
    assert loaded.feature_names == ["x1", "x2"] and loaded.target == "label"
    assert (loaded.classes is None) == (problem == "regression")
    assert main(["predict", str(model_path), str(data_path)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1 + len(s.y) + len(s.y_test) and "older" not in err
    first = float(lines[1].split(",")[0])
    assert first == pytest.approx(float(np.ravel(s.model.predict(s.X[:1]))[0]), rel=1e-5)
    assert main(["evaluate", str(model_path), "--data", str(data_path)]) == 0
    assert "older" not in capsys.readouterr().err


def test_a_link_with_bad_fields_applies_the_good_ones_and_names_the_bad():
    s = Session()
    s.update({"dataset": "xor", "hidden": [9], "lr": 0.1, "hide": ["optimizer", "bogus"]})
    assert s.state["dataset"] == "xor" and s.state["lr"] == 0.1
    assert s.state["hidden"] == [4, 2] and s.state["hide"] == ["optimizer"]
    assert any("hidden[0]" in n and "'bogus'" in n for n in s.notices)
    s.update({"problem": "regression", "dataset": "xor", "noise": 10})   # fields that clash
    assert s.state["problem"] == "regression" and s.state["dataset"] == "reg-plane"
    assert s.state["noise"] == 10 and any("dataset 'xor' does not fit" in n for n in s.notices)
    with pytest.raises(ProtocolError, match="hidden"):        # a single bad field: refused
        s.update({"hidden": [9]})
    empty = "seed must be an integer between 0 and .*; the box is empty"
    with pytest.raises(ProtocolError, match=empty):
        s.update({"seed": None})                               # an empty box, not "got None"


def test_the_divergence_note_names_the_run_s_current_rate():
    s = Session(_config.PRESETS["lr-too-large"]["state"])
    s.update({"lr": 5.0})
    for _ in range(10):
        s.advance()
    assert any(n.startswith("sgd 5 (main)") and "diverged" in n for n in s.notices)


@pytest.mark.parametrize("state", [
    {"dataset": "xor", "hidden": [4, 3], "activation": "tanh"},
    {"problem": "regression", "hidden": [5], "activation": "relu", "lr": 0.001,
     "features": ["x1", "x2", "x1*x2"]},
    {"problem": "multiclass", "classes": 4, "hidden": [6, 2], "activation": "sigmoid"},
    {"dataset": "circle", "hidden": [], "batchSize": 1}])
def test_backprop_step_by_step_numbers_are_the_library_s(state):
    import json

    from neuralab.playground import backprop

    s = Session({"batchSize": 7, "lr": 0.1, **state})
    s.advance(30)
    example = 11
    out = json.loads(export.export(s, f"backprop:{example}")[0])
    assert out == json.loads(backprop.step_json(s, example))
    idx = out["batch"]
    assert idx[0] == example and out["m"] == len(idx) == s.state["batchSize"]
    # forward: Z = W A + b layer by layer, the output equal to model.forward's
    a = np.array(out["layers"][0]["a_prev"])
    assert np.array_equal(a, s.model.preprocessing[0].transform(s.X[example:example + 1])[0])
    for layer in out["layers"]:
        W, b = np.array(layer["W"]), np.array(layer["b"])
        assert np.allclose(np.array(layer["z"]), W @ a + b, rtol=1e-12, atol=1e-12)
        a = np.array(layer["a"])
    assert np.allclose(a, s.model.forward(s.X[example:example + 1])[0], rtol=1e-12, atol=0)
    # backward: dW, db of every layer equal to loss_and_grad's gradient on the same batch
    twin = nl.Sequential(_config.layers(s.state, s.X_in.shape[1], s.n_out, s.task),
                         seed=0, dtype="float64")
    twin.params = s.model.params.copy()
    Y = s.loss.prepare_targets(s.y[idx], s.n_out, len(idx), twin.dtype)
    J = twin.loss_and_grad(s.X_in[idx].T, Y, s.loss)
    assert out["loss"] == pytest.approx(J, rel=1e-12)
    flat = np.concatenate([np.r_[np.ravel(layer["dW"]), layer["db"]] for layer in out["layers"]])
    assert np.allclose(flat, twin.grads, rtol=1e-10, atol=1e-14)
    # dA_prev = Wᵀ dZ, and the update is θ − α∇θ
    for layer in out["layers"][1:]:
        assert np.allclose(layer["da_prev"], np.array(layer["W"]).T @ np.array(layer["dz"]))
    first = out["layers"][0]
    assert np.allclose(first["W_new"], np.array(first["W"]) - out["lr"] * np.array(first["dW"]))
    assert out["lr"] == s.state["lr"]
    with pytest.raises(ProtocolError, match="between 0 and"):
        export.export(s, f"backprop:{len(s.y)}")


def test_frames_carry_r2_rmse_and_the_confusion_matrix():
    s = Session({"problem": "multiclass", "classes": 4, "hidden": [6], "noise": 30})
    s.advance(150)
    _, _, sections = frames.unpack(s.frame())
    scalars = dict(zip(frames.SCALAR_NAMES, sections[frames.SCALARS], strict=True))
    C = sections[frames.CONFUSION].reshape(4, 4).astype(int)
    assert C.sum() == len(s.y_test) and np.isnan(scalars["test_r2"])
    assert np.trace(C) / C.sum() == pytest.approx(scalars["test_accuracy"])
    assert np.array_equal(C.sum(axis=1), np.bincount(s.y_test, minlength=4))   # rows: true
    s = Session({"problem": "regression", "dataset": "reg-gauss", "hidden": [6]})
    s.advance(300)
    _, _, sections = frames.unpack(s.frame())
    scalars = dict(zip(frames.SCALAR_NAMES, sections[frames.SCALARS], strict=True))
    assert frames.CONFUSION not in sections
    # RMSE is the square root of the library's test MSE; R² = 1 − SS_res / SS_tot
    assert scalars["test_rmse"] == pytest.approx(np.sqrt(scalars["test_loss"]), rel=1e-9)
    residual = np.ravel(s.model.predict(s.X_test)) - s.y_test
    expected = 1 - np.sum(residual ** 2) / np.sum((s.y_test - s.y_test.mean()) ** 2)
    assert scalars["test_r2"] == pytest.approx(expected) and 0 < expected < 1


def test_training_stops_at_an_epoch_or_a_target_loss():
    s = Session({"dataset": "xor", "hidden": [4], "stopEpoch": 3, "stepsPerFrame": 40})
    s.play()
    for _ in range(10):
        s.advance()
    run = s.runs[0]
    assert not s.playing and (run.epoch, run.batch) == (3, 0)
    assert run.step == 3 * run.train.n_batches
    assert any("stopped at epoch 3" in n for n in s.notices)
    s.update({"stopEpoch": 0})
    s.advance(5)                                                # mid-epoch 3
    s.update({"stopEpoch": 2})                                  # already passed: pauses
    s.play()
    s.advance()
    assert not s.playing and s.runs[0].step == 3 * run.train.n_batches + 5
    s = Session({"dataset": "gauss", "hidden": [3], "stopLoss": 0.2, "lr": 0.1})
    s.play()
    for _ in range(200):
        s.advance()
        if not s.playing:
            break
    assert not s.playing and s.runs[0].metrics[0] <= 0.2
    assert any("reached the target 0.2" in n for n in s.notices)


def test_the_sine_boundary_data_set_is_the_library_s_and_in_the_page():
    X, y = nl.data.planar("sine", n_samples=400, noise=0, seed=3)
    assert X.shape == (400, 2) and np.abs(X).max() <= 6
    assert np.array_equal(y, (X[:, 1] >= 3 * np.sin(np.pi * X[:, 0] / 4)).astype(int))
    assert 0.3 < y.mean() < 0.7 and nl.data.PLANAR["sine"][0] == "binary"
    noisy = nl.data.planar("sine", n_samples=400, noise=40, seed=3)[1]
    assert not np.array_equal(noisy, y)
    assert "sine" in protocol.DATASETS["classification"]
    s = Session({"dataset": "sine", "hidden": [6, 4], "lr": 0.1})
    points = np.vstack([s.X, s.X_test])
    library = nl.data.planar("sine", n_samples=500, noise=0, seed=0)[0]
    assert np.array_equal(np.unique(points, axis=0), np.unique(library, axis=0))
    assert s.task == "binary"


def test_batch_norm_and_dropout_train_as_the_library_s_mlp_and_the_exports_carry_them(
        tmp_path, monkeypatch):
    from neuralab.cli.options import _read_config

    s = Session({"dataset": "xor", "hidden": [4, 3], "batchNorm": True, "dropout": 0.25,
                 "optimizer": "adam", "lr": 0.01, "batchSize": 7, "seed": 3})
    assert [type(x).__name__ for x in s.model.layers] == [
        "Dense", "BatchNorm", "Tanh", "Dropout", "Dense", "BatchNorm", "Tanh", "Dropout",
        "Dense", "Sigmoid"]                      # nl.MLP(..., batch_norm=True, dropout=p)'s order
    assert s.model.n_params == _config.n_params(s.state, 2, 1)
    s.advance(57)                                # masks and batch statistics drawn as fit does
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(export.python_snippet(s), "playground.py", "exec"), namespace)
    assert np.array_equal(namespace["model"].params, s.model.params)
    for a, b in zip(namespace["model"].layers, s.model.layers, strict=True):
        for name, value in b.buffers().items():  # BatchNorm's running statistics too
            assert np.array_equal(a.buffers()[name], value), name
    assert any(b.buffers() for b in s.model.layers)
    path = tmp_path / "run.toml"
    path.write_text(export.train_toml(s))
    config = _read_config(str(path))
    assert config["batch_norm"] is True and config["dropout"] == 0.25


def test_newton_and_the_step_by_step_view_refuse_batch_norm_and_dropout_by_name():
    from neuralab.playground import backprop

    s = Session({"dataset": "xor", "hidden": [2], "dropout": 0.2})
    with pytest.raises(ProtocolError, match="Newton cannot use a model with Dropout"):
        s.update({"optimizer": "newton"})
    assert s.state["optimizer"] == "sgd"         # refused: nothing changed
    s.advance(3)
    with pytest.raises(ProtocolError, match="switch batch norm and dropout off"):
        backprop.step(s, 0)
    with pytest.raises(ProtocolError, match="Newton cannot use a model with BatchNorm"):
        Session({"dataset": "xor", "hidden": [2], "batchNorm": True, "optimizer": "newton"})
    s.update({"dropout": 0.0})                   # without them, both work
    s.update({"optimizer": "newton"})
    assert backprop.step(s, 0)


def test_the_drawing_gets_the_dense_layers_weights_with_batch_norm_too():
    s = Session({"dataset": "xor", "hidden": [4, 3], "batchNorm": True})
    s.advance(10)
    _, _, sec = frames.unpack(s.frame())
    dense = [x for x in s.model.layers if isinstance(x, nl.Dense)]
    expected = np.concatenate([np.concatenate([d.W.ravel(), d.b.ravel()]) for d in dense])
    assert np.array_equal(sec[frames.WEIGHTS], expected.astype(np.float32))  # no γ, β inside
    assert sec[frames.GRADS].shape == (len(dense),)       # one gradient line per Dense layer


def test_an_activation_per_layer_trains_and_travels():
    s = Session({"dataset": "circle", "hidden": [4, 3, 2], "activation": "tanh",
                 "layerActivations": ["relu", "", ""], "optimizer": "adam", "lr": 0.01})
    assert s.state["layerActivations"] == ["relu"]              # trailing defaults dropped
    assert [type(x).__name__ for x in s.model.layers[1::2]] == ["ReLU", "Tanh", "Tanh",
                                                                 "Sigmoid"]
    s.update({"layerActivations": ["", "leaky_relu"], "alpha": 0.2})
    acts = s.model.layers[1::2]
    assert type(acts[1]).__name__ == "LeakyReLU" and acts[1].alpha == 0.2
    s.advance(40)
    namespace = {}
    exec(compile(export.python_snippet(s).replace('nl.save(model, "playground.safetensors")',
                                                  ""), "playground.py", "exec"), namespace)
    assert np.array_equal(namespace["model"].params, s.model.params)
    gaps = export.train_toml(s).split("not expressible")[1]
    assert "layerActivations tanh, leaky_relu, tanh" in gaps and "alpha 0.2" in gaps
    with pytest.raises(ProtocolError, match=r"layerActivations\[1\] must be one of"):
        s.update({"layerActivations": ["relu", "swish"]})
    with pytest.raises(ProtocolError, match="at most 6 entries"):
        s.update({"layerActivations": ["relu"] * 7})
