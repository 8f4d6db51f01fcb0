"""From the page's state to the library's objects: layers, optimizer, schedule, loss, presets.

One place, so that the session, the exported snippet and the TOML all say the same thing.
"""

from __future__ import annotations

import neuralab as nl

#: state's activation name -> the library's layer class (from the registry).
ACTIVATIONS = {name: nl.activations.ACTIVATIONS[name]
               for name in ("relu", "tanh", "sigmoid", "linear", "leaky_relu")}
#: task -> (output layer, loss name, loss class)
OUTPUTS = {"binary": (nl.Sigmoid, "binary_cross_entropy", nl.BinaryCrossEntropy),
           "regression": (nl.Identity, "mse", nl.MSE),
           "multiclass": (nl.Softmax, "cross_entropy", nl.CrossEntropy)}


def registered(kind: str, wanted) -> tuple:
    """The playground's choices of ``kind`` (activation, optimizer, init, schedule), those of
    ``wanted`` that the library's registry of that kind has, in the playground's order. The one
    place that reads the registries: when the core's registries change, this is the line."""
    registries: dict[str, dict] = {
        "activation": nl.activations.ACTIVATIONS, "optimizer": nl.optim.OPTIMIZERS,
        "init": nl.init.INITIALIZERS, "schedule": nl.schedules.SCHEDULES}
    return tuple(name for name in wanted if name in registries[kind])


def init_spec(state):
    """The Dense ``init`` for the state: a name, or ``{"name": "normal", "std": ε}``."""
    if state["init"] == "normal":
        return {"name": "normal", "std": state["initScale"]}
    return state["init"]


def activation(state):
    """A new hidden activation layer."""
    if state["activation"] == "leaky_relu":
        return nl.LeakyReLU(alpha=state["alpha"])
    return ACTIVATIONS[state["activation"]]()


def layers(state, n_in: int, n_out: int, task: str) -> list:
    """``[Dense, act, ..., Dense, output]`` for the state's hidden sizes."""
    sizes = [n_in, *state["hidden"], n_out]
    out: list[nl.Layer] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        out.append(nl.Dense(a, b, init=init_spec(state)))
        out.append(activation(state) if i < len(sizes) - 2 else OUTPUTS[task][0]())
    return out


def n_params(state, n_in: int, n_out: int) -> int:
    """θ's length for the state's network (without building it)."""
    sizes = [n_in, *state["hidden"], n_out]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def optimizer_args(state, name: str, lr: float) -> dict:
    """Keyword arguments of ``nl.optim.get(name, ...)`` from the state's hyper-parameters."""
    args = {"lr": lr}
    if name in ("momentum", "nesterov"):
        args["beta"] = state["beta"]
    elif name == "adagrad":
        args["eps"] = state["eps"]
    elif name == "rmsprop":
        args.update(rho=state["rho"], eps=state["eps"])
    elif name in ("adam", "adamw"):
        args.update(beta1=state["beta1"], beta2=state["beta2"], eps=state["eps"])
        if name == "adamw":
            args["weight_decay"] = state["weightDecay"]
    elif name == "newton":
        args["damping"] = state["damping"]
    return args


def optimizer(state, name: str, lr: float, max_params: int):
    """The library's optimizer (Newton refuses networks above ``max_params`` parameters)."""
    args = optimizer_args(state, name, lr)
    if name == "newton":
        args["max_params"] = max_params
    return nl.optim.get(name, **args)


def schedule_args(state, lr: float):
    """``(name, kwargs, warmup)`` of ``nl.schedules`` for the state; name None = constant."""
    kind = state["schedule"]
    if kind == "step":
        base = ("StepDecay", {"lr0": lr, "gamma": state["gamma"], "step_size": state["stepSize"]})
    elif kind == "exponential":
        base = ("ExponentialDecay", {"lr0": lr, "k": state["decay"]})
    elif kind == "cosine":
        base = ("CosineAnnealing", {"lr_max": lr, "t_max": state["tMax"],
                                    "lr_min": min(state["lrMin"], lr)})
    else:
        base = (None, {"lr": lr})  # type: ignore[assignment]
    return base[0], base[1], state["warmup"]


