"""Second order: exact Hessian-vector products, Newton on logistic regression, Newton-CG."""

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_classification
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

import neuralab as nl
from neuralab import hessian as hs
from neuralab.model import Objective

O = nl.optim


@pytest.fixture(scope="module")
def logistic_data():
    X, y = make_classification(400, 5, n_informative=5, n_redundant=0, flip_y=0.1,
                               class_sep=0.7, random_state=0)   # not separable, well conditioned
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def _grad_at(obj, theta):
    obj.model.params[...] = theta
    obj()
    return obj.model.grads.copy()


# ------------------------------------------------------------------ Hessian-vector products

CASES = [("softmax", nl.CrossEntropy()), ("sigmoid", nl.BinaryCrossEntropy()),
         ("identity", nl.MSE()), ("identity", nl.CrossEntropy(from_logits=True)),
         ("sigmoid", nl.MSE()), ("sigmoid", nl.CrossEntropy())]


def _small_objective(act, out, loss, m=11, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 4))
    if isinstance(loss, nl.CrossEntropy):
        y = rng.integers(0, 3, m)
    elif isinstance(loss, nl.BinaryCrossEntropy):
        y = rng.integers(0, 2, (m, 3))
    else:
        y = rng.normal(size=(m, 3))
    model = nl.MLP([4, 5, 3], activation=act, output=out, init="xavier_normal", seed=seed,
                   dtype="float64")
    model.params[...] += 0.2 * rng.normal(size=model.n_params)   # non-zero biases too
    return hs.objective(model, X, y, loss)


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "leaky_relu", "identity",
                                 "softmax"])
@pytest.mark.parametrize("out, loss", CASES, ids=[f"{o}-{type(lo).__name__}" for o, lo in CASES])
def test_hvp_matches_finite_differences_of_the_gradient(act, out, loss):
    obj = _small_objective(act, out, loss)
    theta = obj.model.params.copy()
    v = np.random.default_rng(1).normal(size=theta.size)
    Hv = hs.hvp(obj, v)
    h = 1e-5
    fd = (_grad_at(obj, theta + h * v) - _grad_at(obj, theta - h * v)) / (2 * h)
    obj.model.params[...] = theta
    np.testing.assert_allclose(Hv, fd, rtol=1e-6, atol=1e-8 * np.abs(fd).max())


def test_full_hessian_is_symmetric_and_matches_finite_differences():
    obj = _small_objective("tanh", "softmax", nl.CrossEntropy(), m=30)
    theta = obj.model.params.copy()
    H = hs.hessian(obj, chunk=7)                  # chunks of directions, not a multiple of d
    d = theta.size
    h = 1e-5
    fd = np.array([(_grad_at(obj, theta + h * e) - _grad_at(obj, theta - h * e)) / (2 * h)
                   for e in np.eye(d)])
    np.testing.assert_allclose(H, H.T, atol=1e-14)
    np.testing.assert_allclose(H, fd, atol=1e-7 * np.abs(fd).max())
    assert np.linalg.eigvalsh(H).min() < 0        # a hidden layer makes J non-convex


def test_hvp_leaves_the_model_untouched():
    obj = _small_objective("relu", "softmax", nl.CrossEntropy())
    obj()
    params, grads = obj.model.params.copy(), obj.model.grads.copy()
    hs.hvp(obj, np.ones(params.size))
    np.testing.assert_array_equal(obj.model.params, params)
    np.testing.assert_array_equal(obj.model.grads, grads)


def test_gauss_newton_is_jacobian_product_for_mse():
    obj = _small_objective("tanh", "identity", nl.MSE(), m=9)
    model = obj.model
    theta = model.params.copy()
    h = 1e-6

    def outputs(th):
        model.params[...] = th
        return model._forward(obj.A0).ravel()

    J = np.array([(outputs(theta + h * e) - outputs(theta - h * e)) / (2 * h)
                  for e in np.eye(theta.size)]).T              # (k m, d)
    model.params[...] = theta
    k, m = 3, 9
    G_ref = 2.0 / (k * m) * J.T @ J                            # J = 1/(km) Σ (a − y)²
    G = hs.hvp(obj, np.eye(theta.size), gauss_newton=True)
    np.testing.assert_allclose(G, G_ref, atol=1e-7 * np.abs(G_ref).max())
    assert np.linalg.eigvalsh(0.5 * (G + G.T)).min() > -1e-12


