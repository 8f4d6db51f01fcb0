"""The ``neuralab`` command: train, evaluate, predict, list data sets, run the lab."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

EXAMPLES = """\
examples:
  neuralab train                               # digits, MLP 64-128-10, Adam + cosine
  neuralab train --data moons --hidden 32 32 --epochs 40 --name moons
  neuralab train --config run.toml --lr 0.001  # flags override the file
  neuralab train --name long --checkpoint-every 50
  neuralab train --resume runs/long            # continue a killed run exactly
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

exit status: 0 ok, 1 runtime error, 2 bad input or usage, 3 training diverged (the run
folder is still written, with the last finite model); --debug shows the traceback.
"""

#: key -> (type, default, help). ``list`` means a list of positive ints.
TRAIN_OPTIONS = {
    "dataset": (str, "digits", "bundled data set name (see `neuralab datasets`) or a .csv file"),
    "label": (str, None, "label column of a CSV data set (name or index; default: last)"),
    "hidden": (list, [128], "hidden layer sizes"),
    "activation": (str, "relu", "hidden activation (relu, tanh, sigmoid, leaky_relu)"),
    "optimizer": (str, "adam", "optimizer name (sgd, momentum, nesterov, adam, adamw, ...)"),
    "lr": (float, 3e-3, "peak learning rate"),
    "lr_min": (float, 0.0, "final learning rate of the cosine schedule"),
    "schedule": (str, "cosine", "learning-rate schedule: cosine or constant"),
    "epochs": (int, 30, "number of epochs"),
    "batch_size": (int, 32, "mini-batch size"),
    "seed": (int, 0, "seed of the split, the weights and the shuffling"),
    "test_size": (float, 0.2, "fraction of the data held out for the test"),
    "val_size": (float, 0.1, "fraction of the data held out for validation curves"),
    "dtype": (str, "float32", "float32 or float64"),
    "patience": (int, 0, "early stopping on val_loss after this many epochs (0: off)"),
    "checkpoint_every": (int, 0, "write a checkpoint every N steps (0: each epoch end)"),
    "on_divergence": (str, "stop", "on NaN/inf: stop (keep the last finite model) or raise"),
    "name": (str, None, "run name (default: a timestamp)"),
    "out_dir": (str, "runs", "folder of the run folders"),
}


#: Options whose values argparse checks against a list.
CHOICES = {"schedule": ("cosine", "constant"), "dtype": ("float32", "float64"),
           "on_divergence": ("stop", "raise")}


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line ``neuralab: error: ...`` (exit status 2)."""

    def error(self, message):
        where = "" if self.prog == "neuralab" else f"{self.prog.split()[-1]}: "
        self.exit(2, f"neuralab: error: {where}{message} (see `{self.prog} --help`)\n")


def _type_name(kind):
    return {list: "a list of integers", float: "a number", int: "an integer",
            str: "a string"}[kind]


def _check_value(key, value, where):
    kind = TRAIN_OPTIONS[key][0]
    ok = {int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool),
          str: isinstance(value, str),
          list: isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                                and v > 0 for v in value)}[kind]
    if not ok:
        raise CLIError(f"{where}: {key} must be {_type_name(kind)}, got {value!r}")
    return float(value) if kind is float else value


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


def _resolve(args) -> dict:
    """defaults < config file (or the resumed run's config.json) < explicit flags."""
    config = {k: v[1] for k, v in TRAIN_OPTIONS.items()}
    if args.resume:
        path = os.path.join(args.resume, "config.json")
        if not os.path.exists(path):
            raise CLIError(f"--resume {args.resume!r}: no config.json there; pass a run folder")
        with open(path) as f:
            config.update({k: v for k, v in json.load(f).items() if k in TRAIN_OPTIONS})
    if args.config:
        config.update(_read_config(args.config))
    for key in TRAIN_OPTIONS:
        value = getattr(args, key, None)
        if value is not None:
            config[key] = _check_value(key, value, f"--{key.replace('_', '-')}")
    if args.resume:
        config["out_dir"], config["name"] = os.path.split(os.path.normpath(args.resume))
    if config["name"] is None:
        config["name"] = time.strftime("%Y%m%d-%H%M%S")
    _check_ranges(config)
    return config


