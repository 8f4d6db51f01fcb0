"""The playground's protocol: the state fields, the messages and their limits, and the checks.

The page and the server talk over one WebSocket. The page sends JSON text messages; the server
answers with JSON text (``hello``, ``state``, ``error``, ``notice``) and binary frames
(:mod:`neuralab.playground.frames`). Every message is checked here before it touches the
session: a bad one gets an ``error`` back naming the field and the allowed values, and the
session and the server go on.

State fields (the whole state of the page; the URL carries them as ``#key=value&...``):

================= ===================================================== ==================
field             values                                                default
================= ===================================================== ==================
problem           classification, regression, multiclass                classification
dataset           circle xor gauss spiral sine | reg-plane reg-gauss |  circle
                  gaussians spirals | upload (set by an upload)
classes           int 3-8 (multiclass sets)                             3
points            int 20-2000                                           500
noise             int 0-50 (percent)                                    0
trainShare        int 10-90 (percent of the points used to train)       50
seed              int 0-2147483647 (data split, weights, shuffling)     0
features          subset of x1 x2 x1^2 x2^2 x1*x2 sin(x1) sin(x2)       x1,x2
hidden            0-6 layers of 1-8 neurons                             4,2
activation        relu tanh sigmoid linear leaky_relu                   tanh
layerActivations  per hidden layer: an activation, or "" (activation's)  []
alpha             float 0-0.99 (LeakyReLU's slope)                      0.01
init              zeros normal xavier_uniform xavier_normal             xavier_uniform
                  he_uniform he_normal
initScale         float 0.0001-10 (ε of normal)                         0.1
batchNorm         bool (BatchNorm before each hidden activation)        false
dropout           float 0-0.9 (Dropout after each hidden activation)    0.0
optimizer         sgd momentum nesterov adagrad rmsprop adam adamw      sgd
                  newton
lr                float 1e-06-10                                        0.03
beta              float 0-0.999 (momentum, nesterov)                    0.9
rho               float 0-0.999 (rmsprop)                               0.9
beta1, beta2      float 0-0.999 / 0-0.9999 (adam, adamw)                0.9, 0.999
eps               float 1e-12-1 (adagrad, rmsprop, adam, adamw)         1e-08
weightDecay       float 0-1 (adamw)                                     0.01
damping           float 1e-08-100 (newton)                              0.0001
schedule          constant step exponential cosine                      constant
gamma, stepSize   float 0.01-1, int 1-1000 (step)                       0.5, 20
decay             float 0-1 (exponential: α₀e^(−kt))                    0.02
tMax, lrMin       int 1-10000, float 0-10 (cosine)                      100, 0
warmup            int 0-1000 (epochs of linear warm-up)                 0
regularization    none L1 L2                                            none
regRate           float 0-10                                            0
batchSize         int 1-30                                              10
stepsPerFrame     int 1-100                                             25
stopEpoch         int 0-100000 (pause at this epoch; 0: never)          0
stopLoss          float 0-10 (pause at this training loss; 0: never)    0
showTest          bool                                                  false
discretize        bool                                                  false
race              0-3 extra runs "optimizer:lr", e.g. momentum:0.03     (none)
hide              names of controls hidden by a classroom link          (none)
================= ===================================================== ==================

Messages from the page (JSON text, at most 16 KiB, an upload at most 256 KiB; at most
``rate`` messages per second on average, bursts of ``burst``):

============ ====================================== ==========================================
type         fields                                 limits
============ ====================================== ==========================================
set          state: {field: value, ...}             fields and values of the table above
play         —
pause        —
step         —                                      one frame's worth of steps
reset        —                                      back to step 0, same initial weights
regenerate   —                                      a new seed: new data and weights
edit         layer, i, j, value                     layer < n_layers, i < n_out, j ≤ n_in
                                                    (j = n_in is the bias), |value| ≤ 100
focus        layer, i (or layer null)               the neuron shown large
upload       csv (text: x1,x2,label rows)           ≤ 256 KiB, ≤ 2000 rows, finite values
ack          seq                                    the last frame drawn (paces the frames)
export       kind                                   model, data, toml or python: the file
                                                    comes back as a binary EXPORT message;
                                                    backprop:<example>: one mini-batch's
                                                    numbers step by step (JSON, shown)
============ ====================================== ==========================================

Messages from the server: ``hello`` {session, state, limits}, ``state`` {state, playing,
changes} (changes: the change messages handled so far; the page applies only the latest),
``error`` {message, field}, ``notice`` {message}, and binary frames. Exports travel over the
WebSocket (not a URL) so that any of the server's worker processes (``--workers``) serves the
page that asks: the session lives in the process that holds its connection.
"""

