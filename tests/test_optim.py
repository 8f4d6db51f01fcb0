"""First-order optimizers: update rules by hand, state, validation, registry, convergence."""

import numpy as np
import pytest

import neuralab as nl

O = nl.optim
G1 = np.array([0.5, -1.0, 2.0])
G2 = np.array([-0.3, 0.4, 1.0])
THETA0 = np.array([1.0, 2.0, -1.0])


def _two_steps(opt, lr=None):
    theta = THETA0.copy()
    opt.step(theta, G1, lr)
    opt.step(theta, G2, lr)
    return theta


# ------------------------------------------------------------------ update rules by hand

def test_sgd_by_hand():
    assert np.allclose(_two_steps(O.SGD(0.1)), THETA0 - 0.1 * G1 - 0.1 * G2, rtol=1e-15)
    assert O.GD is O.SGD


def test_momentum_by_hand():
    lr, b = 0.1, 0.9
    v1 = G1
    v2 = b * v1 + G2
    got = _two_steps(O.Momentum(lr, beta=b))
    np.testing.assert_allclose(got, THETA0 - lr * v1 - lr * v2, rtol=1e-15)


def test_nesterov_by_hand():
    lr, b = 0.1, 0.5
    v1 = G1
    v2 = b * v1 + G2
    expected = THETA0 - lr * (G1 + b * v1) - lr * (G2 + b * v2)
    np.testing.assert_allclose(_two_steps(O.Nesterov(lr, beta=b)), expected, rtol=1e-15)


def test_adagrad_by_hand():
    lr, eps = 0.1, 1e-10
    G_1 = G1**2
    G_2 = G_1 + G2**2
    expected = THETA0 - lr * G1 / (np.sqrt(G_1) + eps) - lr * G2 / (np.sqrt(G_2) + eps)
    opt = O.AdaGrad(lr)
    np.testing.assert_allclose(_two_steps(opt), expected, rtol=1e-15)
    np.testing.assert_allclose(opt.G, G_2, rtol=1e-15)


def test_rmsprop_by_hand():
    lr, rho, eps = 0.01, 0.9, 1e-8
    E1 = (1 - rho) * G1**2
    E2 = rho * E1 + (1 - rho) * G2**2
    expected = THETA0 - lr * G1 / (np.sqrt(E1) + eps) - lr * G2 / (np.sqrt(E2) + eps)
    np.testing.assert_allclose(_two_steps(O.RMSProp(lr, rho=rho)), expected, rtol=1e-14)


def _adam_by_hand(lr, b1, b2, eps, wd=0.0, decoupled=False):
    theta, m, v = THETA0.copy(), 0.0, 0.0
    for t, g in enumerate([G1, G2], start=1):
        if decoupled:
            theta = theta * (1 - lr * wd)
        elif wd:
            g = g + wd * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def test_adam_by_hand_with_bias_correction():
    got = _two_steps(O.Adam(0.01, beta1=0.8, beta2=0.9, eps=1e-6))
    np.testing.assert_allclose(got, _adam_by_hand(0.01, 0.8, 0.9, 1e-6), rtol=1e-14)
    # the first bias-corrected step is ±lr per coordinate (up to ε)
    theta = THETA0.copy()
    O.Adam(0.01).step(theta, G1)
    np.testing.assert_allclose(THETA0 - theta, 0.01 * np.sign(G1), rtol=1e-7)


def test_adam_l2_vs_adamw_decoupled_decay():
    l2 = _two_steps(O.Adam(0.01, weight_decay=0.1))
    decoupled = _two_steps(O.AdamW(0.01, weight_decay=0.1))
    np.testing.assert_allclose(l2, _adam_by_hand(0.01, 0.9, 0.999, 1e-8, 0.1), rtol=1e-14)
    np.testing.assert_allclose(decoupled, _adam_by_hand(0.01, 0.9, 0.999, 1e-8, 0.1, True),
                               rtol=1e-14)
    assert not np.allclose(l2, decoupled)


def test_l2_weight_decay_adds_to_gradient_and_leaves_grad_alone():
    grad = G1.copy()
    theta = THETA0.copy()
    O.SGD(0.1, weight_decay=0.5).step(theta, grad)
    np.testing.assert_allclose(theta, THETA0 - 0.1 * (G1 + 0.5 * THETA0), rtol=1e-15)
    np.testing.assert_array_equal(grad, G1)


def test_schedule_rate_overrides_own_lr():
    np.testing.assert_allclose(_two_steps(O.SGD(0.1), lr=0.3), THETA0 - 0.3 * (G1 + G2))


def test_float32_stays_float32():
    theta = THETA0.astype(np.float32)
    for name in ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]:
        O.get(name, lr=0.01).step(theta, G1.astype(np.float32))
        assert theta.dtype == np.float32


# ------------------------------------------------------------------ inspectable state

