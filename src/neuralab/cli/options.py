"""The options of ``neuralab train``: names, types, defaults, the TOML file, the checks.

Shared by the commands that take them (``train``, ``train --workers``, ``sweep``): what
a run's config.json holds, and how defaults, a config file, a resumed run's config and flags
combine.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from ..nn.activations import hidden_names

EXAMPLES = """\
examples:
  neuralab train                               # digits, MLP 64-128-10, Adam + cosine
  neuralab train --data moons --hidden 32 32 --epochs 40 --name moons
  neuralab train --config run.toml --lr 0.001  # flags override the file
  neuralab train --name long --checkpoint-every 50
  neuralab train --resume runs/long            # continue a killed run exactly
  neuralab train --resume runs/long --extend-epochs 20   # train a finished run longer
  neuralab train --data iris.csv --label species          # text labels are kept as names
  neuralab train --workers 2                   # data-parallel on 2 processes (mpiexec)
  neuralab sweep --grid lr=0.001,0.003 --grid hidden=64,128-64 --dask-workers 2
  neuralab evaluate runs/moons/model.safetensors --data moons
  neuralab evaluate model.safetensors --data table.csv --label target
  neuralab predict runs/digits/model.safetensors inputs.csv --output predictions.csv
  neuralab datasets
  neuralab lab list
  neuralab playground                          # the web app (pip install "neuralab[playground]")

run.toml holds the options of `neuralab train --help` (hyphens as underscores):
  dataset = "wine"
  hidden = [32, 16]
  epochs = 40
  lr = 0.003

A relative data path in run.toml is read from the toml's folder.

The model file holds everything `evaluate` and `predict` need: the input scaling, the class
labels as they were in the data, the label column's name, the feature columns' names (a CSV
header must name them, in any order; --by-position takes the columns in order). A resumed run
keeps its config.json: options that would change it are refused (--extend-epochs N trains N
more epochs). --name is one folder inside --out-dir, and a folder that holds a run is not
replaced unless you pass --overwrite.

exit status: 0 ok, 1 runtime error, 2 bad input or usage, 3 training diverged (the run
folder is still written, with the last finite model; with --on-divergence raise, the model
and metrics only); --debug shows the traceback.
"""

#: key -> (type, default, help). ``list`` means a list of positive ints; a ``bool`` is a flag
#: pair ``--x``/``--no-x`` (true/false in TOML).
TRAIN_OPTIONS = {
    "dataset": (str, "digits", "bundled data set name (see `neuralab datasets`) or a .csv file"),
    "label": (str, None, "label column of a CSV data set (name or index; default: last)"),
    "hidden": (list, [128], "hidden layer sizes"),
    "features": (str, None, "input features computed from the raw columns, comma-separated, "
                 "e.g. x1,x2,x1^2,x1*x2,sin(x1) (default: the columns as they are)"),
    "standardize": (bool, True, "scale the inputs by the training part's mean and std "
                    "(pixels: by their range); --no-standardize feeds them as they are"),
    "activation": (str, "relu", "hidden activation"),
    "dropout": (float, 0.0, "dropout probability after each hidden activation (0: none)"),
    "batch_norm": (bool, False, "batch normalization before each hidden activation"),
    "optimizer": (str, "adam", "optimizer name (sgd, momentum, nesterov, adam, adamw, ...)"),
    "lr": (float, 3e-3, "peak learning rate"),
    "lr_min": (float, 0.0, "final learning rate of the cosine schedule"),
    "schedule": (str, "cosine", "learning-rate schedule: cosine or constant"),
    "regularizer": (str, "none", "penalty on the weights added to the loss: none, l1, l2"),
    "reg_rate": (float, 1e-3, "its strength λ: λ·Σ|W| (l1) or λ/2·Σ W² (l2)"),
    "epochs": (int, 30, "number of epochs"),
    "batch_size": (int, 32, "mini-batch size"),
    "seed": (int, 0, "seed of the split, the weights and the shuffling"),
    "test_size": (float, 0.2, "fraction of the data held out for the test (0: none)"),
    "val_size": (float, 0.1, "fraction of the data held out for validation curves"),
    "dtype": (str, "float32", "float32 or float64"),
    "patience": (int, 0, "early stopping on val_loss after this many epochs (0: off)"),
    "checkpoint_every": (int, 0, "write a checkpoint every N steps (0: each epoch end)"),
    "on_divergence": (str, "stop", "on NaN/inf: stop (finish the run folder with the last "
                      "finite model) or raise (save it and the metrics, exit 3 at once)"),
    "name": (str, None, "run name (default: a timestamp)"),
    "out_dir": (str, "runs", "folder of the run folders"),
}


#: Options whose values argparse checks against a list.
CHOICES = {"schedule": ("cosine", "constant"), "dtype": ("float32", "float64"),
           "on_divergence": ("stop", "raise"),
           "activation": hidden_names(),          # every registered hidden activation
           "regularizer": ("none", "l1", "l2")}

#: Options a resumed run may take with other values: they do not change what it computes.
RESUME_FREE = ("checkpoint_every", "on_divergence")


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line ``neuralab: error: ...`` (exit status 2)."""

    def error(self, message):
        where = "" if self.prog == "neuralab" else f"{self.prog.split()[-1]}: "
        self.exit(2, f"neuralab: error: {where}{message} (see `{self.prog} --help`)\n")


