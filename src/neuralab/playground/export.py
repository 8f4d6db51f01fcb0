"""Exports of a session: the model file, the data as CSV, a ``neuralab train`` TOML and a
Python snippet that reruns the training with ``nl.fit`` (bit for bit in float64, for a run
whose settings did not change while it trained and whose weights were not edited by hand).
"""

from __future__ import annotations

import os
import tempfile

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
    fd, path = tempfile.mkstemp(suffix=".safetensors")
    os.close(fd)
    try:
        nl.save(session.model, path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.remove(path)


def data_csv(session) -> str:
    """All points, training then test, as ``x1,x2,label`` (what ``neuralab evaluate`` reads)."""
    X = np.vstack([session.X, session.X_test])
    y = np.concatenate([session.y, session.y_test])
    integer = session.task != "regression"
    rows = [f"{a!r},{b!r},{int(c) if integer else float(c)!r}" for (a, b), c in zip(
        X.tolist(), y.tolist(), strict=True)]
    return "x1,x2,label\n" + "\n".join(rows) + "\n"


def _gaps(session) -> list[str]:
    """What `neuralab train` cannot express of this session."""
    s, gaps = session.state, []
    if session.task == "regression":
        gaps.append("regression: `neuralab train` trains classifiers only")
    if session.task == "binary":
        gaps.append("the output: `neuralab train` ends in a 2-class softmax where the "
                    "playground has one sigmoid unit")
    if not s["hidden"]:
        gaps.append("no hidden layer: `neuralab train` needs at least one")
    if s["features"] != ["x1", "x2"]:
        gaps.append(f"input features {', '.join(s['features'])}: `neuralab train` uses x1, x2")
    if s["init"] != "he_normal":
        gaps.append(f"init {s['init']}: `neuralab train` uses he_normal")
    if s["activation"] == "leaky_relu" and s["alpha"] != 0.01:
        gaps.append(f"LeakyReLU alpha {s['alpha']:g}: `neuralab train` uses 0.01")
    name = s["optimizer"]
    if name != "newton":
        defaults = nl.optim.get(name).get_config()
        changed = {k: v for k, v in _config.optimizer_args(s, name, s["lr"]).items()
                   if k != "lr" and defaults.get(k) != v}
        if changed:
            gaps.append("optimizer hyper-parameters " + ", ".join(
                f"{k}={v:g}" for k, v in changed.items()) + " (`neuralab train` sets lr only)")
    if s["schedule"] not in ("constant", "cosine") or s["warmup"]:
        gaps.append(f"schedule {s['schedule']}" + (" with warm-up" if s["warmup"] else ""))
    if s["regularization"] != "none" and s["regRate"]:
        gaps.append(f"{s['regularization']} regularization")
    gaps.append("standardization: `neuralab train` standardizes the features, the playground "
                "trains on raw coordinates")
    gaps.append("the split: `neuralab train` splits the CSV itself (stratified, its own "
                "test_size), not the playground's training/test points")
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
        f'activation = "{activation}"',
        f'optimizer = "{"sgd" if s["optimizer"] == "newton" else s["optimizer"]}"',
        f"lr = {s['lr']!r}",
        f'schedule = "{"cosine" if s["schedule"] == "cosine" else "constant"}"',
        f"lr_min = {min(s['lrMin'], s['lr']) if s['schedule'] == 'cosine' else 0.0!r}",
        f"epochs = {max(run.epoch, 1)}",
        f"batch_size = {s['batchSize']}",
        f"seed = {s['seed']}",
        f"test_size = {(100 - s['trainShare']) / 100!r}",
        "val_size = 0.0",
        'dtype = "float64"',
        "",
        "# not expressible in `neuralab train` (differences from the playground):",
    ]
    if s["optimizer"] == "newton":
        _note = "Newton's method: not offered by `neuralab train` (sgd written instead)"
        lines.append(f"#   - {_note}")
    lines += [f"#   - {gap}" for gap in _gaps(session)]
    return "\n".join(lines) + "\n"


def _dense_line(state, a, b) -> str:
    init = _config.init_spec(state)
    return f"nl.Dense({a}, {b}, init={init!r})"


def _activation_code(state, hidden: bool, task: str) -> str:
    if not hidden:
        return f"nl.{_config.OUTPUTS[task][0].__name__}()"
    if state["activation"] == "leaky_relu":
        return f"nl.LeakyReLU(alpha={state['alpha']!r})"
    return f"nl.{_config.ACTIVATIONS[state['activation']].__name__}()"


def _features_code(features) -> list[str]:
    make = {"x1": "x1", "x2": "x2", "x1^2": "x1 * x1", "x2^2": "x2 * x2", "x1*x2": "x1 * x2",
            "sin(x1)": "np.sin(x1)", "sin(x2)": "np.sin(x2)"}
    # ROUND 2: core API — nl.preprocessing.FeatureMap(features).transform(X)
    return ["def features(X):",
            f'    """The inputs {", ".join(features)} of raw points X (m, 2)."""',
            "    x1, x2 = X[:, 0], X[:, 1]",
            f"    return np.column_stack([{', '.join(make[f] for f in features)}])"]


