import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import neuralab as nl
from neuralab.sklearn import NeuralNetClassifier, NeuralNetRegressor

quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@quiet
@parametrize_with_checks([NeuralNetClassifier(), NeuralNetRegressor()])
def test_sklearn_estimator_checks(estimator, check):
    # every check passes at the defaults: no expected_failed_checks
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@quiet
def test_classifier_accuracy_matches_sklearn_mlp(iris):
    Xtr, Xte, ytr, yte = iris
    params = dict(hidden_layer_sizes=(16,), batch_size=32, random_state=0)
    ours = NeuralNetClassifier(lr=1e-2, epochs=100, **params).fit(Xtr, ytr)
    ref = MLPClassifier(learning_rate_init=1e-2, max_iter=100, **params).fit(Xtr, ytr)
    assert ours.score(Xte, yte) >= ref.score(Xte, yte) - 0.05
    assert ours.score(Xte, yte) >= 0.9
    P = ours.predict_proba(Xte)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(Xte), ours.classes_[P.argmax(axis=1)])
    np.testing.assert_allclose(ours.predict_log_proba(Xte), np.log(P))


@quiet
def test_string_and_arbitrary_int_labels_round_trip(iris):
    Xtr, _, ytr, _ = iris
    names = np.array(["setosa", "versicolor", "virginica"])
    for labels in (names, np.array([-7, 3, 40])):
        clf = NeuralNetClassifier((8,), lr=1e-2, epochs=60, random_state=0)
        clf.fit(Xtr, labels[ytr])
        np.testing.assert_array_equal(clf.classes_, np.sort(labels))
        pred = clf.predict(Xtr)
        assert set(pred) <= set(labels)
        assert np.mean(pred == labels[ytr]) > 0.85


@quiet
def test_binary_uses_two_softmax_outputs(iris):
    Xtr, _, ytr, _ = iris
    clf = NeuralNetClassifier((4,), epochs=5, random_state=0).fit(Xtr, ytr == 2)
    assert clf.model_.n_out == 2 and clf.predict_proba(Xtr).shape == (len(Xtr), 2)
    assert clf.predict(Xtr).dtype == bool


@quiet
def test_multioutput_regression_matches_sklearn_mlp():
    X, Y = make_regression(200, 5, n_targets=3, noise=1.0, random_state=0)
    Y = Y / Y.std(axis=0)
    params = dict(hidden_layer_sizes=(32,), batch_size=32, random_state=0)
    ours = NeuralNetRegressor(lr=1e-2, epochs=100, **params).fit(X, Y)
    ref = MLPRegressor(learning_rate_init=1e-2, max_iter=100, **params).fit(X, Y)
    assert ours.predict(X).shape == (200, 3) and ours.n_outputs_ == 3
    assert ours.score(X, Y) >= ref.score(X, Y) - 0.05 and ours.score(X, Y) > 0.9
    one = NeuralNetRegressor((8,), epochs=3, random_state=0).fit(X, Y[:, 0])
    assert one.predict(X).shape == (200,)


def test_dtype_follows_input_unless_given(iris):
    Xtr, _, ytr, _ = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        c32 = NeuralNetClassifier((4,), epochs=2).fit(Xtr.astype(np.float32), ytr)
        c64 = NeuralNetClassifier((4,), epochs=2).fit(Xtr, ytr)
        forced = NeuralNetClassifier((4,), epochs=2, dtype="float32").fit(Xtr, ytr)
    assert c32.model_.dtype == np.float32 and c64.model_.dtype == np.float64
    assert forced.model_.dtype == np.float32


def _snapshotting_schedule(est, snaps, lr):
    """A callable schedule that records θ at the start of every epoch (t = epoch index)."""
    def schedule(t):
        snaps.append(est.model_.params.copy())
        return lr
    return schedule


def test_history_grad_norm_is_the_full_batch_gradient_norm(iris):
    Xtr, _, ytr, _ = iris
    lr, snaps = 0.1, []
    clf = NeuralNetClassifier((5,), optimizer="sgd", alpha=0.0, batch_size=len(Xtr), epochs=3,
                              random_state=0, tol=0.0)
    clf.set_params(schedule=_snapshotting_schedule(clf, snaps, lr))
    with pytest.warns(ConvergenceWarning):
        clf.fit(Xtr, ytr)
    # full-batch SGD: θ_{t+1} = θ_t − α g_t, so ‖g_t‖ = ‖θ_{t+1} − θ_t‖ / α
    ends = snaps[1:] + [clf.model_.params]
    steps = [np.linalg.norm(b - a) / lr for a, b in zip(snaps, ends, strict=True)]
    np.testing.assert_allclose(clf.history_["grad_norm"], steps, rtol=1e-9)
    assert clf.history_["lr"] == [lr] * 3 and clf.n_iter_ == 3 == len(clf.loss_curve_)
    assert clf.loss_curve_[2] < clf.loss_curve_[0]