def _type_name(kind):
    return {list: "a list of integers", float: "a number", int: "an integer",
            str: "a string", bool: "true or false"}[kind]


def _check_value(key, value, where):
    kind = TRAIN_OPTIONS[key][0]
    ok = {int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool),
          str: isinstance(value, str),
          bool: isinstance(value, bool),
          list: isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                                and v > 0 for v in value)}[kind]
    if not ok and kind is list and isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise CLIError(f"{where}: {key} must be layer sizes of 1 or more, got {value!r}: a "
                       "layer needs at least 1 unit (e.g. --hidden 128 64)")
    if not ok:
        raise CLIError(f"{where}: {key} must be {_type_name(kind)}, got {value!r}")
    return float(value) if kind is float else value


def parse_text(key: str, text: str, where: str):
    """An option's value written as text (``--grid lr=0.1``): checked like a flag's."""
    kind = TRAIN_OPTIONS[key][0]
    text = text.strip()
    value: object
    try:
        if kind is bool:
            value = {"true": True, "yes": True, "on": True, "1": True, "false": False,
                     "no": False, "off": False, "0": False}[text.lower()]
        elif kind is list:
            value = [int(v) for v in text.split("-")]
        else:
            value = text if kind is str else kind(text)
    except (KeyError, ValueError):
        hint = " (true or false)" if kind is bool else " (layer sizes: 128-64)" \
            if kind is list else ""
        raise CLIError(f"{where}: cannot read {text!r} as {key}{hint}") from None
    return _check_value(key, value, where)