def test_effective_lr_is_the_per_parameter_rate():
    for opt in [O.AdaGrad(0.1), O.RMSProp(0.01)]:
        theta = THETA0.copy()
        opt.step(theta, G1)
        before = theta.copy()
        opt.step(theta, G2)
        np.testing.assert_allclose(before - theta, opt.effective_lr() * G2, rtol=1e-12)
    opt = O.Adam(0.01)
    theta = THETA0.copy()
    opt.step(theta, G1)
    before = theta.copy()
    opt.step(theta, G2)
    np.testing.assert_allclose(before - theta, opt.effective_lr() * opt.m, rtol=1e-12)
    assert O.Momentum(0.1).effective_lr() == 0.1
    assert O.SGD(0.1).effective_lr(lr=0.5) == 0.5
    with pytest.raises(RuntimeError, match="step"):
        O.Adam().effective_lr()


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
                                  "adamw"])
def test_state_dict_round_trip_resumes_exactly(name):
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(6, 5))
    a = O.get(name, lr=0.05)
    theta = rng.normal(size=5)
    for g in grads[:3]:
        a.step(theta, g)
    state = a.state_dict()
    resumed_theta = theta.copy()
    for g in grads[3:]:
        a.step(theta, g)
    b = O.get(name, lr=0.05)
    b.load_state_dict(state)
    assert b.t == 3
    for g in grads[3:]:
        b.step(resumed_theta, g)
    np.testing.assert_array_equal(resumed_theta, theta)
    for key, value in state.items():        # the snapshot did not move with the optimizer
        if key != "t":
            assert not np.shares_memory(value, getattr(a, key))


def test_load_state_dict_rejects_garbage():
    with pytest.raises(ValueError, match="'t'"):
        O.Adam().load_state_dict({"m": np.zeros(3)})


# ------------------------------------------------------------------ registry and validation

def test_registry_by_lowercase_name():
    expected = {"sgd": O.SGD, "gd": O.SGD, "momentum": O.Momentum, "nesterov": O.Nesterov,
                "adagrad": O.AdaGrad, "rmsprop": O.RMSProp, "adam": O.Adam, "adamw": O.AdamW,
                "newton": O.Newton, "newton_cg": O.NewtonCG}
    for name, cls in expected.items():
        assert O.OPTIMIZERS[name] is cls
        assert type(O.get(name.upper())) is cls
    adam = O.get("adam", lr=1e-3)
    assert adam.lr == 1e-3 and adam.get_config()["beta2"] == 0.999
    assert O.get(adam) is adam
    assert O.get("Newton-CG").curvature == "gauss_newton"
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'.*adam"):
        O.get("adamax")
    with pytest.raises(TypeError, match="optimizer"):
        O.get(3)


def test_config_rebuilds_the_optimizer():
    opt = O.RMSProp(0.02, rho=0.8, eps=1e-6, weight_decay=0.1)
    again = O.RMSProp(**opt.get_config())
    assert again.get_config() == opt.get_config()
    assert repr(opt).startswith("RMSProp(lr=0.02")


@pytest.mark.parametrize("make, arg", [
    (lambda: O.SGD(0.0), "lr"),
    (lambda: O.SGD(-0.1), "lr"),
    (lambda: O.SGD(float("nan")), "lr"),
    (lambda: O.SGD("0.1"), "lr"),
    (lambda: O.SGD(0.1, weight_decay=-1e-4), "weight_decay"),
    (lambda: O.Momentum(0.1, beta=1.0), "beta"),
    (lambda: O.Nesterov(0.1, beta=-0.1), "beta"),
    (lambda: O.AdaGrad(0.1, eps=0.0), "eps"),
    (lambda: O.RMSProp(0.1, rho=1.0), "rho"),
    (lambda: O.RMSProp(0.1, eps=-1e-8), "eps"),
    (lambda: O.Adam(beta1=1.0), "beta1"),
    (lambda: O.Adam(beta2=1.5), "beta2"),
    (lambda: O.Adam(eps=0), "eps"),
    (lambda: O.AdamW(weight_decay=-0.01), "weight_decay"),
    (lambda: O.Newton(damping=-1.0), "damping"),
    (lambda: O.Newton(max_params=0), "max_params"),
    (lambda: O.Newton(increase=1.0), "increase"),
    (lambda: O.NewtonCG(cg_tol=0.0), "cg_tol"),
    (lambda: O.NewtonCG(max_cg_iter=0), "max_cg_iter"),
    (lambda: O.NewtonCG(curvature="fisher"), "curvature"),
])
def test_bad_hyperparameters_name_the_argument(make, arg):
    with pytest.raises((ValueError, TypeError), match=arg):
        make()


# ------------------------------------------------------------------ convergence

class Quadratic:
    """J(θ) = ½ θᵀAθ − bᵀθ, minimum A⁻¹b (an objective Newton can use too)."""

    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])
    start = np.array([2.0, 2.0])
    optimum = np.linalg.solve(A, b)

    def __init__(self, theta):
        self.theta = theta

    def value(self):
        return 0.5 * self.theta @ self.A @ self.theta - self.b @ self.theta

    def grad(self):
        return self.A @ self.theta - self.b

    def hvp(self, v, gauss_newton=False):
        return self.A @ v


