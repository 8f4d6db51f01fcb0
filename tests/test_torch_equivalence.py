"""Trajectories against PyTorch: same weights, same batches, same parameters after training.

Every first-order optimizer x every schedule x every hidden activation, float64, several epochs
of mini-batches (the last one partial); the final θ must agree to a relative error < 1e-9.
"""

import math

import numpy as np
import pytest

import neuralab as nl

torch = pytest.importorskip("torch")
F = torch.nn.functional
L = torch.optim.lr_scheduler

S = nl.schedules
O = nl.optim

M, BATCH, EPOCHS = 21, 8, 4          # batches of 8, 8, 5: 12 steps
SIZES = (4, 5, 3)

# name -> (neuralab optimizer, torch optimizer factory), same hyperparameters
OPTIMIZERS = {
    "sgd": (lambda: O.SGD(0.2), lambda p, **kw: torch.optim.SGD(p, **kw, lr=0.2)),
    "momentum": (lambda: O.Momentum(0.1, beta=0.8),
                 lambda p, **kw: torch.optim.SGD(p, **kw, lr=0.1, momentum=0.8)),
    "nesterov": (lambda: O.Nesterov(0.1, beta=0.7),
                 lambda p, **kw: torch.optim.SGD(p, **kw, lr=0.1, momentum=0.7, nesterov=True)),
    "adagrad": (lambda: O.AdaGrad(0.1), lambda p, **kw: torch.optim.Adagrad(p, **kw, lr=0.1)),
    "rmsprop": (lambda: O.RMSProp(0.01, rho=0.9),
                lambda p, **kw: torch.optim.RMSprop(p, **kw, lr=0.01, alpha=0.9, eps=1e-8)),
    "adam": (lambda: O.Adam(0.02, beta1=0.8, beta2=0.99),
             lambda p, **kw: torch.optim.Adam(p, **kw, lr=0.02, betas=(0.8, 0.99), eps=1e-8)),
    "adamw": (lambda: O.AdamW(0.02, weight_decay=0.1),
              lambda p, **kw: torch.optim.AdamW(p, **kw, lr=0.02, weight_decay=0.1)),
}

# name -> (neuralab schedule from lr0 and horizon T, torch scheduler factory from T); both
# evaluated per epoch (T = EPOCHS) or per step (T = number of steps); cosine runs within T_max
SCHEDULES = {
    "constant": (lambda lr0, T: None, lambda o, T: None),
    "step": (lambda lr0, T: S.StepDecay(lr0, gamma=0.5, step_size=2),
             lambda o, T: L.StepLR(o, step_size=2, gamma=0.5)),
    "exponential": (lambda lr0, T: S.ExponentialDecay(lr0, k=0.3),
                    lambda o, T: L.ExponentialLR(o, gamma=math.exp(-0.3))),
    "cosine": (lambda lr0, T: S.CosineAnnealing(lr0, t_max=T + 1, lr_min=lr0 / 10),
               lambda o, T: L.CosineAnnealingLR(o, T_max=T + 1, eta_min=_lr0(o) / 10)),
    "warmup": (lambda lr0, T: S.LinearWarmup(S.CosineAnnealing(lr0, t_max=T), steps=2),
               lambda o, T: L.SequentialLR(o, [L.LinearLR(o, 1 / 3, 1.0, total_iters=2),
                                               L.CosineAnnealingLR(o, T_max=T)],
                                           milestones=[2])),
    "restarts": (lambda lr0, T: S.CosineWarmRestarts(lr0, t_0=1, t_mult=2, lr_min=lr0 / 20),
                 lambda o, T: L.CosineAnnealingWarmRestarts(o, T_0=1, T_mult=2,
                                                            eta_min=_lr0(o) / 20)),
}
ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
               "leaky_relu": lambda z: F.leaky_relu(z, 0.01), "identity": lambda z: z}


def _lr0(opt):
    return opt.param_groups[0]["lr"]


def _data(out="softmax"):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(M, SIZES[0]))
    if out == "softmax":
        y = rng.integers(0, SIZES[-1], M)
    elif out == "sigmoid":
        y = rng.integers(0, 2, (M, SIZES[-1])).astype(float)
    else:
        y = rng.normal(size=(M, SIZES[-1]))
    return X, y