def schedule(state, lr: float):
    """A callable t ↦ α_t from ``nl.schedules``, or None (the optimizer's constant ``lr``)."""
    name, kwargs, warmup = schedule_args(state, lr)
    if name is None and not warmup:
        return None
    base = getattr(nl.schedules, name)(**kwargs) if name else nl.schedules.Constant(lr)
    return nl.schedules.LinearWarmup(base, steps=warmup) if warmup else base


def loss(task: str):
    return OUTPUTS[task][2]()


#: The lab's experiments that fit the plane, as partial states (name -> title, lab, text, state).
PRESETS = {
    "xor-needs-hidden-layer": {
        "title": "XOR needs a hidden layer", "lab": "one-to-many-neurons",
        "text": "With no hidden layer the boundary is one straight line and XOR stays near 50%. "
                "Add a hidden layer (+) and press Play again.",
        "state": {"problem": "classification", "dataset": "xor", "hidden": [],
                  "features": ["x1", "x2"], "activation": "tanh", "optimizer": "sgd",
                  "lr": 0.03, "init": "xavier_uniform", "race": []}},
    "layer-collapse": {
        "title": "Layers collapse without an activation", "lab": "layer-collapse",
        "text": "Three hidden layers with the linear activation are one linear model: the "
                "boundary stays a straight line. Switch the activation to tanh.",
        "state": {"problem": "classification", "dataset": "circle", "hidden": [8, 8, 8],
                  "features": ["x1", "x2"], "activation": "linear", "optimizer": "sgd",
                  "lr": 0.03, "init": "xavier_uniform", "race": []}},
    "zero-init": {
        "title": "Zero initialization keeps neurons identical", "lab": "initialization",
        "text": "Every weight starts at 0: all neurons of a layer compute the same thing and get "
                "the same update, so their pictures stay identical. Pick Xavier and reset.",
        "state": {"problem": "classification", "dataset": "circle", "hidden": [4, 4],
                  "features": ["x1", "x2"], "activation": "sigmoid", "init": "zeros",
                  "optimizer": "sgd", "lr": 0.3, "race": []}},
    "lr-too-large": {
        "title": "A learning rate too large", "lab": "learning-rate",
        "text": "At α = 3 the loss jumps around or blows up; lower the learning rate to 0.03.",
        "state": {"problem": "regression", "dataset": "reg-plane", "hidden": [4],
                  "features": ["x1", "x2"], "activation": "linear", "optimizer": "sgd",
                  "lr": 3.0, "init": "xavier_uniform", "race": []}},
    "optimizer-race": {
        "title": "Optimizer race", "lab": "optimizer-race",
        "text": "SGD, Momentum and Adam from the same weights on the same data: watch the "
                "race chart.",
        "state": {"problem": "classification", "dataset": "spiral", "hidden": [8, 8],
                  "features": ["x1", "x2", "sin(x1)", "sin(x2)"], "activation": "tanh",
                  "init": "xavier_uniform", "optimizer": "sgd", "lr": 0.03,
                  "race": [{"optimizer": "momentum", "lr": 0.03},
                           {"optimizer": "adam", "lr": 0.01}]}},
    "vanishing-gradients": {
        "title": "Vanishing gradients with sigmoid", "lab": "activations",
        "text": "Six sigmoid layers: the gradient panel shows the first layers' norms far "
                "below the last ones'. Try ReLU.",
        "state": {"problem": "classification", "dataset": "circle", "hidden": [8] * 6,
                  "features": ["x1", "x2"], "activation": "sigmoid", "optimizer": "sgd",
                  "lr": 0.1, "init": "xavier_uniform", "race": []}},
}
