"""Exports of a session: the model file, the data as CSV, a ``neuralab train`` TOML and a
Python snippet that reruns the training with ``nl.fit`` (bit for bit in float64, for a run
whose settings did not change while it trained and whose weights were not edited by hand).
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

import neuralab as nl

from . import _config, protocol

#: name -> (file name, media type) of the downloads.
KINDS = {"model": ("playground.safetensors", "application/octet-stream"),
         "data": ("playground-data.csv", "text/csv"),
         "toml": ("playground.toml", "application/toml"),
         "python": ("playground.py", "text/x-python")}


def model_bytes(session) -> bytes:
    """The main run's model as a ``.safetensors`` file (``nl.save``; ``nl.load`` reads it)."""
    model = copy.deepcopy(session.model)
    # like any model file: the raw columns' and the label's names (those of the data export)
    # and, for a classifier, its labels, so that `neuralab predict` / `evaluate` take the CSV
    model.feature_names, model.target = ["x1", "x2"], "label"
    if session.task != "regression":
        model.classes = list(range(max(session.n_out, 2)))
    fd, path = tempfile.mkstemp(suffix=".safetensors")
    os.close(fd)
    try:
        nl.save(model, path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.remove(path)


def data_csv(session) -> str:
    """All points, training then test, as ``x1,x2,label`` (what ``neuralab evaluate`` reads);
    the snippet of an upload takes the first ``len(session.y)`` rows as the training part."""
    from .._textsafe import csv_line

    X = np.vstack([session.X, session.X_test])
    y = np.concatenate([session.y, session.y_test])
    integer = session.task != "regression"
    rows = [csv_line([a, b, int(c) if integer else float(c)]) for (a, b), c in zip(
        X.tolist(), y.tolist(), strict=True)]      # numbers as they are; text escaped (_textsafe)
    return csv_line(["x1", "x2", "label"]) + "".join(rows)


#: State fields that change only what the page shows or when it pauses (not the run's
#: settings): nothing to export (the TOML's epochs are the epochs the run trained).
VIEW_ONLY = ("stepsPerFrame", "showTest", "discretize", "hide", "stopEpoch", "stopLoss")
#: State fields that make the points: they travel in the data export (the TOML reads it).
IN_THE_DATA = ("dataset", "classes", "points", "noise")


def _gaps(session) -> list[str]:
    """What `neuralab train` cannot express of this session, each line led by the state
    field(s) it is about (every field of ``protocol.STATE`` travels, is listed here when it
    differs, or is in :data:`VIEW_ONLY`; a test goes through them all)."""
    s, gaps, run = session.state, [], session.runs[0]
    if session.task == "regression":
        gaps.append("problem regression: `neuralab train` trains classifiers only")
    if session.task == "binary":
        gaps.append("problem classification: `neuralab train` ends in a 2-class softmax where "
                    "the playground has one sigmoid unit")
    if not s["hidden"]:
        gaps.append("hidden: no hidden layer; `neuralab train` needs at least one")
    if s["init"] != "he_normal":
        scale = f" (initScale ε = {s['initScale']:g})" if s["init"] == "normal" else ""
        gaps.append(f"init {s['init']}{scale}: `neuralab train` uses he_normal")
    names = [_config.activation_name(s, k) for k in range(len(s["hidden"]))]
    if any(name != s["activation"] for name in names):
        gaps.append(f"layerActivations {', '.join(names)}: `neuralab train` uses one activation "
                    f"({s['activation']}) for every hidden layer")
    if "leaky_relu" in names + [s["activation"]] and s["alpha"] != 0.01:
        gaps.append(f"alpha {s['alpha']:g} (LeakyReLU): `neuralab train` uses 0.01")
    name = s["optimizer"]
    if name == "newton":
        gaps.append(f"optimizer newton (Newton's method, damping {s['damping']:g}): not offered by "
                    "`neuralab train` (sgd written instead)")
    else:
        defaults = nl.optim.get(name).get_config()
        changed = {k: v for k, v in _config.optimizer_args(s, name, s["lr"]).items()
                   if k != "lr" and defaults.get(k) != v}
        fields = {"beta": "beta", "rho": "rho", "beta1": "beta1", "beta2": "beta2",
                  "eps": "eps", "weight_decay": "weightDecay"}
        if changed:
            gaps.append(", ".join(f"{fields.get(k, k)} {v:g}" for k, v in changed.items())
                        + f" ({name}'s hyper-parameters): `neuralab train` sets lr only")
    if s["schedule"] == "step":
        gaps.append(f"schedule step (gamma {s['gamma']:g}, stepSize {s['stepSize']}): "
                    "`neuralab train` offers cosine or constant")
    elif s["schedule"] == "exponential":
        gaps.append(f"schedule exponential (decay {s['decay']:g}): `neuralab train` offers "
                    "cosine or constant")
    elif s["schedule"] == "cosine" and s["tMax"] != max(run.epoch, 1):
        gaps.append(f"tMax {s['tMax']} (the cosine period): `neuralab train` anneals over the "
                    f"run's {max(run.epoch, 1)} epochs, so its rate differs from the page's")
    if s["warmup"]:
        gaps.append(f"warmup {s['warmup']} epochs: `neuralab train` has no warm-up")
    if s["race"]:
        gaps.append(f"race ({len(s['race'])} extra runs): only the main run is exported")
    gaps.append(f"trainShare {s['trainShare']}% (the split): `neuralab train` splits the CSV "
                "itself (stratified, seed and test_size below), not into the playground's "
                "training/test points")
    if session.edited:
        gaps.append("weights edited by hand: not expressible")
    for step, keys in session.changed_at:
        gaps.append(f"{', '.join(keys)} changed at step {step}: the final settings are written")
    return gaps


def train_toml(session) -> str:
    """The closest ``neuralab train --config`` file, with what it cannot express listed."""
    s, run = session.state, session.runs[0]
    activation = {"linear": "identity"}.get(s["activation"], s["activation"])
    lines = [
        "# neuralab train --config playground.toml",
        "# (save the playground's data as playground-data.csv beside this file)",
        'dataset = "playground-data.csv"',
        f"hidden = [{', '.join(map(str, s['hidden'] or [1]))}]",
        f'features = "{",".join(s["features"])}"',
        "standardize = false",
        f'activation = "{activation}"',
        f"batch_norm = {'true' if s['batchNorm'] else 'false'}",
        f"dropout = {float(s['dropout'])!r}",
        f'optimizer = "{"sgd" if s["optimizer"] == "newton" else s["optimizer"]}"',
        f"lr = {s['lr']!r}",
        f'schedule = "{"cosine" if s["schedule"] == "cosine" else "constant"}"',
        f"lr_min = {min(s['lrMin'], s['lr']) if s['schedule'] == 'cosine' else 0.0!r}",
        f'regularizer = "{s["regularization"].lower() if s["regRate"] else "none"}"',
        f"reg_rate = {float(s['regRate'])!r}",
        f"epochs = {max(run.epoch, 1)}",
        f"batch_size = {s['batchSize']}",
        f"seed = {s['seed']}",
        f"test_size = {(100 - s['trainShare']) / 100!r}",
        "val_size = 0.0",
        'dtype = "float64"',
        "",
        "# not expressible in `neuralab train` (differences from the playground):",
    ]
    lines += [f"#   - {gap}" for gap in _gaps(session)]
    return "\n".join(lines) + "\n"


def _dense_line(state, a, b) -> str:
    init = _config.init_spec(state)
    return f"nl.Dense({a}, {b}, init={init!r})"


def _activation_code(state, hidden: bool, task: str, k: int = 0) -> str:
    if not hidden:
        return f"nl.{_config.OUTPUTS[task][0].__name__}()"
    name = _config.activation_name(state, k)
    if name == "leaky_relu":
        return f"nl.LeakyReLU(alpha={state['alpha']!r})"
    return f"nl.{_config.ACTIVATIONS[name].__name__}()"


def _regularizer_code(state) -> str | None:
    """``nl.regularizers.L1(lam)`` / ``L2(lam)`` for the state, or None."""
    if state["regularization"] == "none" or not state["regRate"]:
        return None
    return f"nl.regularizers.{state['regularization']}({state['regRate']!r})"


def python_snippet(session) -> str:
    """A script that rebuilds the data and the network and trains them with ``nl.fit`` (or,
    for a run stopped mid-epoch, with the same loop stopped at the same step)."""
    s, run = session.state, session.runs[0]
    seed = s["seed"]
    sizes = session._sizes()
    stratify = session.task != "regression"
    out = ["# The playground's run, with the library (neuralab); float64 throughout.",
           "import numpy as np", "", "import neuralab as nl", ""]
    if s["dataset"] == "upload":
        # the page's own split, not a new one: the data export's first rows are its training
        # points, the rest its test points
        n_train = len(session.y)
        out += ['X_all = np.loadtxt("playground-data.csv", delimiter=",", skiprows=1, ndmin=2)',
                "X, y = X_all[:, :2], X_all[:, 2]" + (".astype(int)" if stratify else ""),
                f"X_train, y_train = X[:{n_train}], y[:{n_train}]   # the playground's training "
                "points",
                f"X_test, y_test = X[{n_train}:], y[{n_train}:]", ""]
    else:
        out.append(f"X, y = nl.data.planar({s['dataset']!r}, n_samples={s['points']}, "
                   f"noise={s['noise']}, seed={seed}, n_classes={s['classes']})")
        out += ["X_train, y_train, _, _, X_test, y_test = nl.data.train_val_test_split(",
                f"    X, y, test_size={(100 - s['trainShare']) / 100!r}, "
                f"stratify={stratify}, seed={seed})", ""]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        hidden = i < len(sizes) - 2
        layers.append(_dense_line(s, a, b))
        if hidden and s["batchNorm"]:
            layers.append(f"nl.BatchNorm({b})")
        layers.append(_activation_code(s, hidden, session.task, i))
        if hidden and s["dropout"]:
            layers.append(f"nl.Dropout({s['dropout']!r})")
    out.append("model = nl.Sequential([")
    out += [f"    {layer}," for layer in layers]
    out.append(f"], seed={seed}, dtype=\"float64\",")
    out.append(f"   preprocessing=[nl.FeatureMap({s['features']!r}, n_features_in=2)])"
               "   # the inputs")
    args = _config.optimizer_args(s, s["optimizer"], s["lr"])
    out.append(f"optimizer = nl.optim.get({s['optimizer']!r}, "
               + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")")
    name, kwargs, warmup = _config.schedule_args(s, s["lr"])
    if name is None and not warmup:
        out.append("schedule = None")
    else:
        base = (f"nl.schedules.{name}(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
                + ")") if name else f"nl.schedules.Constant({s['lr']!r})"
        out.append(f"schedule = nl.schedules.LinearWarmup({base}, steps={warmup})" if warmup
                   else f"schedule = {base}")
    out.append(f"regularizer = {_regularizer_code(s)}")
    options = (f"optimizer=optimizer, schedule=schedule, batch_size={s['batchSize']}, "
               f"seed={seed}, regularizer=regularizer")
    if run.batch == 0:
        out += [f"history = nl.fit(model, X_train, y_train, epochs={run.epoch},",
                f"                 {options})"]
    else:
        out += [f"# the playground stopped {run.batch} steps into epoch {run.epoch + 1}: the "
                "loop nl.fit runs, stopped at the same step",
                "import itertools", "",
                f"run = nl.train.TrainingRun(model, X_train, y_train, epochs={run.epoch + 1},",
                f"                           {options})",
                f"for _ in itertools.islice(nl.train.training_loop(run), {run.step}):",
                "    pass"]
    notes = []
    if session.edited:
        notes.append("weights were edited by hand: the snippet does not reproduce that")
    for step, keys in session.changed_at:
        notes.append(f"{', '.join(keys)} changed at step {step}: the snippet uses the final "
                     "settings throughout")
    out += ["", "print(nl.evaluate(model, X_test, y_test))",
            'nl.save(model, "playground.safetensors")']
    out += [f"# note: {n}" for n in notes]
    out.append(f"# the playground was at step {run.step} (epoch {run.epoch}, batch {run.batch})")
    return "\n".join(out) + "\n"


def export(session, kind: str) -> tuple[bytes, str, str]:
    """``(content, file name, media type)`` of download ``kind`` (a key of :data:`KINDS`)."""
    if kind.startswith("backprop:"):       # the step-by-step view's numbers (shown, not saved)
        from . import backprop

        example = kind.partition(":")[2]
        if not example.isdigit():
            raise protocol.ProtocolError(f"export {kind!r}: backprop:<example> takes the number "
                                         "of a training point, e.g. backprop:0", "kind")
        return backprop.step_json(session, int(example)).encode(), "backprop.json", \
            "application/json"
    if kind not in KINDS:
        raise protocol.ProtocolError(f"unknown export {kind!r}; choose one of "
                                     f"{', '.join(KINDS)} (or backprop:<example>)", "kind")
    makers: dict[str, Callable[[Any], str | bytes]] = {
        "model": model_bytes, "data": data_csv, "toml": train_toml, "python": python_snippet}
    make = makers[kind]
    content = make(session)
    name, media = KINDS[kind]
    return (content if isinstance(content, bytes) else content.encode()), name, media