from __future__ import annotations

import json
import math
import numbers
import urllib.parse
from typing import Any

from . import _config

#: Version of the protocol (the page checks it in ``hello``).
VERSION = 1

FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")
DATASETS = {"classification": ("circle", "xor", "gauss", "spiral", "sine"),
            "regression": ("reg-plane", "reg-gauss"),
            "multiclass": ("gaussians", "spirals")}
OPTIMIZERS = _config.registered("optimizer", ("sgd", "momentum", "nesterov", "adagrad",
                                              "rmsprop", "adam", "adamw", "newton"))
HIDEABLE = ("problem", "dataset", "classes", "points", "noise", "trainShare", "seed",
            "features", "hidden", "activation", "init", "optimizer", "lr", "schedule",
            "regularization", "batchSize", "stepsPerFrame", "race", "play", "step", "reset",
            "regenerate", "upload", "export", "presets")

#: field -> (kind, default, allowed, label, rebuilds, when): the one schema of the page's
#: controls. kind "choice" (allowed: names), "int"/"float" (allowed: (low, high)), "bool",
#: "features", "hidden", "race", "hide"; label: the words beside the control; rebuilds: what a
#: change makes new — "data" (points and network), "network" (network, back to step 0),
#: "live" (training goes on with it), "view" (only the page, or when it pauses); when: None or
#: (field, values) for a control shown only then (e.g. Adam's β1 with adam or adamw). The
#: page builds its choice lists, ranges, labels and the controls it lacks from this table (sent
#: in ``hello``), the session its field sets; choice lists of the library's kinds come from its
#: registries (``_config.registered``).
#: name -> (kind, default, allowed, label, rebuilds, when); ``allowed`` and ``when`` depend on
#: the kind (a range, a tuple of choices, None).
STATE: dict[str, tuple[str, Any, Any, str, str, Any]] = {
    "problem": ("choice", "classification", tuple(DATASETS), "Problem type", "data", None),
    "dataset": ("choice", "circle", (*(d for ds in DATASETS.values() for d in ds), "upload"),
                "Data set", "data", None),
    "classes": ("int", 3, (3, 8), "Classes", "data", ("problem", ("multiclass",))),
    "points": ("int", 500, (20, 2000), "Points", "data", None),
    "noise": ("int", 0, (0, 50), "Noise", "data", None),
    "trainShare": ("int", 50, (10, 90), "Training data (%)", "data", None),
    "seed": ("int", 0, (0, 2**31 - 1), "Seed", "data", None),
    "features": ("features", ["x1", "x2"], FEATURES, "Inputs", "network", None),
    "hidden": ("hidden", [4, 2], (6, 8), "Hidden layers", "network", None),
    "activation": ("choice", "tanh", _config.registered(
        "activation", ("relu", "tanh", "sigmoid", "linear", "leaky_relu")), "Activation",
        "network", None),
    "layerActivations": ("activations", [], None, "Activation per layer", "network", None),
    "alpha": ("float", 0.01, (0.0, 0.99), "LeakyReLU α", "network",
              ("activation", ("leaky_relu",))),
    "init": ("choice", "xavier_uniform", _config.registered(
        "init", ("zeros", "normal", "xavier_uniform", "xavier_normal", "he_uniform",
                 "he_normal")), "Initialization", "network", None),
    "initScale": ("float", 0.1, (1e-4, 10.0), "Init scale ε", "network",
                  ("init", ("normal",))),
    "batchNorm": ("bool", False, None, "Batch norm (before each hidden activation)", "network",
                  None),
    "dropout": ("float", 0.0, (0.0, 0.9), "Dropout p (after each hidden activation)",
                "network", None),
    "optimizer": ("choice", "sgd", OPTIMIZERS, "Optimizer", "live", None),
    "lr": ("float", 0.03, (1e-6, 10.0), "Learning rate", "live", None),
    "beta": ("float", 0.9, (0.0, 0.999), "Momentum β", "live",
             ("optimizer", ("momentum", "nesterov"))),
    "rho": ("float", 0.9, (0.0, 0.999), "RMSProp ρ", "live", ("optimizer", ("rmsprop",))),
    "beta1": ("float", 0.9, (0.0, 0.999), "Adam β1", "live", ("optimizer", ("adam", "adamw"))),
    "beta2": ("float", 0.999, (0.0, 0.9999), "Adam β2", "live",
              ("optimizer", ("adam", "adamw"))),
    "eps": ("float", 1e-8, (1e-12, 1.0), "Epsilon ε", "live",
            ("optimizer", ("adagrad", "rmsprop", "adam", "adamw"))),
    "weightDecay": ("float", 0.01, (0.0, 1.0), "Weight decay", "live",
                    ("optimizer", ("adamw",))),
    "damping": ("float", 1e-4, (1e-8, 100.0), "Damping", "live", ("optimizer", ("newton",))),
    "schedule": ("choice", "constant", _config.registered(
        "schedule", ("constant", "step", "exponential", "cosine")), "Schedule", "live", None),
    "gamma": ("float", 0.5, (0.01, 1.0), "Decay factor γ", "live", ("schedule", ("step",))),
    "stepSize": ("int", 20, (1, 1000), "Step size (epochs)", "live", ("schedule", ("step",))),
    "decay": ("float", 0.02, (0.0, 1.0), "Decay rate k", "live",
              ("schedule", ("exponential",))),
    "tMax": ("int", 100, (1, 10000), "Cosine period T (epochs)", "live",
             ("schedule", ("cosine",))),
    "lrMin": ("float", 0.0, (0.0, 10.0), "Minimum rate", "live", ("schedule", ("cosine",))),
    "warmup": ("int", 0, (0, 1000), "Warm-up epochs", "live", None),
    "regularization": ("choice", "none", ("none", "L1", "L2"), "Regularization", "live", None),
    "regRate": ("float", 0.0, (0.0, 10.0), "Regularization rate", "live", None),
    "batchSize": ("int", 10, (1, 30), "Batch size", "live", None),
    "stepsPerFrame": ("int", 25, (1, 100), "Steps per frame", "view", None),
    "stopEpoch": ("int", 0, (0, 100_000), "Stop at epoch", "view", None),
    "stopLoss": ("float", 0.0, (0.0, 10.0), "Stop at training loss", "view", None),
    "showTest": ("bool", False, None, "Show test data", "view", None),
    "discretize": ("bool", False, None, "Discretize output", "view", None),
    "race": ("race", [], (3, OPTIMIZERS), "Race", "network", None),
    "hide": ("hide", [], HIDEABLE, "Hide controls", "view", None),
}