def test_logistic_closed_form_equals_r_operator(logistic_data):
    X, y = logistic_data
    model = nl.LogisticRegression(5, dtype="float64")
    model.params[...] = np.random.default_rng(0).normal(size=6)
    obj = hs.objective(model, X, y)
    assert hs.is_logistic_regression(obj)
    H = hs.logistic_hessian(obj)
    np.testing.assert_allclose(H, hs.hvp(obj, np.eye(6)), rtol=1e-12, atol=1e-15)
    # the textbook form over samples as rows, with a column of ones for b
    p = 1 / (1 + np.exp(-(X @ model.layers[0].W[0] + model.layers[0].b[0, 0])))
    Xt = np.hstack([X, np.ones((len(X), 1))])
    np.testing.assert_allclose(H, Xt.T @ (Xt * (p * (1 - p))[:, None]) / len(X), rtol=1e-12)


def test_hvp_bad_direction_shape():
    obj = _small_objective("tanh", "softmax", nl.CrossEntropy())
    with pytest.raises(ValueError, match="V must have shape"):
        hs.hvp(obj, np.ones(5))


# ------------------------------------------------------------------ Newton

def _grad_norms(opt, X, y, steps):
    model = nl.LogisticRegression(X.shape[1], dtype="float64")
    obj = hs.objective(model, X, y)
    norms = []
    for _ in range(steps):
        obj()
        norms.append(np.linalg.norm(model.grads))
        nl.fit(model, X, y, optimizer=opt, epochs=1, batch_size=None)
    obj()
    norms.append(np.linalg.norm(model.grads))
    return model, np.array(norms)


def test_newton_lands_on_sklearn_and_converges_quadratically(logistic_data):
    X, y = logistic_data
    # C=inf is penalty=None (scikit-learn ≥ 1.8 spells it so)
    ref = SkLogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12, max_iter=100)
    ref.fit(X, y)
    coef = np.r_[ref.coef_[0], ref.intercept_]
    steps = 7
    model, norms = _grad_norms(O.Newton(), X, y, steps)
    np.testing.assert_allclose(model.params, coef, atol=1e-6)
    # quadratic convergence: near the optimum ‖g_{k+1}‖ ≤ C‖g_k‖² (the digits gained double)
    near = [(a, b) for a, b in zip(norms[:-1], norms[1:], strict=True) if 1e-9 < a < 1e-2]
    assert len(near) >= 2, norms
    for a, b in near:
        assert b <= 10 * a * a, norms
        assert np.log(b) / np.log(a) > 1.6, norms
    # gradient descent after as many steps is nowhere near
    gd, gd_norms = _grad_norms(O.GD(1.0), X, y, steps)
    assert np.abs(gd.params - coef).max() > 0.1
    assert gd_norms[-1] > 1e8 * norms[-1]


def test_newton_on_mlp_decreases_monotonically_and_adapts_damping():
    X, y = load_digits(n_class=3, return_X_y=True)
    X = X[:150] / 16.0
    y = y[:150]
    model = nl.MLP([64, 6, 3], activation="tanh", seed=0, dtype="float64")   # 411 params
    start = model.params.copy()
    opt = O.Newton(damping=1e-3)
    damping = []

    class Spy(nl.Callback):
        def on_epoch_end(self, epoch, logs=None):
            damping.append(opt.damping_)

    hist = nl.fit(model, X, y, optimizer=opt, epochs=15, batch_size=None, callbacks=[Spy()])
    losses = np.array(hist["loss"])
    assert np.all(np.diff(losses) <= 1e-12)          # LM: a step that raises J is never kept
    assert losses[-1] < 1e-3 * losses[0]
    assert opt.hessian_.shape == (411, 411)
    assert max(damping) > 1e-3 > min(damping)        # raised on the non-convex start, then cut
    gd = nl.MLP([64, 6, 3], activation="tanh", seed=0, dtype="float64")
    gd.params[...] = start
    gd_losses = nl.fit(gd, X, y, optimizer=O.GD(0.5), epochs=15, batch_size=None)["loss"]
    assert gd_losses[-1] > 100 * losses[-1]
    state = opt.state_dict()
    again = O.Newton(damping=1e-3)
    again.load_state_dict(state)
    assert again.damping_ == opt.damping_ and again.t == 15