class Rosenbrock:
    """J(x, y) = (1 − x)² + 100 (y − x²)², minimum (1, 1), from the classic (−1.2, 1)."""

    start = np.array([-1.2, 1.0])
    optimum = np.array([1.0, 1.0])

    def __init__(self, theta):
        self.theta = theta

    def value(self):
        x, y = self.theta
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    def grad(self):
        x, y = self.theta
        return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])

    def hessian(self):
        x, y = self.theta
        return np.array([[2 - 400 * (y - 3 * x * x), -400 * x], [-400 * x, 200.0]])

    def hvp(self, v, gauss_newton=False):
        if gauss_newton:  # residuals r = (1 − x, 10(y − x²)): J(θ) = ∑ r², G = 2 JᵣᵀJᵣ
            x, _ = self.theta
            Jr = np.array([[-1.0, 0.0], [-20 * x, 10.0]])
            return 2 * Jr.T @ (Jr @ v)
        return self.hessian() @ v


# (name, kwargs on the quadratic, kwargs on Rosenbrock)
CONVERGENCE = [
    ("sgd", {"lr": 0.1}, {"lr": 1e-3}),
    ("momentum", {"lr": 0.05}, {"lr": 2e-4}),
    ("nesterov", {"lr": 0.05}, {"lr": 2e-4}),
    ("adagrad", {"lr": 0.5}, {"lr": 0.5}),
    ("rmsprop", {"lr": 1e-3}, {"lr": 1e-3}),
    ("adam", {"lr": 0.05}, {"lr": 0.02}),
    ("adamw", {"lr": 0.05, "weight_decay": 0.0}, {"lr": 0.02, "weight_decay": 0.0}),
    ("newton", {}, {}),
    ("newton_cg", {}, {"curvature": "hessian"}),
]


@pytest.mark.parametrize("problem", [Quadratic, Rosenbrock])
@pytest.mark.parametrize("name, quad_kwargs, rosen_kwargs", CONVERGENCE,
                         ids=[c[0] for c in CONVERGENCE])
def test_every_optimizer_solves_quadratic_and_rosenbrock(name, quad_kwargs, rosen_kwargs,
                                                          problem):
    opt = O.get(name, **(quad_kwargs if problem is Quadratic else rosen_kwargs))
    theta = problem.start.copy()
    f = problem(theta)
    for _ in range(20_000):
        opt.step(theta, f.grad(), closure=f)
        if np.linalg.norm(theta - problem.optimum) < 2e-3:
            break
    assert np.linalg.norm(theta - problem.optimum) < 2e-3, (name, opt.t, theta)
    if name.startswith("newton"):
        assert opt.t <= 30   # second order: a handful of steps, where GD needs thousands


# ---------------------------------------------------------------- PyTorch's argument names
@pytest.mark.parametrize("ours, torchs", [
    (lambda: nl.optim.Momentum(0.1, beta=0.7), lambda: nl.optim.Momentum(0.1, momentum=0.7)),
    (lambda: nl.optim.Nesterov(0.1, beta=0.7), lambda: nl.optim.Nesterov(0.1, momentum=0.7)),
    (lambda: nl.optim.RMSProp(0.1, rho=0.99), lambda: nl.optim.RMSProp(0.1, alpha=0.99)),
    (lambda: nl.optim.Adam(0.1, 0.8, 0.99), lambda: nl.optim.Adam(0.1, betas=(0.8, 0.99))),
    (lambda: nl.optim.AdamW(0.1, 0.8, 0.99), lambda: nl.optim.AdamW(0.1, betas=(0.8, 0.99))),
])
def test_pytorch_names_build_the_same_optimizer(ours, torchs):
    a, b = ours(), torchs()
    assert a.get_config() == b.get_config()
    rng = np.random.default_rng(0)
    ta, g = rng.normal(size=5), rng.normal(size=5)
    tb = ta.copy()
    for _ in range(3):
        a.step(ta, g)
        b.step(tb, g)
    np.testing.assert_array_equal(ta, tb)


@pytest.mark.parametrize("make, match", [
    (lambda: nl.optim.Momentum(0.1, beta=0.5, momentum=0.7), "beta or momentum"),
    (lambda: nl.optim.RMSProp(0.1, rho=0.5, alpha=0.7), "rho or alpha"),
    (lambda: nl.optim.Adam(0.1, beta1=0.5, betas=(0.8, 0.9)), "betas"),
    (lambda: nl.optim.Adam(0.1, betas=0.9), "pair"),
    (lambda: nl.optim.Momentum(0.1, momentum=1.5), "beta must be < 1"),
])
def test_pytorch_names_are_checked(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make()


def test_adam_reports_whether_theta_stayed_finite():
    # the fused kernel sees every new θ: step() passes that on (None without numba's kernel)
    from neuralab import _kernels

    theta = np.ones(4, np.float32)
    finite = nl.optim.Adam(1e-3).step(theta, np.ones(4, np.float32))
    assert finite is (True if _kernels._compiled("adam") is not None else None)
    assert nl.optim.SGD(0.1).step(theta, np.ones(4, np.float32)) is None