def fields(rebuilds: str) -> frozenset:
    """The state fields whose change makes ``rebuilds`` new (a value of STATE's column)."""
    return frozenset(k for k, v in STATE.items() if v[4] == rebuilds)


#: The fields that only change how the page looks or when it pauses (no new data or network,
#: no new training settings).
VIEW_FIELDS = fields("view")

#: Server-wide limits (the ``hello`` message passes them to the page).
LIMITS = {"max_sessions": 32, "max_message": 16 * 1024, "max_upload": 256 * 1024,
          "max_upload_rows": 2000, "rate": 100.0, "burst": 200, "idle_timeout": 1800.0,
          "max_weight": 100.0, "newton_max_params": 300, "max_frames_in_flight": 2,
          "max_fps": 60.0, "max_sessions_per_client": 8, "frame_budget": 0.04,
          "header_timeout": 10.0, "max_pending_per_client": 256}

#: type -> {field: kind}; kinds: "int", "float", "str", "int?" (int or null), "state".
MESSAGES = {
    "set": {"state": "state"}, "play": {}, "pause": {}, "step": {}, "reset": {},
    "regenerate": {}, "edit": {"layer": "int", "i": "int", "j": "int", "value": "float"},
    "focus": {"layer": "int?", "i": "int"}, "upload": {"csv": "str"}, "ack": {"seq": "int"},
    "export": {"kind": "str"},
}


class ProtocolError(ValueError):
    """A message the server refuses; ``field`` names the offending field (or None)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def default_state() -> dict:
    """A fresh copy of every field's default."""
    return {k: (list(v[1]) if isinstance(v[1], list) else v[1]) for k, v in STATE.items()}