def python_snippet(session) -> str:
    """A script that rebuilds the data and the network and trains them with ``nl.fit``."""
    s, run = session.state, session.runs[0]
    seed = s["seed"]
    sizes = session._sizes()
    stratify = session.task != "regression"
    out = ["# The playground's run, with the library (neuralab); float64 throughout.",
           "import numpy as np", "", "import neuralab as nl", ""]
    if s["dataset"] == "upload":
        out += ['X_all = np.loadtxt("playground-data.csv", delimiter=",", skiprows=1)',
                "X, y = X_all[:, :2], X_all[:, 2]" + (".astype(int)" if stratify else "")]
    else:
        out.append(f"X, y = nl.data.planar({s['dataset']!r}, n_samples={s['points']}, "
                   f"noise={s['noise']}, seed={seed}, n_classes={s['classes']})")
    out += ["X_train, y_train, _, _, X_test, y_test = nl.data.train_val_test_split(",
            f"    X, y, test_size={(100 - s['trainShare']) / 100!r}, stratify={stratify}, "
            f"seed={seed})", ""]
    out += _features_code(s["features"]) + [""]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(_dense_line(s, a, b))
        layers.append(_activation_code(s, i < len(sizes) - 2, session.task))
    out.append("model = nl.Sequential([")
    out += [f"    {layer}," for layer in layers]
    out.append(f"], seed={seed}, dtype=\"float64\")")
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
    if s["regularization"] != "none" and s["regRate"]:
        # ROUND 2: core API — pass regularizer=... to nl.fit
        out.append(f"# not reproduced: {s['regularization']} regularization, rate "
                   f"{s['regRate']:g} (this neuralab's fit has no regularizer yet)")
    out += ["X_in = features(X_train)",
            f"history = nl.fit(model, X_in, y_train, optimizer=optimizer, schedule=schedule, "
            f"epochs={run.epoch},",
            f"                 batch_size={s['batchSize']}, seed={seed})"]
    if run.batch:
        out += _partial_epoch(run.epoch, run.batch, s["batchSize"], seed)
    notes = []
    if session.edited:
        notes.append("weights were edited by hand: the snippet does not reproduce that")
    for step, keys in session.changed_at:
        notes.append(f"{', '.join(keys)} changed at step {step}: the snippet uses the final "
                     "settings throughout")
    out += ["", "print(nl.evaluate(model, features(X_test), y_test))",
            'nl.save(model, "playground.safetensors")']
    out += [f"# note: {n}" for n in notes]
    out.append(f"# the playground was at step {run.step} (epoch {run.epoch}, batch {run.batch})")
    return "\n".join(out) + "\n"


def _partial_epoch(epoch, batch, batch_size, seed) -> list[str]:
    """Lines that take the partial epoch's first ``batch`` steps as ``nl.fit`` would."""
    return [
        f"# the playground stopped {batch} steps into epoch {epoch + 1}: the same steps with",
        "# the pieces fit uses (its generator draws one permutation per epoch)",
        f"rng = np.random.default_rng({seed})",
        f"for _ in range({epoch + 1}):",
        "    order = rng.permutation(len(X_in))",
        "loss = nl.BinaryCrossEntropy() if isinstance(model.layers[-1], nl.Sigmoid) else (",
        "    nl.CrossEntropy() if isinstance(model.layers[-1], nl.Softmax) else nl.MSE())",
        "Y = loss.prepare_targets(np.asarray(y_train), model.n_out, len(X_in), model.dtype)",
        f"lr = None if schedule is None else schedule({epoch})",
        f"bs = min({batch_size}, len(X_in))",
        f"for b in range({batch}):",
        "    idx = order[b * bs:(b + 1) * bs]",
        "    model.loss_and_grad(X_in[idx].T, loss.select(Y, idx), loss)",
        "    if optimizer.needs_closure:",
        "        optimizer.step(model.params, model.grads, lr, closure=nl.model.Objective(",
        "            model, X_in[idx].T, loss.select(Y, idx), loss))",
        "    else:",
        "        optimizer.step(model.params, model.grads, lr)",
    ]


def export(session, kind: str) -> tuple[bytes, str, str]:
    """``(content, file name, media type)`` of download ``kind`` (a key of :data:`KINDS`)."""
    if kind not in KINDS:
        raise protocol.ProtocolError(f"unknown export {kind!r}; choose one of "
                                     f"{', '.join(KINDS)}", "kind")
    make = {"model": model_bytes, "data": data_csv, "toml": train_toml,
            "python": python_snippet}[kind]
    content = make(session)
    name, media = KINDS[kind]
    return (content if isinstance(content, bytes) else content.encode()), name, media
