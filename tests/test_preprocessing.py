"""The model is a function of raw inputs: preprocessing steps, class labels, and the model file
that keeps them (nl.preprocessing, Sequential(preprocessing=, classes=), nl.save/nl.load)."""

import json
import struct

import numpy as np
import pytest

import neuralab as nl
from neuralab.preprocessing import FeatureMap, Standardizer

PLAYGROUND = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]


def _xy(m=80, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 2)) * [3.0, 0.5] + [10.0, -2.0]
    y = np.where((X[:, 0] - 10.0) * (X[:, 1] + 2.0) > 0, "same", "other")
    return X, y


# ---------------------------------------------------------------------------- FeatureMap
def test_feature_map_builds_the_playground_inputs():
    X = np.array([[0.5, -2.0], [3.0, 0.25]])
    fm = FeatureMap(PLAYGROUND)
    assert (fm.n_features_in, fm.n_features_out, fm.features) == (2, 7, PLAYGROUND)
    x1, x2 = X[:, 0], X[:, 1]
    expected = np.column_stack([x1, x2, x1**2, x2**2, x1 * x2, np.sin(x1), np.sin(x2)])
    np.testing.assert_array_equal(fm.transform(X), expected)


def test_feature_map_indices_width_and_config():
    fm = FeatureMap(["x3", "x1 * x3", "sin( x2 )"], n_features_in=4)
    assert fm.features == ["x3", "x1*x3", "sin(x2)"] and fm.n_features_in == 4
    X = np.arange(8.0).reshape(2, 4)
    np.testing.assert_array_equal(fm.transform(X), np.column_stack(
        [X[:, 2], X[:, 0] * X[:, 2], np.sin(X[:, 1])]))
    again = FeatureMap.from_config(json.loads(json.dumps(fm.get_config())))
    np.testing.assert_array_equal(again.transform(X), fm.transform(X))
    assert FeatureMap(["x2"]).n_features_in == 2             # the highest index used