def parse_message(text, limits=LIMITS) -> dict:
    """Decode and check one message from the page; raise :class:`ProtocolError` if it is bad.

    Returns the message dict (``type`` plus its fields, ``state`` values checked by
    :func:`check_changes` only in shape: the session checks them against its current state).
    """
    if not isinstance(text, str):
        raise ProtocolError("binary messages are not accepted; send JSON text")
    if len(text) > limits["max_upload"] + 1024:
        raise ProtocolError(f"message of {len(text):,} characters is over the limit of "
                            f"{limits['max_upload']:,} for an upload")
    try:
        msg = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"malformed JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError('a message must be a JSON object with a "type", e.g. '
                            '{"type": "play"}')
    kind = msg["type"]
    if kind not in MESSAGES:
        raise ProtocolError(f"unknown message type {kind!r}; known: {', '.join(MESSAGES)}",
                            "type")
    if kind != "upload" and len(text) > limits["max_message"]:
        raise ProtocolError(f"{kind} message of {len(text):,} characters is over the limit of "
                            f"{limits['max_message']:,}")
    fields = MESSAGES[kind]
    for key in msg:
        if key != "type" and key not in fields:
            raise ProtocolError(f"{kind}: unknown field {key!r}"
                                + (f"; known: {', '.join(fields)}" if fields else ""), key)
    for key, want in fields.items():
        if key not in msg:
            raise ProtocolError(f"{kind}: missing field {key!r}", key)
        msg[key] = _check_field(kind, key, want, msg[key], limits)
    return msg


def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _check_field(kind, key, want, value, limits):
    where = f"{kind}.{key}"
    if want == "state":
        if not isinstance(value, dict):
            raise ProtocolError(f"{where} must be an object of state fields", key)
        return value
    if want == "str":
        if not isinstance(value, str):
            raise ProtocolError(f"{where} must be text", key)
        if len(value) > limits["max_upload"]:
            raise ProtocolError(f"{where}: the upload is {len(value):,} characters, over the "
                                f"limit of {limits['max_upload']:,}", key)
        return value
    if want == "int?" and value is None:
        return None
    if want in ("int", "int?"):
        return _int(value, where, 0, 2**31 - 1)
    return _float(value, where, -limits["max_weight"], limits["max_weight"])


def _int(value, where, low, high, field=None):
    field = field or where.split(".")[-1]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ProtocolError(f"{where} must be an integer, got {value!r}", field)
    if not low <= value <= high:
        raise ProtocolError(f"{where} must be between {low} and {high}, got {value}", field)
    return int(value)


def _float(value, where, low, high, field=None):
    field = field or where.split(".")[-1]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ProtocolError(f"{where} must be a number, got {value!r}", field)
    try:
        value = float(value)
    except OverflowError:           # an integer of 10^309 or more written as digits
        raise ProtocolError(f"{where} must be a finite number between {low:g} and {high:g}, "
                            "got an integer too large for a float", field) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ProtocolError(f"{where} must be a finite number between {low:g} and {high:g}, "
                            f"got {value!r}", field)
    return value


def check_changes(changes: dict, current: dict) -> dict:
    """``changes`` checked field by field and against each other, applied to a copy of
    ``current``; returns the new state. Raises :class:`ProtocolError` on the first bad field.
    """
    if not isinstance(changes, dict):
        raise ProtocolError("state must be an object of fields")
    new = dict(current)
    for key, value in changes.items():
        if key not in STATE:
            raise ProtocolError(f"unknown state field {key!r}", key)
        new[key] = check_value(key, value)
    if new["dataset"] != "upload" and new["dataset"] not in DATASETS[new["problem"]]:
        if "dataset" in changes:
            raise ProtocolError(f"dataset {new['dataset']!r} does not fit problem "
                                f"{new['problem']!r}; choose one of "
                                f"{', '.join(DATASETS[new['problem']])}", "dataset")
        new["dataset"] = DATASETS[new["problem"]][0]
    return new


def valid_changes(changes) -> tuple[dict, list[tuple[str, str]]]:
    """``changes`` split into the fields that pass :func:`check_value` alone and
    ``[(field, reason), ...]`` for the others; unknown names in ``hide`` are dropped (and
    reported), the known ones kept."""
    if not isinstance(changes, dict):
        raise ProtocolError("state must be an object of fields")
    good, bad = {}, []
    for key, value in changes.items():
        if key == "hide" and isinstance(value, list):
            unknown = [v for v in value if v not in HIDEABLE]
            if unknown:
                bad.append((key, f"hide: {', '.join(map(repr, unknown))} not known; choose "
                                 f"among {', '.join(HIDEABLE)}"))
                value = [v for v in value if v in HIDEABLE]
        try:
            if key not in STATE:
                raise ProtocolError(f"unknown state field {key!r}", key)
            good[key] = check_value(key, value)
        except ProtocolError as exc:
            bad.append((key, str(exc)))
    return good, bad