def test_newton_refuses_a_large_model_before_any_work():
    model = nl.MLP([64, 100, 10], seed=0, dtype="float64")          # 7,510 parameters
    X = np.zeros((4, 64))
    calls = []

    class Spy(Objective):
        def __call__(self):
            calls.append(1)
            return super().__call__()

    loss = nl.CrossEntropy()
    obj = Spy(model, X.T, loss.prepare_targets(np.zeros(4, int), 10, 4, np.float64), loss)
    before = model.params.copy()
    with pytest.raises(ValueError, match=r"max_params=5,000.*NewtonCG"):
        O.Newton().step(model.params, model.grads, closure=obj)
    assert not calls
    np.testing.assert_array_equal(model.params, before)
    with pytest.raises(ValueError, match="max_params"):
        nl.fit(model, X, np.zeros(4, int), optimizer="newton", epochs=1)


def test_second_order_needs_a_closure():
    theta = np.zeros(3)
    for opt in [O.Newton(), O.NewtonCG()]:
        assert opt.needs_closure
        with pytest.raises(TypeError, match="closure"):
            opt.step(theta, np.ones(3))


def test_newton_without_adaptation_rejects_indefinite_hessian():
    obj = _small_objective("tanh", "softmax", nl.CrossEntropy(), m=30)
    obj()
    with pytest.raises(ValueError, match="positive definite"):
        O.Newton(damping=0.0, adaptive=False).step(obj.model.params, obj.model.grads,
                                                    closure=obj)


# ------------------------------------------------------------------ Newton-CG

def test_newton_cg_beats_gd_for_the_same_number_of_gradient_evaluations():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    steps = 15
    opt = O.NewtonCG()
    model = nl.MLP([64, 32, 10], activation="tanh", seed=0, dtype="float64")
    nl.fit(model, X, y, optimizer=opt, epochs=steps, batch_size=None)
    ncg_loss = nl.evaluate(model, X, y)["loss"]
    # fit's gradient per step + every loss evaluation + a curvature product counted as two
    budget = steps + opt.n_evals + 2 * opt.n_hvp
    assert opt.n_hvp >= steps
    gd_losses = []
    for lr in (0.5, 1.0):
        gd = nl.MLP([64, 32, 10], activation="tanh", seed=0, dtype="float64")
        nl.fit(gd, X, y, optimizer=O.GD(lr), epochs=budget, batch_size=None)
        gd_losses.append(nl.evaluate(gd, X, y)["loss"])
    assert ncg_loss < 0.5 * min(gd_losses), (ncg_loss, gd_losses, budget)


def test_newton_cg_with_exact_hessian_and_minibatches_trains():
    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0
    y = y[:600]
    model = nl.MLP([64, 16, 10], activation="relu", seed=1, dtype="float64")
    start = nl.evaluate(model, X, y)["loss"]
    opt = O.get("newton_cg", curvature="hessian", max_cg_iter=5)
    nl.fit(model, X, y, optimizer=opt, epochs=3, batch_size=200, seed=0)
    assert nl.evaluate(model, X, y)["loss"] < 0.3 * start
    assert opt.t == 9 and 0 < opt.cg_iters_ <= 5


def test_hessian_objective_takes_a_model_s_labels_and_raw_rows():
    # a model with preprocessing and text classes: the Hessian sees what fit trains on
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    fm = nl.FeatureMap(["x1", "x2", "x1*x2"])
    model = nl.MLP([3, 2], seed=0, dtype="float64", preprocessing=[fm], classes=["no", "yes"])
    plain = nl.MLP([3, 2], seed=0, dtype="float64")
    H = hs.hessian(hs.objective(model, X, y))
    H_plain = hs.hessian(hs.objective(plain, fm.transform(X), (y == "yes").astype(int)))
    np.testing.assert_allclose(H, H_plain, rtol=1e-12)