def _check_ranges(config):
    from ._validation import check_float, check_int, check_lr

    for key, low in (("epochs", 0), ("batch_size", 1), ("seed", 0), ("patience", 0),
                     ("checkpoint_every", 0)):
        check_int(config[key], key, minimum=low)
    check_lr(config["lr"], "lr")
    check_float(config["lr_min"], "lr_min", low=0.0)
    for key in ("test_size", "val_size"):
        check_float(config[key], key, low=0.0, high=1.0, high_inclusive=False)
    if not config["hidden"]:
        raise CLIError("hidden must list at least one layer size, e.g. --hidden 128")
    for key, choices in CHOICES.items():
        if config[key] not in choices:
            raise CLIError(f"{key} must be one of {', '.join(choices)}, got {config[key]!r}")


def _load_data(config):
    import numpy as np

    import neuralab as nl

    source = config["dataset"]
    if source.lower().endswith(".csv"):
        label = config["label"]
        if label is not None and label.lstrip("-").isdigit():
            label = int(label)
        X, y = nl.data.load_csv(source, label=-1 if label is None else label)
        if not np.issubdtype(np.asarray(y).dtype, np.integer):
            raise CLIError(f"{source!r}: the label column must hold integer classes 0..k-1")
        Xtr, ytr, Xv, yv, Xte, yte = nl.data.train_val_test_split(
            X, y, test_size=config["test_size"], val_size=config["val_size"],
            seed=config["seed"])
        scaler = nl.data.Standardizer().fit(Xtr)
        Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
        Xv = None if Xv is None else scaler.transform(Xv)
        n_classes = int(max(ytr.max(), yte.max())) + 1
        return Xtr, ytr, Xv, yv, Xte, yte, X.shape[1], n_classes, scaler
    ds = nl.data.load(source, test_size=config["test_size"], val_size=config["val_size"],
                      seed=config["seed"])
    if ds.task != "classification":
        raise CLIError(f"data set {source!r} is a regression task; `neuralab train` trains "
                       "classifiers (use the Python API with output=None for regression)")
    return (ds.X_train, ds.y_train, ds.X_val, ds.y_val, ds.X_test, ds.y_test, ds.n_features,
            ds.n_classes, ds.scaler)