def test_alpha_penalizes_weights_not_biases(iris):
    Xtr, _, ytr, _ = iris
    runs, snaps = {}, []
    for alpha in (0.0, 0.5):
        clf = NeuralNetClassifier((5,), optimizer="sgd", lr=0.1, alpha=alpha,
                                  batch_size=len(Xtr), epochs=1, random_state=0)
        clf.set_params(schedule=_snapshotting_schedule(clf, snaps, 0.1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            runs[alpha] = clf.fit(Xtr, ytr)
    theta0 = snaps[0]
    np.testing.assert_array_equal(theta0, snaps[1])  # same random_state, same start
    diff = runs[0.5].model_.params - runs[0.0].model_.params
    # one full-batch step: the penalty adds −α·(alpha/B)·W to the weights only
    expected = np.zeros_like(theta0)
    model = runs[0.0].model_
    start = 0
    for layer in model.layers:
        k = layer.n_params
        if isinstance(layer, nl.Dense):
            w = slice(start, start + layer.n_out * layer.n_in)
            expected[w] = -0.1 * (0.5 / len(Xtr)) * theta0[w]
        start += k
    np.testing.assert_allclose(diff, expected, atol=1e-12)


def test_named_schedule_drives_the_learning_rate(iris):
    Xtr, _, ytr, _ = iris
    clf = NeuralNetClassifier((4,), lr=0.02, schedule="cosine", epochs=8, tol=0.0,
                              random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(Xtr, ytr)
    expected = [0.01 * (1 + math.cos(math.pi * t / 8)) for t in range(8)]
    np.testing.assert_allclose(clf.history_["lr"], expected, rtol=1e-12)


def test_early_stopping_keeps_the_best_validation_epoch(iris):
    Xtr, _, ytr, _ = iris
    snaps = []
    clf = NeuralNetClassifier((64,), early_stopping=True, validation_fraction=0.3,
                              n_iter_no_change=3, epochs=300, batch_size=8, random_state=0)
    clf.set_params(schedule=_snapshotting_schedule(clf, snaps, 0.05))
    clf.fit(Xtr, ytr)
    val = clf.history_["val_loss"]
    assert len(val) == clf.n_iter_ < 300 and "val_accuracy" in clf.history_
    best = int(np.argmin(val))
    assert clf.n_iter_ - 1 - best > 3  # stopped after more than n_iter_no_change epochs
    np.testing.assert_array_equal(clf.model_.params, snaps[best + 1])  # θ after epoch `best`


@quiet
def test_partial_fit_needs_classes_then_trains_one_epoch_per_call(iris):
    Xtr, _, ytr, _ = iris
    clf = NeuralNetClassifier((8,), lr=1e-2, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(Xtr, ytr)
    labels = np.array(["a", "b", "c", "d"])  # "d" never appears in y
    for _ in range(20):
        clf.partial_fit(Xtr, labels[ytr], classes=labels)
    assert clf.n_iter_ == 20 and len(clf.history_["loss"]) == 20
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 2
    assert clf.predict_proba(Xtr).shape == (len(Xtr), 4)
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(Xtr[:3], ["a", "b", "z"])
    with pytest.raises(ValueError, match="differs from classes_"):
        clf.partial_fit(Xtr, labels[ytr], classes=["a", "b"])


@quiet
def test_warm_start_continues_from_previous_weights(iris):
    Xtr, _, ytr, _ = iris
    snaps = []
    clf = NeuralNetClassifier((8,), epochs=5, tol=0.0, warm_start=True, random_state=0)
    clf.set_params(schedule=_snapshotting_schedule(clf, snaps, 1e-2))
    clf.fit(Xtr, ytr)
    after_first = clf.model_.params.copy()
    clf.fit(Xtr, ytr)
    np.testing.assert_array_equal(snaps[5], after_first)  # 2nd fit starts where 1st ended
    assert clf.n_iter_ == 10 and len(clf.loss_curve_) == 10
    cold = NeuralNetClassifier((8,), epochs=5, tol=0.0, random_state=0, lr=1e-2).fit(Xtr, ytr)
    cold.fit(Xtr, ytr)
    assert cold.n_iter_ == 5


def test_optimizer_instance_is_copied_not_trained(iris):
    Xtr, _, ytr, _ = iris
    opt = nl.optim.Momentum(lr=0.05, beta=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = NeuralNetClassifier((4,), optimizer=opt, alpha=1e-3, batch_size=64,
                                  epochs=3).fit(Xtr, ytr)
    assert opt.t == 0 and clf.optimizer_ is not opt
    assert type(clf.optimizer_) is nl.optim.Momentum and clf.optimizer_.t == 3 * 2
    # 3 epochs of ⌈105 / 64⌉ = 2 steps


@quiet
def test_pipeline_grid_search_and_cross_val_score(iris):
    Xtr, _, ytr, _ = iris
    pipe = make_pipeline(StandardScaler(), NeuralNetClassifier((8,), lr=1e-2, epochs=30,
                                                               random_state=0))
    scores = cross_val_score(pipe, Xtr, ytr, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    grid = GridSearchCV(pipe, {"neuralnetclassifier__hidden_layer_sizes": [(2,), (16,)]}, cv=2)
    grid.fit(Xtr, ytr)
    assert grid.best_params_["neuralnetclassifier__hidden_layer_sizes"] in [(2,), (16,)]
    assert grid.score(Xtr, ytr) > 0.8
    reg = make_pipeline(StandardScaler(), NeuralNetRegressor((8,), epochs=20, random_state=0))
    X, y = make_regression(60, 3, random_state=0)
    assert cross_val_score(reg, X, y / y.std(), cv=2).shape == (2,)


@pytest.mark.parametrize("params, match", [
    ({"lr": -1.0}, "lr must be > 0"),
    ({"hidden_layer_sizes": "wide"}, "hidden_layer_sizes must be"),
    ({"hidden_layer_sizes": (8, 0)}, r"hidden_layer_sizes\[1\] must be >= 1"),
    ({"activation": "swish"}, "unknown activation"),
    ({"schedule": "nope"}, "schedule must be"),
    ({"optimizer": "nope"}, "unknown optimizer"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"dtype": "float16"}, "dtype must be"),
    ({"early_stopping": True, "validation_fraction": 1.0}, "validation_fraction must be"),
    ({"optimizer": "newton", "alpha": 1e-4}, "alpha must be 0"),
])
def test_bad_hyperparameters_are_named(iris, params, match):
    Xtr, _, ytr, _ = iris
    with pytest.raises((ValueError, TypeError), match=match):
        NeuralNetClassifier(**params).fit(Xtr, ytr)


def test_nan_input_and_one_class_are_rejected(iris):
    Xtr, _, ytr, _ = iris
    X = Xtr.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        NeuralNetRegressor().fit(X, ytr)
    with pytest.raises(ValueError, match="at least 2 classes"):
        NeuralNetClassifier().fit(Xtr, np.zeros(len(Xtr)))


@quiet
def test_model_carries_the_labels_and_the_frame_names(iris, tmp_path):
    pd = pytest.importorskip("pandas")
    Xtr, _, ytr, _ = iris
    names = np.array(["setosa", "versicolor", "virginica"])
    frame = pd.DataFrame(Xtr, columns=["sl", "sw", "pl", "pw"])
    clf = NeuralNetClassifier((8,), lr=1e-2, epochs=30, random_state=0)
    clf.fit(frame, pd.Series(names[ytr], name="species"))
    model = clf.model_
    assert model.classes.tolist() == clf.classes_.tolist()
    assert model.feature_names == ["sl", "sw", "pl", "pw"] and model.target == "species"
    np.testing.assert_array_equal(model.predict(Xtr), clf.predict(frame))
    nl.save(model, tmp_path / "clf.safetensors")
    assert nl.load(tmp_path / "clf.safetensors").predict(Xtr).tolist() == \
        clf.predict(frame).tolist()
    reg = NeuralNetRegressor((4,), epochs=3, random_state=0).fit(Xtr, Xtr[:, 0])
    assert reg.model_.classes is None and reg.model_.feature_names is None


@quiet
def test_warm_start_rebuilds_when_the_architecture_changes(iris):
    Xtr, _, ytr, _ = iris
    clf = NeuralNetClassifier((8,), epochs=3, warm_start=True, random_state=0).fit(Xtr, ytr)
    clf.set_params(hidden_layer_sizes=(16, 4))
    with pytest.warns(UserWarning, match="rebuilt from scratch"):
        clf.fit(Xtr, ytr)
    assert [d.n_out for d in clf.model_.layers if isinstance(d, nl.Dense)] == [16, 4, 3]
    assert clf.get_params()["hidden_layer_sizes"] == (16, 4)
    assert clf.n_iter_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)          # same architecture: no rebuild
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    assert clf.n_iter_ == 6