@pytest.mark.parametrize("features, kwargs, match", [
    (["x1", "cos(x1)"], {}, r"features\[1\] = 'cos\(x1\)' is not a feature name; use 'x<i>', "
                            r"'x<i>\^2', 'x<i>\*x<j>', 'sin\(x<i>\)'"),
    (["x0"], {}, r"column indices start at 1"),
    (["x1", "x1"], {}, r"'x1' more than once"),
    ([], {}, r"features is empty"),
    (["x3"], {"n_features_in": 2}, r"n_features_in=2 but features use x3"),
    ("x1", {}, r"features must be a list"),
    ([1], {}, r"features\[0\] must be a string"),
])
def test_feature_map_refuses_bad_names(features, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        FeatureMap(features, **kwargs)


def test_feature_map_refuses_the_wrong_width():
    with pytest.raises(ValueError, match=r"X has 3 columns but this FeatureMap reads 2"):
        FeatureMap(PLAYGROUND).transform(np.ones((4, 3)))


# ---------------------------------------------------------------------------- Standardizer
def test_standardizer_is_a_step_with_a_config():
    X, _ = _xy()
    s = nl.data.Standardizer().fit(X)
    assert nl.data.Standardizer is Standardizer and (s.n_features_in, s.n_features_out) == (2, 2)
    config = json.loads(json.dumps(s.get_config()))
    assert set(config) == {"mean", "scale"} and config["mean"] == s.mean_.tolist()
    again = Standardizer.from_config(config)
    np.testing.assert_array_equal(again.transform(X), s.transform(X))
    pixels = Standardizer.from_stats(0.0, 255.0)              # any width
    assert pixels.n_features_in is None and pixels.get_config() == {"mean": 0.0, "scale": 255.0}
    with pytest.raises(ValueError, match="not fitted"):
        Standardizer().get_config()


@pytest.mark.parametrize("config, match", [
    ({"mean": [0.0], "scale": [0.0]}, "scale must be > 0"),
    ({"mean": [0.0, 1.0], "scale": [1.0]}, "one length"),
    ({"mean": ["a"], "scale": [1.0]}, "mean must be numeric"),
    ({"mean": [0.0]}, "exactly 'mean' and 'scale'"),
])
def test_standardizer_config_is_checked(config, match):
    with pytest.raises(ValueError, match=match):
        Standardizer.from_config(config)


# ---------------------------------------------------------------------------- models
def _model(dtype="float64", seed=0, **kwargs):
    fm = FeatureMap(["x1", "x2", "x1*x2"])
    X, _ = _xy()
    steps = [fm, Standardizer().fit(fm.transform(X))]
    return nl.MLP([3, 8, 2], seed=seed, dtype=dtype, preprocessing=steps, **kwargs)


def test_forward_takes_raw_rows_and_applies_the_steps():
    X, _ = _xy()
    model = _model()
    inner = nl.MLP([3, 8, 2], seed=0, dtype="float64")
    fm, s = model.preprocessing
    assert model.n_features_in == 2 and model.n_in == 3
    np.testing.assert_array_equal(model.forward(X), inner.forward(s.transform(fm.transform(X))))
    with pytest.raises(ValueError, match=r"X has 3 features per sample but the model takes 2 "
                                         r"raw columns .*FeatureMap, Standardizer"):
        model.forward(np.ones((2, 3)))


def test_preprocessing_set_later_is_checked_and_used():
    X, _ = _xy()
    model = nl.MLP([7, 4, 2], seed=0, dtype="float64")
    assert model.preprocessing == [] and model.n_features_in == 7
    with pytest.raises(ValueError, match=r"preprocessing writes 3 columns but the model's first "
                                         r"layer takes 7"):
        model.preprocessing = [FeatureMap(["x1", "x2", "x1^2"])]
    with pytest.raises(ValueError, match=r"does not chain: preprocessing\[1\]"):
        model.preprocessing = [FeatureMap(PLAYGROUND), Standardizer().fit(np.ones((3, 2)))]
    with pytest.raises(ValueError, match="not fitted"):
        model.preprocessing = [Standardizer()]
    with pytest.raises(TypeError, match=r"preprocessing\[0\] must have transform"):
        model.preprocessing = ["x1"]
    model.preprocessing = FeatureMap(PLAYGROUND)              # one step is a list of one
    assert model.n_features_in == 2 and len(model.preprocessing) == 1
    assert model.forward(X).shape == (len(X), 2)


@pytest.mark.parametrize("classes", [["neg", "pos"], [-1, 1], [0.5, 2.5], [False, True]])
def test_predict_returns_the_original_labels_with_their_type(classes):
    X, _ = _xy()
    model = _model(classes=classes)
    k = model.forward(X).argmax(axis=1)
    pred = model.predict(X)
    assert pred.dtype.kind == np.asarray(classes).dtype.kind
    assert pred.tolist() == [classes[i] for i in k]
    np.testing.assert_array_equal(model.predict_proba(X), model.forward(X))


def test_a_sigmoid_unit_has_two_labels():
    X, _ = _xy()
    model = nl.LogisticRegression(2, seed=0, classes=["no", "yes"],
                                  preprocessing=[Standardizer().fit(X)])
    model.params[:] = [1.0, -1.0, 0.2]
    p = model.forward(X)[:, 0]
    assert model.predict(X).tolist() == np.where(p >= 0.5, "yes", "no").tolist()


@pytest.mark.parametrize("make, classes, match", [
    (lambda: nl.MLP([2, 3]), ["a", "b"], r"classes has 2 labels but the model has 3 classes"),
    (lambda: nl.MLP([2, 2]), ["a", "a"], r"classes must be distinct"),
    (lambda: nl.MLP([2, 2], output="identity"), ["a", "b"], r"classes need a classifier output"),
    (lambda: nl.MLP([2, 2]), [0.0, np.nan], r"NaN"),
    (lambda: nl.MLP([2, 2]), [["a", "b"]], r"1-D"),
    (lambda: nl.MLP([2, 2]), [1, "b"], r"one type"),
])
def test_classes_are_checked(make, classes, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make().classes = classes


def test_fit_and_evaluate_take_original_labels():
    X, y = _xy()
    a = _model(classes=["other", "same"])
    b = _model()                                          # the same network, indices
    codes = (y == "same").astype(int)
    ha = nl.fit(a, X, y, optimizer="adam", epochs=3, batch_size=16, validation_data=(X, y))
    hb = nl.fit(b, X, codes, optimizer="adam", epochs=3, batch_size=16,
                validation_data=(X, codes))
    np.testing.assert_array_equal(a.params, b.params)
    assert ha["val_accuracy"] == hb["val_accuracy"]
    assert nl.evaluate(a, X, y) == nl.evaluate(b, X, codes)
    with pytest.raises(ValueError, match=r"y holds 1 label\(s\) not among the model's classes: "
                                         r"\['maybe'\]; the classes are \['other', 'same'\]"):
        nl.evaluate(a, X[:3], ["same", "maybe", "other"])
    with pytest.raises(ValueError, match=r"y holds numbers but the model's classes are"):
        nl.fit(a, X, codes, epochs=1)
    assert nl.evaluate(a, X, np.eye(2)[codes]) == nl.evaluate(b, X, codes)   # one-hot rows


def test_a_memory_mapped_X_trains_through_the_preprocessing(tmp_path):
    X, y = _xy()
    np.save(tmp_path / "X.npy", X)
    mapped = nl.data.load_npy(tmp_path / "X.npy")
    a, b = _model(dtype="float32"), _model(dtype="float32")
    kwargs = {"optimizer": "adam", "epochs": 2, "batch_size": 16, "validation_split": 0.25}
    ha = nl.fit(a, mapped, y == "same", **kwargs)
    hb = nl.fit(b, X, y == "same", **kwargs)
    np.testing.assert_array_equal(a.params, b.params)
    assert ha["val_loss"] == hb["val_loss"]
    assert nl.evaluate(a, mapped, y == "same") == nl.evaluate(b, X, y == "same")
    with pytest.raises(ValueError, match=r"must have shape \(m, 2\)"):
        nl.fit(a, nl.data.load_npy(_save(tmp_path, np.ones((4, 3)))), [0, 1, 0, 1], epochs=1)


def _save(tmp_path, array):
    np.save(tmp_path / "wide.npy", array)
    return tmp_path / "wide.npy"


# ---------------------------------------------------------------------------- model files
def test_the_model_file_is_the_whole_model(tmp_path):
    X, y = _xy()
    model = _model(dtype="float32", classes=["other", "same"], target="sign",
                   feature_names=["temperature", "pressure"])
    nl.fit(model, X, y, optimizer="adam", epochs=2)
    nl.save(model, tmp_path / "m.safetensors")
    loaded = nl.load(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))
    assert loaded.predict(X).tolist() == model.predict(X).tolist()
    assert loaded.classes.dtype.kind == "U" and loaded.classes.tolist() == ["other", "same"]
    assert (loaded.target, loaded.feature_names) == ("sign", ["temperature", "pressure"])
    assert [s.get_config() for s in loaded.preprocessing] == \
        [s.get_config() for s in model.preprocessing]
    assert nl.evaluate(loaded, X, y) == nl.evaluate(model, X, y)


@pytest.mark.parametrize("classes", [[3, 7], [0.25, 1.5], [True, False], ["b", "a"]])
def test_classes_keep_their_type_through_a_file(tmp_path, classes):
    model = nl.MLP([2, 2], seed=0, classes=classes)
    nl.save(model, tmp_path / "m.safetensors")
    loaded = nl.load(tmp_path / "m.safetensors").classes
    assert loaded.tolist() == classes
    assert [type(v) for v in loaded.tolist()] == [type(v) for v in classes]


def _rewrite_metadata(path, **changes):
    """Rewrite a model file's metadata entries (None deletes one) in place."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    for key, value in changes.items():
        if value is None:
            header["__metadata__"].pop(key, None)
        else:
            header["__metadata__"][key] = value
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + n:])


def test_a_version_1_file_without_the_new_keys_still_loads(tmp_path):
    model = _model(classes=["other", "same"], target="sign")
    path = tmp_path / "old.safetensors"
    nl.save(model, path)
    _rewrite_metadata(path, format_version="1", preprocessing=None, classes=None, target=None,
                      feature_names=None)
    old = nl.load(path)
    assert old.preprocessing == [] and old.classes is None and old.target is None
    np.testing.assert_array_equal(old.params, model.params)


@pytest.mark.parametrize("key, value, match", [
    ("classes", '{"type": "complex", "values": [1, 2]}', "classes type must be one of"),
    ("classes", '{"type": "int", "values": ["a", "b"]}', "must all be of type int"),
    ("classes", '{"type": "str", "values": ["a"]}', "classes has 1 labels"),
    ("preprocessing", '[{"type": "Pickle"}]', r"preprocessing\[0\] has unknown type 'Pickle'"),
    ("preprocessing", '[{"type": "Standardizer", "mean": [0], "scale": [1]}]',
     "writes 1 columns but the model's first layer takes 3"),
    ("preprocessing", '{"not": "a list"}', "must be a list of steps"),
    ("target", "7", "target must be the label column's name"),
    ("feature_names", '["a"]', "feature_names has 1 names but the model takes 2"),
])
def test_broken_metadata_is_refused_naming_the_file(tmp_path, key, value, match):
    path = tmp_path / "m.safetensors"
    nl.save(_model(classes=["other", "same"]), path)
    _rewrite_metadata(path, **{key: value})
    with pytest.raises(ValueError, match=rf"m\.safetensors': metadata '{key}'.*{match}"):
        nl.load(path)


def test_save_refuses_a_step_it_cannot_store(tmp_path):
    class Doubler:
        n_features_in = n_features_out = 2

        def transform(self, X):
            return 2 * np.asarray(X, dtype=float)

        def get_config(self):
            return {}

    model = nl.MLP([2, 2], seed=0, preprocessing=[Doubler()])
    np.testing.assert_allclose(model.forward(np.ones((1, 2))),
                               nl.MLP([2, 2], seed=0).forward(2 * np.ones((1, 2))))
    with pytest.raises(TypeError, match=r"preprocessing\[0\] \(Doubler\) cannot be stored"):
        nl.save(model, tmp_path / "m.safetensors")


# ---------------------------------------------------------------------------- export
@pytest.mark.parametrize("dtype, atol", [("float64", 1e-12), ("float32", 1e-5)])
def test_onnx_graph_includes_the_preprocessing(tmp_path, dtype, atol):
    ort = pytest.importorskip("onnxruntime")
    X, y = _xy()
    fm = FeatureMap(PLAYGROUND)
    model = nl.MLP([7, 6, 2], seed=1, dtype=dtype, classes=["other", "same"], target="sign",
                   preprocessing=[fm, Standardizer().fit(fm.transform(X))])
    nl.fit(model, X, y, optimizer="adam", epochs=2)
    nl.export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    assert session.get_inputs()[0].shape[1] == 2                 # raw rows in
    out = session.run(None, {"X": X.astype(dtype)})[0]
    np.testing.assert_allclose(out, model.forward(X), atol=atol)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["neuralab.classes"]) == {"type": "str", "values": ["other", "same"]}
    assert json.loads(meta["neuralab.target"]) == "sign"
    nl.export_onnx(model, tmp_path / "layers.onnx", preprocessing=False)
    inner = ort.InferenceSession(str(tmp_path / "layers.onnx"))
    Z = model.preprocessing[1].transform(fm.transform(X)).astype(dtype)
    np.testing.assert_allclose(inner.run(None, {"X": Z})[0], out, atol=atol)


def test_onnx_and_torch_say_what_they_cannot_carry(tmp_path):
    pytest.importorskip("onnx")

    class Doubler(Standardizer.__base__):
        n_features_in = n_features_out = 2

        def transform(self, X):
            return 2 * np.asarray(X, dtype=float)

        def get_config(self):
            return {}

    model = nl.MLP([2, 2], seed=0, preprocessing=[Doubler()])
    with pytest.raises(TypeError, match=r"preprocessing\[0\] \(Doubler\) has no ONNX form"):
        nl.export_onnx(model, tmp_path / "m.onnx")
    torch = pytest.importorskip("torch")
    scaled = _model()
    with pytest.raises(ValueError, match=r"to_torch: this model has preprocessing \(FeatureMap, "
                                         r"Standardizer\).*drop_preprocessing=True"):
        nl.interop.to_torch(scaled)
    net = nl.interop.to_torch(scaled, drop_preprocessing=True)
    X, _ = _xy()
    Z = scaled.preprocessing[1].transform(scaled.preprocessing[0].transform(X))
    np.testing.assert_allclose(net(torch.from_numpy(Z)).detach().numpy(), scaled.forward(X),
                               atol=1e-12)


def test_gradient_check_takes_raw_rows_and_labels():
    X, y = _xy(m=20)
    model = _model(classes=["other", "same"])
    result = nl.gradcheck.gradient_check(model, X, y, nl.CrossEntropy())
    assert result["total"] < 1e-7