def _read_config(path) -> dict:
    import tomllib

    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise CLIError(f"config file {path!r} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise CLIError(f"config file {path!r} is not valid TOML: {exc}") from None
    out = {}
    for key, value in raw.items():
        k = key.replace("-", "_")
        if k not in TRAIN_OPTIONS:
            raise CLIError(f"config file {path!r}: unknown key {key!r}; known keys: "
                           f"{', '.join(TRAIN_OPTIONS)}")
        out[k] = _check_value(k, value, f"config file {path!r}")
    return out


def _given(args) -> dict:
    """The options set on the command line or in --config (not the defaults)."""
    given = _read_config(args.config) if args.config else {}
    data = given.get("dataset")
    if data is not None and data.lower().endswith(".csv") and not os.path.isabs(data):
        # a data file named in the config file is found beside it, wherever neuralab runs
        given["dataset"] = os.path.join(os.path.dirname(args.config), data)
    for key in TRAIN_OPTIONS:
        value = getattr(args, key, None)
        if value is not None:
            given[key] = _check_value(key, value, f"--{key.replace('_', '-')}")
    return given


def resolve(args) -> dict:
    """defaults < config file < explicit flags; with --resume, the run's config.json."""
    given = _given(args)
    if args.resume:
        return _resolve_resume(args, given)
    if args.extend_epochs is not None:
        raise CLIError("--extend-epochs applies to a resumed run: pass --resume RUN_DIR")
    config = {k: v[1] for k, v in TRAIN_OPTIONS.items()}
    config.update(given)
    if config["name"] is None:
        config["name"] = time.strftime("%Y%m%d-%H%M%S")
    check_name(str(config["name"]), "--name" if args.name is not None else
               f"config file {args.config!r}: name")
    _check_ranges(config)
    return config


def check_name(name: str, where: str) -> str:
    """A run's name: one folder inside ``out_dir`` (no ``/``, ``..``, absolute path)."""
    seps = {"/", "\\", os.sep, os.altsep or "/"}
    if (not name or name in (".", "..") or any(c in name for c in seps) or "\0" in name
            or os.path.isabs(name) or os.path.splitdrive(name)[0]):
        raise CLIError(f"{where} {name!r}: a run name is one folder name inside the output "
                       "folder (no '/', '\\', '..' or absolute path); choose the parent with "
                       "--out-dir and the folder's name with --name")
    return name


#: The files that make a folder hold a run's work (a folder with only config.json is a run
#: stopped before its first checkpoint: starting it afresh loses nothing).
RUN_FILES = ("model.safetensors", "checkpoint.safetensors", "metrics.csv", "metrics.jsonl",
             "report.html")


def check_run_folder(run_dir: str, args, comm=None, files=RUN_FILES) -> None:
    """Refuse to replace a run folder that holds a run unless ``--overwrite`` says so.

    Every rank looks before any writes (``comm.max`` is a collective), so a job agrees."""
    overwrite = getattr(args, "overwrite", False)
    if getattr(args, "resume", None):
        if overwrite:
            raise CLIError("--overwrite starts a run afresh and --resume continues one: "
                           "pass only one of them")
        return
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise CLIError(f"{run_dir!r} exists and is not a folder; choose another --name")
    taken = [f for f in files if os.path.exists(os.path.join(run_dir, f))]
    if comm is not None and comm.max(float(bool(taken))) > 0 and not taken:
        taken = ["(seen by another rank)"]
    if taken and not overwrite:
        raise CLIError(f"the run folder {run_dir!r} already holds a run ({', '.join(taken)}); "
                       "nothing was written. Pass --overwrite to replace it, another --name "
                       f"for a new run, or --resume {run_dir} (with --extend-epochs N to train "
                       "longer) to continue it")


def _resolve_resume(args, given) -> dict:
    """The resumed run's own config; options that would change it are refused."""
    run_dir = os.path.normpath(args.resume)
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise CLIError(f"--resume {args.resume!r}: no config.json there; pass a run folder")
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError) as exc:
        raise CLIError(f"--resume {args.resume!r}: cannot read config.json ({exc})") from None
    if not isinstance(saved, dict):
        raise CLIError(f"--resume {args.resume!r}: config.json is not a JSON object")
    config = {k: v[1] for k, v in TRAIN_OPTIONS.items()}
    config.update({k: v if v is None and TRAIN_OPTIONS[k][1] is None else _check_value(k, v, path)
                   for k, v in saved.items() if k in TRAIN_OPTIONS})
    config["out_dir"], config["name"] = os.path.split(run_dir)
    folder = os.path.join(given.get("out_dir", config["out_dir"]),
                          given.get("name", config["name"]))
    changed = [k for k, v in given.items()
               if k not in (*RESUME_FREE, "out_dir", "name") and v != config[k]]
    if os.path.abspath(folder) != os.path.abspath(run_dir):
        changed.append("name" if "name" in given else "out_dir")
    if changed:
        listed = ", ".join(f"--{k.replace('_', '-')} {given[k]!r} (the run has {config[k]!r})"
                           for k in changed)
        hint = " To train more epochs, pass --extend-epochs N." if "epochs" in changed else ""
        raise CLIError(f"--resume {args.resume!r} continues the run as its config.json says; "
                       f"refusing options that would change it: {listed}.{hint} Start a new "
                       "run (another --name) for other settings")
    config.update({k: given[k] for k in RESUME_FREE if k in given})
    if args.extend_epochs is not None:
        from .._validation import check_int

        config["epochs"] += check_int(args.extend_epochs, "--extend-epochs", minimum=1)
    _check_ranges(config)
    return config


def _check_ranges(config):
    from .._validation import check_float, check_int, check_lr

    for key, low in (("epochs", 0), ("batch_size", 1), ("seed", 0), ("patience", 0),
                     ("checkpoint_every", 0)):
        check_int(config[key], key, minimum=low)
    check_lr(config["lr"], "lr")
    check_float(config["lr_min"], "lr_min", low=0.0)
    check_float(config["reg_rate"], "reg_rate", low=0.0)
    check_float(config["dropout"], "dropout", low=0.0, high=1.0, high_inclusive=False)
    from ..optim import OPTIMIZERS

    rule = getattr(OPTIMIZERS.get(config["optimizer"].lower()), "no_regularizer", None)
    if config["regularizer"] != "none" and rule is not None:
        raise CLIError(f"regularizer {config['regularizer']} cannot be used with the optimizer "
                       f"{config['optimizer']} ({rule}); "
                       "use a first-order optimizer or --regularizer none")
    if config["features"] is not None:
        from ..nn.preprocessing import FeatureMap

        if any(not name.strip() for name in config["features"].split(",")):
            raise CLIError(f"features {config['features']!r} has an empty name between "
                           "commas; list the features once each, e.g. x1,x2,x1*x2")
        try:
            FeatureMap(_feature_names(config["features"]))
        except (TypeError, ValueError) as exc:
            raise CLIError(f"features: {exc}") from None
    for key in ("test_size", "val_size"):
        check_float(config[key], key, low=0.0, high=1.0, high_inclusive=False)
    if not config["hidden"]:
        raise CLIError("hidden must list at least one layer size, e.g. --hidden 128")
    for key, choices in CHOICES.items():
        if config[key] not in choices:
            raise CLIError(f"{key} must be one of {', '.join(choices)}, got {config[key]!r}")


def _feature_names(text: str) -> list[str]:
    """``"x1, x2,x1^2"`` -> ``["x1", "x2", "x1^2"]`` (the --features option)."""
    return [name.strip() for name in text.split(",") if name.strip()]