def check_value(key: str, value):
    """One state field's value, checked and normalized (e.g. ``"0.03"`` is not a number)."""
    kind, _, allowed, *_ = STATE[key]
    if value is None and kind in ("int", "float"):       # an empty box on the page
        what, (lo, hi) = ("an integer", allowed) if kind == "int" else ("a number", map(
            "{:g}".format, allowed))
        raise ProtocolError(f"{key} must be {what} between {lo} and {hi}; the box is empty",
                            key)
    if kind == "choice":
        if not isinstance(value, str) or value not in allowed:
            raise ProtocolError(f"{key} must be one of {', '.join(allowed)}; got {value!r}", key)
        return value
    if kind == "int":
        return _int(value, key, *allowed)
    if kind == "float":
        return _float(value, key, *allowed)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ProtocolError(f"{key} must be true or false, got {value!r}", key)
        return value
    if not isinstance(value, list):
        raise ProtocolError(f"{key} must be a list, got {value!r}", key)
    if kind == "activations":      # per hidden layer: a name, or "" for the Activation field's
        choices, most = STATE["activation"][2], STATE["hidden"][2][0]
        if len(value) > most:
            raise ProtocolError(f"{key}: at most {most} entries (one per hidden layer), got "
                                f"{len(value)}", key)
        for i, name in enumerate(value):
            if name != "" and name not in choices:
                raise ProtocolError(f"{key}[{i}] must be one of {', '.join(choices)} (or empty: "
                                    f"the Activation field's); got {name!r}", key)
        while value and value[-1] == "":
            value = value[:-1]                        # canonical: no trailing defaults
        return list(value)
    if kind == "hidden":
        layers, neurons = allowed
        if len(value) > layers:
            raise ProtocolError(f"hidden: at most {layers} hidden layers, got {len(value)}", key)
        return [_int(n, f"hidden[{i}] (neurons)", 1, neurons, key) for i, n in enumerate(value)]
    if kind in ("features", "hide"):
        bad = [v for v in value if v not in allowed]
        if bad or len(set(value)) != len(value):
            raise ProtocolError(f"{key}: {bad[0] if bad else 'a repeated entry'!r} is not "
                                f"allowed; choose among {', '.join(allowed)}", key)
        if kind == "features" and not value:
            raise ProtocolError("features: switch on at least one input", key)
        return [v for v in allowed if v in value]      # canonical order
    return _check_race(value, *allowed)


def _check_race(value, most, optimizers):
    if len(value) > most:
        raise ProtocolError(f"race: at most {most} extra runs (4 with the main one), "
                            f"got {len(value)}", "race")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or set(entry) != {"optimizer", "lr"}:
            raise ProtocolError(f"race[{i}] must be {{\"optimizer\": name, \"lr\": number}}",
                                "race")
        if entry["optimizer"] not in optimizers:
            raise ProtocolError(f"race[{i}].optimizer must be one of {', '.join(optimizers)}; "
                                f"got {entry['optimizer']!r}", "race")
        out.append({"optimizer": entry["optimizer"],
                    "lr": _float(entry["lr"], f"race[{i}].lr", *STATE["lr"][2], "race")})
    return out


def task(state: dict) -> str:
    """``"binary"``, ``"regression"`` or ``"multiclass"`` for the state's problem."""
    return {"classification": "binary", "regression": "regression",
            "multiclass": "multiclass"}[state["problem"]]


def to_fragment(state: dict) -> str:
    """``#field=value&...``, as the page's ``state.js`` writes and reads it (the server page's
    address, the notebook widget's ``hash``)."""
    def text(key, value):
        kind = STATE[key][0]
        if kind in ("hidden", "features", "hide", "activations"):
            return ",".join(map(str, value))
        if kind == "race":
            return ",".join(f"{r['optimizer']}:{r['lr']}" for r in value)
        if kind == "bool":
            return "true" if value else "false"
        return str(value)

    pairs = [f"{k}={urllib.parse.quote(text(k, v), safe='')}" for k, v in state.items()]
    return "#" + "&".join(pairs) if pairs else ""