def _torch_loss(out, logits, yb):
    if out == "softmax":
        return F.cross_entropy(logits, yb)                        # logits → log_softmax + NLL
    if out == "sigmoid":
        return F.binary_cross_entropy(torch.sigmoid(logits), yb)
    return F.mse_loss(logits, yb)


def _run_both(opt_name, sched_name, act, out="softmax", per="epoch", wd=None):
    X, y = _data(out)
    model = nl.MLP(list(SIZES), activation=act, output=out, init="xavier_normal", seed=0,
                   dtype="float64")
    W = [(layer.W.copy(), layer.b[:, 0].copy()) for layer in model.layers
         if isinstance(layer, nl.Dense)]
    make_nl, make_torch = OPTIMIZERS[opt_name]
    opt = make_nl()
    kwargs = {} if wd is None else {"weight_decay": wd}
    if wd is not None:
        opt = type(opt)(**{**opt.get_config(), **kwargs})
    T = EPOCHS if per == "epoch" else EPOCHS * -(-M // BATCH)
    sched = SCHEDULES[sched_name][0](opt.lr, T)
    start = model.params.copy()
    nl.fit(model, X, y, optimizer=opt, schedule=sched, schedule_per=per, epochs=EPOCHS,
           batch_size=BATCH, shuffle=False)

    params = [torch.tensor(a, requires_grad=True) for pair in W for a in pair]
    topt = make_torch(params, **kwargs)
    tsched = SCHEDULES[sched_name][1](topt, T)
    g = ACTIVATIONS[act]
    Xt = torch.tensor(X)
    yt = torch.tensor(y)
    for _ in range(EPOCHS):
        for s in range(0, M, BATCH):
            xb, yb = Xt[s:s + BATCH], yt[s:s + BATCH]
            logits = g(xb @ params[0].T + params[1]) @ params[2].T + params[3]
            topt.zero_grad()
            _torch_loss(out, logits, yb).backward()
            topt.step()
            if tsched is not None and per == "step":
                tsched.step()
        if tsched is not None and per == "epoch":
            tsched.step()
    ref = np.concatenate([p.detach().numpy().ravel() for p in params])
    return start, model.params, ref


def _assert_same(start, got, ref):
    assert np.linalg.norm(ref - start) > 1e-3 * np.linalg.norm(start)  # training moved θ
    rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
    assert rel < 1e-9, f"relative error {rel:.2e}"


@pytest.fixture(autouse=True)
def _quiet_torch_warnings():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # SequentialLR's internal step(epoch)
        yield


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("sched_name", list(SCHEDULES))
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_trajectory_matches_torch(opt_name, sched_name, act):
    _assert_same(*_run_both(opt_name, sched_name, act))


@pytest.mark.parametrize("sched_name", [s for s in SCHEDULES if s != "constant"])
def test_per_step_schedule_matches_torch(sched_name):
    _assert_same(*_run_both("momentum", sched_name, "tanh", per="step"))


@pytest.mark.parametrize("opt_name", [o for o in OPTIMIZERS if o != "adamw"])
def test_l2_weight_decay_matches_torch(opt_name):
    _assert_same(*_run_both(opt_name, "step", "tanh", wd=0.05))


@pytest.mark.parametrize("out", ["sigmoid", "identity"])
@pytest.mark.parametrize("opt_name", ["adam", "rmsprop"])
def test_other_losses_match_torch(opt_name, out):
    _assert_same(*_run_both(opt_name, "cosine", "relu", out=out))


@pytest.mark.parametrize("kernel", ["numpy", "fused"])
@pytest.mark.parametrize("opt_name", ["adam", "adamw"])
def test_adam_matches_torch_with_each_kernel(opt_name, kernel, monkeypatch):
    """Adam's step runs a compiled loop when numba is installed, NumPy otherwise: both match."""
    from neuralab import _kernels

    if kernel == "numpy":
        monkeypatch.setattr(_kernels, "_fused_adam", lambda: None)
    elif _kernels._fused_adam() is None:
        pytest.skip("numba is not installed (or NEURALAB_NUMBA=0)")
    _assert_same(*_run_both(opt_name, "warmup", "tanh", per="step"))
    _assert_same(*_run_both(opt_name, "step", "relu", **({"wd": 0.05} if opt_name == "adam"
                                                          else {})))