def _train(args) -> int:
    import numpy as np

    import neuralab as nl

    from . import report
    from .callbacks import EarlyStopping

    config = _resolve(args)
    Xtr, ytr, Xv, yv, Xte, yte, n_in, n_classes, scaler = _load_data(config)
    # everything that can be wrong is checked before the run folder is made
    model = nl.MLP([n_in, *config["hidden"], n_classes], activation=config["activation"],
                   seed=config["seed"], dtype=config["dtype"])
    optimizer = nl.optim.get(config["optimizer"], lr=config["lr"])
    schedule = None
    if config["schedule"] == "cosine":
        schedule = nl.schedules.CosineAnnealing(config["lr"], max(config["epochs"], 1),
                                                config["lr_min"])
    elif config["schedule"] != "constant":
        raise CLIError(f"--schedule must be cosine or constant, got {config['schedule']!r}")
    callbacks = [EarlyStopping(patience=config["patience"])] if config["patience"] else []
    run_dir = os.path.join(config["out_dir"], config["name"])
    ckpt = os.path.join(run_dir, "checkpoint.safetensors")
    if args.resume and not os.path.exists(ckpt):
        raise CLIError(f"--resume {args.resume!r}: no checkpoint.safetensors in it")
    os.makedirs(run_dir, exist_ok=True)
    saved = dict(config)
    if scaler is not None:
        saved["scaler"] = {"mean": np.broadcast_to(scaler.mean_, (n_in,)).tolist(),
                           "scale": np.broadcast_to(scaler.scale_, (n_in,)).tolist()}
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(saved, f, indent=2)
    print(f"neuralab train: {config['dataset']} ({len(ytr)} train, "
          f"{0 if yv is None else len(yv)} validation, {len(yte)} test), "
          f"MLP {'-'.join(map(str, [n_in, *config['hidden'], n_classes]))}, "
          f"{config['optimizer']} lr {config['lr']:g}, {config['epochs']} epochs -> {run_dir}",
          flush=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        history = nl.fit(model, Xtr, ytr, optimizer=optimizer, schedule=schedule,
                         epochs=config["epochs"], batch_size=config["batch_size"],
                         seed=config["seed"],
                         validation_data=None if yv is None else (Xv, yv),
                         callbacks=callbacks, verbose=1, on_divergence=config["on_divergence"],
                         checkpoint=ckpt,
                         checkpoint_every=config["checkpoint_every"] or "epoch",
                         resume_from=ckpt if args.resume else None)
    for w in caught:                    # fit's own warnings (divergence) as one line each
        if "diverged" in str(w.message):
            print(f"neuralab: warning: {w.message}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    diverged = getattr(history, "divergence", None)
    if diverged:                        # the restored model may still overflow: stay quiet
        np.seterr(all="ignore")
    nl.save(model, os.path.join(run_dir, "model.safetensors"))
    _write_metrics(run_dir, history)
    test = nl.evaluate(model, Xte, yte)
    summary = {"data set": config["dataset"], "epochs run": len(history.epoch),
               "train loss": f"{history['loss'][-1]:.4f}" if history.epoch else "-",
               "test loss": f"{test['loss']:.4f}", "test accuracy": f"{test['accuracy']:.4f}",
               "training time": f"{seconds:.1f} s", "parameters": f"{model.n_params:,}"}
    if diverged:
        summary["diverged"] = f"step {diverged.get('step')} at lr {diverged.get('lr', 0):.3g}"
    figures = report.write_figures(run_dir, history, model, Xte, yte, n_classes, Xtr, ytr)
    report.write_html(os.path.join(run_dir, "report.html"), f"neuralab run {config['name']}",
                      summary, figures, config)
    width = max(map(len, summary))
    print("\n".join(["", "summary", "-" * (width + 20)]
                    + [f"{k:<{width}}  {v}" for k, v in summary.items()]))
    print(f"\nrun folder: {run_dir}  (open {os.path.join(run_dir, 'report.html')})")
    return 3 if diverged else 0


def _write_metrics(run_dir, history):
    keys = list(history.history)
    with open(os.path.join(run_dir, "metrics.csv"), "w") as f:
        f.write(",".join(["epoch", *keys]) + "\n")
        for i, epoch in enumerate(history.epoch):
            f.write(",".join([str(epoch + 1), *(repr(float(history[k][i])) for k in keys)])
                    + "\n")
    with open(os.path.join(run_dir, "metrics.jsonl"), "w") as f:
        for i, epoch in enumerate(history.epoch):
            f.write(json.dumps({"epoch": epoch + 1,
                                **{k: float(history[k][i]) for k in keys}}) + "\n")


def _run_config(model_path) -> dict:
    """The config.json that `neuralab train` wrote beside a model ({} if none)."""
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "config.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        config = json.load(f)
    return config if isinstance(config, dict) else {}


def _scaler_for(model_path):
    """The standardization saved beside a model by `neuralab train` (or None)."""
    import numpy as np

    import neuralab as nl

    stats = _run_config(model_path).get("scaler")
    return None if stats is None else nl.data.Standardizer.from_stats(
        np.asarray(stats["mean"]), np.asarray(stats["scale"]))


def _read_inputs(path, n_in, label=None):
    import numpy as np

    import neuralab as nl

    if path.lower().endswith(".npy"):
        return np.asarray(nl.data.load_npy(path)), None
    if label is None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                X = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=_has_header(path))
            except ValueError as exc:
                raise CLIError(f"{path!r}: {exc}") from None
        if X.size == 0:
            raise CLIError(f"{path!r} holds no rows of numbers")
        return X, None
    X, y = nl.data.load_csv(path, label=int(label) if label.lstrip("-").isdigit() else label)
    return X, y


def _check_width(path, X, model):
    if X.ndim != 2 or X.shape[1] != model.n_in:
        raise CLIError(f"{path!r} has {X.shape[-1]} feature columns per row but the model "
                       f"expects {model.n_in}")


def _has_header(path) -> int:
    with open(path) as f:
        first = f.readline().split(",")
    try:
        [float(v) for v in first]
        return 0
    except ValueError:
        return 1


def _evaluate(args) -> int:
    import neuralab as nl

    model = nl.load(args.model)
    if args.data.lower().endswith(".csv"):
        X, y = _read_inputs(args.data, model.n_in, args.label or "-1")
        _check_width(args.data, X, model)
        scaler = None if args.no_scale else _scaler_for(args.model)
        if scaler is not None:
            X = scaler.transform(X)
        where = args.data
    else:
        split = {"seed": 0, "test_size": 0.2, "val_size": 0.0}
        run = _run_config(args.model)
        if run.get("dataset") == args.data:          # the test part of the run that made it
            split.update({k: run[k] for k in split if k in run})
        if args.seed is not None:
            split["seed"] = args.seed
        ds = nl.data.load(args.data, **split)
        X, y = ds.X_test, ds.y_test
        where = f"{args.data} (test part, seed {split['seed']})"
    result = nl.evaluate(model, X, y)
    print(f"{where}: {len(y)} samples")
    for key, value in result.items():
        print(f"{'test ' + key:<15} {value:.4f}")
    return 0


def _predict(args) -> int:
    import neuralab as nl

    model = nl.load(args.model)
    X, _ = _read_inputs(args.input, model.n_in)
    _check_width(args.input, X, model)
    scaler = None if args.no_scale else _scaler_for(args.model)
    if scaler is not None:
        X = scaler.transform(X)
    P = model.predict_proba(X)
    pred = model.predict(X)
    lines = [",".join(["prediction", *(f"p{j}" for j in range(P.shape[1]))])]
    lines += [",".join([str(int(c)), *(f"{p:.6g}" for p in row)])
              for c, row in zip(pred, P, strict=True)]
    text = "\n".join(lines) + "\n"
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {len(pred)} predictions to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _datasets(args) -> int:
    import neuralab as nl

    width = max(map(len, nl.data.DATASETS))
    for name, description in nl.data.DATASETS.items():
        print(f"{name:<{width}}  {description}")
    return 0


def _lab(argv) -> int:
    from .lab import cli as lab_cli  # imported only for `neuralab lab`

    parser = _Parser(prog="neuralab lab", description="the lecture's experiments, each a figure")
    lab_cli.add_arguments(parser)
    return lab_cli.run(parser.parse_args(argv))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="neuralab", description="neuralab: train, evaluate and explore neural networks "
        "written in NumPy.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    p = sub.add_parser("train", help="train an MLP and write runs/<name>/ with a report",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE.toml", help="read options from a TOML file")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its last checkpoint")
    for key, (kind, default, text) in TRAIN_OPTIONS.items():
        flag = "--" + key.replace("_", "-")
        if key == "dataset":
            flag = ["--data", "--dataset"]
        flags = flag if isinstance(flag, list) else [flag]
        extra = {"nargs": "+", "type": int} if kind is list else {"type": kind}
        if key in CHOICES:
            extra["choices"] = CHOICES[key]
        shown = "" if default is None else f" (default: {default})"
        p.add_argument(*flags, dest=key, default=None, help=text + shown, **extra)
    p.set_defaults(func=_train)
    p = sub.add_parser("evaluate", help="loss and accuracy of a saved model on data")
    p.add_argument("model", help="model file (.safetensors)")
    p.add_argument("--data", required=True, help="bundled data set name or a .csv file")
    p.add_argument("--label", help="label column of the CSV (name or index; default: last)")
    p.add_argument("--seed", type=int, default=None,
                   help="split seed of a bundled data set (default: the run's, else 0)")
    p.add_argument("--no-scale", action="store_true",
                   help="do not apply the run's standardization (config.json beside MODEL)")
    p.set_defaults(func=_evaluate)
    p = sub.add_parser("predict", help="predicted classes and probabilities for inputs")
    p.add_argument("model", help="model file (.safetensors)")
    p.add_argument("input", help="inputs: .csv (rows of features) or .npy (m, n)")
    p.add_argument("--output", "-o", help="write CSV here (default: standard output)")
    p.add_argument("--no-scale", action="store_true",
                   help="do not apply the run's standardization (config.json beside MODEL)")
    p.set_defaults(func=_predict)
    p = sub.add_parser("datasets", help="list the bundled data sets")
    p.set_defaults(func=_datasets)
    sub.add_parser("lab", help="run the lecture's experiments (neuralab lab --help)",
                   add_help=False)
    sub.add_parser("playground", help="train and watch networks live in the browser",
                   add_help=False)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:1] or ("--debug" in argv and argv[:1] != ["lab"])
    argv = [a for a in argv if a != "--debug"] if debug else argv
    try:
        if argv[:1] == ["lab"]:
            return _lab(argv[1:])
        if argv[:1] == ["playground"]:  # the web app's own parser (neuralab[playground])
            from .playground.cli import main as playground_main
            return playground_main(argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except BrokenPipeError:            # `neuralab predict ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("neuralab: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, no traceback (--debug shows it)
        if debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"neuralab: error: {message}", file=sys.stderr)
        return 2 if isinstance(exc, (CLIError, ValueError, TypeError)) else 1


if __name__ == "__main__":
    sys.exit(main())
