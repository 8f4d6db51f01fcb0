"""``neuralab train``: load and split the data, build the model with its preprocessing and
labels, check a resumed run against its checkpoint, then train and write the run folder.

Nothing is written before every check has passed (a refused command leaves the run folder
as it was); config.json is written atomically.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from types import SimpleNamespace

from .._textsafe import printable
from .options import CLIError, _feature_names, check_run_folder, resolve


def _load_data(config):
    """The raw split, the preprocessing to record, and the labels: a SimpleNamespace."""
    import numpy as np

    import neuralab as nl

    source = config["dataset"]
    if not source.lower().endswith(".csv"):
        ds = nl.data.load(source, test_size=config["test_size"], val_size=config["val_size"],
                          seed=config["seed"], standardize=False)
        if ds.task != "classification":
            raise CLIError(f"data set {source!r} is a regression task; `neuralab train` trains "
                           "classifiers (use the Python API with output=None for regression)")
        return SimpleNamespace(X_train=ds.X_train, y_train=ds.y_train, X_val=ds.X_val,
                               y_val=ds.y_val, X_test=ds.X_test, y_test=ds.y_test,
                               steps=_steps(config, ds.X_train, ds.name),
                               classes=np.arange(ds.n_classes), target=None,
                               feature_names=None)
    label = config["label"]
    if label is not None and label.lstrip("-").isdigit():
        label = int(label)
    X, y, names, target = nl.data.load_csv(source, label=-1 if label is None else label,
                                           encode_labels=False, return_names=True)
    classes = _check_classes(source, target, y)
    try:
        Xtr, ytr, Xv, yv, Xte, yte = nl.data.train_val_test_split(
            X, y, test_size=config["test_size"], val_size=config["val_size"],
            seed=config["seed"])
    except ValueError as exc:
        raise CLIError(f"{source!r}: cannot split the {len(y)} rows into train/validation/test "
                       f"parts with every one of the {len(classes)} classes of {target!r} in "
                       f"each ({str(exc).split(': ', 1)[-1][:200]}); lower --test-size or "
                       "--val-size, or use a larger file") from None
    return SimpleNamespace(X_train=Xtr, y_train=ytr, X_val=Xv, y_val=yv, X_test=Xte,
                           y_test=yte, steps=_steps(config, Xtr),
                           classes=classes, target=target, feature_names=names)


def _steps(config, X_train, name=None) -> list:
    """The model's preprocessing: the input features (``--features``), then the scaling that
    ``--standardize`` asks for, fitted on the training part (what the model file records)."""
    import neuralab as nl

    steps: list = []
    if config["features"] is not None:
        features = nl.FeatureMap(_feature_names(config["features"]))
        if features.n_features_in > X_train.shape[1]:
            raise CLIError(f"--features {config['features']!r} uses column "
                           f"x{features.n_features_in} but the data has {X_train.shape[1]} "
                           f"feature columns (x1 … x{X_train.shape[1]})")
        steps.append(nl.FeatureMap(features.features, n_features_in=X_train.shape[1]))
        X_train = steps[-1].transform(X_train)
    if config["standardize"]:
        steps.append(nl.data._default_scaler(name, X_train) if name and not steps
                     else nl.data.Standardizer().fit(X_train))
    return steps


def _width(data) -> int:
    """The first layer's width: the raw columns as the preprocessing steps leave them."""
    n = data.X_train.shape[1]
    for step in data.steps:
        n = step.n_features_out or n
    return n


def _check_classes(source, target, y):
    """The distinct labels of a CSV's label column, refused when they are not classes."""
    import numpy as np

    if y.dtype.kind == "f":
        values = np.unique(y)
        raise CLIError(f"{source!r}: the label column {target!r} holds real numbers ("
                       f"{len(values)} distinct values, e.g. {values[-1]:g}); `neuralab train` "
                       "trains classifiers and needs class labels (integers or text); for a "
                       "regression target use the Python API (nl.MLP(..., output=None) with "
                       "nl.MSE, or neuralab.sklearn.NeuralNetRegressor)")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise CLIError(f"{source!r}: the label column {target!r} holds a single class "
                       f"({classes[0]!r}); a classifier needs at least 2")
    single = int(np.count_nonzero(counts < 2))
    if single:
        raise CLIError(f"{source!r}: the label column {target!r} has {len(classes)} distinct "
                       f"values and {single} of them occur in one row only; `neuralab train` "
                       "trains classifiers and needs at least 2 rows per class (a regression "
                       "target? use the Python API: neuralab.sklearn.NeuralNetRegressor)")
    return classes


def _resume_point(args, config, model, optimizer, m, ckpt) -> int:
    """The epoch a resumed run restarts at, after checking its checkpoint fits this run."""
    import neuralab as nl

    if not os.path.exists(ckpt):
        raise CLIError(f"--resume {args.resume!r}: no checkpoint.safetensors in it")
    try:
        arrays, meta = nl.io.read_checkpoint(ckpt)
    except ValueError as exc:
        raise CLIError(f"--resume {args.resume!r}: {exc}") from None
    expected = {"kind": "neuralab.fit", "n_params": model.n_params,
                "dtype": model.dtype.name, "optimizer": type(optimizer).__name__, "m": m,
                "batch_size": min(config["batch_size"], m), "shuffle": True}
    for key, value in expected.items():
        if meta.get(key) != value:
            raise CLIError(f"--resume {args.resume!r}: the checkpoint was written with "
                           f"{key}={meta.get(key)!r} but this run has {key}={value!r}; the "
                           "run folder's config.json, data or checkpoint do not belong "
                           "together")
    params = arrays.get("params")
    if params is None or params.shape != model.params.shape:
        raise CLIError(f"--resume {args.resume!r}: the checkpoint has no parameter vector of "
                       f"shape {model.params.shape}")
    epoch = meta.get("epoch")
    return epoch if isinstance(epoch, int) else 0


def _describe_extension(config, done, before, schedule) -> str:
    """What --extend-epochs does to the learning rate, in one sentence."""
    total = config["epochs"]
    if schedule is None:
        return (f"extending the run from {before} to {total} epochs (training from epoch "
                f"{done + 1}); the learning rate stays {config['lr']:g}")
    old = _cosine(config, before)(max(done - 1, 0))
    return (f"extending the run from {before} to {total} epochs: the cosine schedule's horizon "
            f"becomes t_max = {total} epochs (it was {before}); the epochs already run keep "
            f"their rates and from epoch {done + 1} on the rate follows the longer curve, "
            f"{old:.3g} at epoch {max(done, 1)} -> {schedule(done):.3g} at epoch {done + 1}, "
            f"down to lr_min = {config['lr_min']:g} after epoch {total}")


def _cosine(config, t_max):
    import neuralab as nl

    return nl.schedules.CosineAnnealing(config["lr"], max(t_max, 1), config["lr_min"])


def _write_json(path, data) -> None:
    """Write ``data`` as JSON to ``path`` atomically (``nl.io.write_text``)."""
    from ..export.io import write_text

    write_text(path, json.dumps(data, indent=2))


def build_run(config) -> SimpleNamespace:
    """The run that a resolved config describes: its data, model and the arguments of ``fit``.

    The one place where options become a training run, for ``neuralab train`` (which adds the
    checkpoint, the resume point and the communicator) and for each row of ``neuralab sweep``
    (:func:`sweep_row`): the same options give the same numbers in both.
    """
    import neuralab as nl

    from ..training.callbacks import EarlyStopping

    data = _load_data(config)
    n_in, n_classes = _width(data), len(data.classes)
    model = nl.MLP([n_in, *config["hidden"], n_classes], activation=config["activation"],
                   dropout=config["dropout"], batch_norm=config["batch_norm"],
                   seed=config["seed"], dtype=config["dtype"], preprocessing=data.steps,
                   classes=data.classes, target=data.target, feature_names=data.feature_names)
    schedule = _cosine(config, config["epochs"]) if config["schedule"] == "cosine" else None
    fit_args = {
        "optimizer": nl.optim.get(config["optimizer"], lr=config["lr"]),
        "schedule": schedule, "epochs": config["epochs"], "batch_size": config["batch_size"],
        "seed": config["seed"],
        "validation_data": None if data.y_val is None else (data.X_val, data.y_val),
        "callbacks": [EarlyStopping(patience=config["patience"])] if config["patience"] else [],
        "on_divergence": config["on_divergence"],
        "regularizer": nl.regularizers.get(config["regularizer"], config["reg_rate"])}
    return SimpleNamespace(data=data, model=model, schedule=schedule, fit_args=fit_args)


def sweep_row(config) -> dict:
    """One row of ``neuralab sweep``: the ``neuralab train`` run of ``config`` (no run folder),
    its last epoch's training loss and validation numbers, test loss and accuracy, seconds."""
    import numpy as np

    import neuralab as nl

    run = build_run(config)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            history = nl.fit(run.model, run.data.X_train, run.data.y_train, verbose=0,
                             **run.fit_args)
            diverged = getattr(history, "divergence", None) is not None
        except nl.DivergenceError as exc:   # on_divergence raise: the row says so
            history, diverged = exc.history, True
        seconds = time.perf_counter() - t0
        nan = float("nan")
        test = {"loss": nan, "accuracy": nan}
        if run.data.y_test is not None:
            with np.errstate(all="ignore"):
                test = nl.evaluate(run.model, run.data.X_test, run.data.y_test)
    last = {k: float(v[-1]) for k, v in history.history.items()} if history.epoch else {}
    return {"loss": last.get("loss", nan), "val_loss": last.get("val_loss", nan),
            "val_accuracy": last.get("val_accuracy", nan), "test_loss": float(test["loss"]),
            "test_accuracy": float(test["accuracy"]), "epochs_run": len(history.epoch),
            "seconds": seconds, "diverged": diverged}


def train(args) -> int:
    import numpy as np

    import neuralab as nl

    from ..export import report

    comm = nl.distributed.world()       # under mpiexec: this rank's communicator; rank 0 writes
    root = comm.rank == 0
    config = resolve(args)
    # everything that can be wrong is checked before anything is written
    run = build_run(config)
    data, model, schedule = run.data, run.model, run.schedule
    n_classes = len(data.classes)
    run_dir = os.path.join(config["out_dir"], config["name"])
    check_run_folder(run_dir, args, comm)
    ckpt = os.path.join(run_dir, "checkpoint.safetensors")
    m = len(data.y_train)
    done = _resume_point(args, config, model, run.fit_args["optimizer"], m, ckpt) \
        if args.resume else 0
    if root:
        _announce(args, config, data, done, schedule, run_dir, comm.size)

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            history = nl.fit(model, data.X_train, data.y_train, verbose=1, checkpoint=ckpt,
                             checkpoint_every=config["checkpoint_every"] or "epoch",
                             resume_from=ckpt if args.resume else None, comm=comm,
                             **run.fit_args)
    except nl.DivergenceError as exc:  # --on-divergence raise: the last finite model, status 3
        if not root:
            return 3
        np.seterr(all="ignore")
        nl.save(model, os.path.join(run_dir, "model.safetensors"))
        _write_metrics(run_dir, exc.history)
        print(f"neuralab: error: {exc}", file=sys.stderr, flush=True)
        return 3
    if not root:                        # rank 0 writes the run folder and gives the status
        return 0
    for w in caught:                    # fit's own warnings (divergence) as one line each
        if "diverged" in str(w.message):
            print(f"neuralab: warning: {w.message}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    diverged = getattr(history, "divergence", None)
    if diverged:                        # the restored model may still overflow: stay quiet
        np.seterr(all="ignore")
    nl.save(model, os.path.join(run_dir, "model.safetensors"))
    _write_metrics(run_dir, history)
    summary = {"data set": config["dataset"], "epochs run": len(history.epoch),
               "train loss": f"{history['loss'][-1]:.4f}" if history.epoch else "-"}
    if data.y_test is not None:
        test = nl.evaluate(model, data.X_test, data.y_test)
        summary.update({"test loss": f"{test['loss']:.4f}",
                        "test accuracy": f"{test['accuracy']:.4f}"})
    else:
        summary["test"] = "none (--test-size 0)"
    summary.update({"training time": f"{seconds:.1f} s", "parameters": f"{model.n_params:,}",
                    "classes": ", ".join(map(str, data.classes.tolist()))[:200]})
    if diverged:
        summary["diverged"] = f"step {diverged.get('step')} at lr {diverged.get('lr', 0):.3g}"
    figures = report.write_figures(run_dir, history, model, data.X_test, data.y_test, n_classes,
                                   data.X_train, data.y_train)
    report.write_html(os.path.join(run_dir, "report.html"), f"neuralab run {config['name']}",
                      summary, figures, config)
    width = max(map(len, summary))
    print("\n".join(["", "summary", "-" * (width + 20)]
                    + [f"{k:<{width}}  {printable(v)}" for k, v in summary.items()]))
    print(f"\nrun folder: {run_dir}  (open {os.path.join(run_dir, 'report.html')})")
    return 3 if diverged else 0


def _announce(args, config, data, done, schedule, run_dir, size) -> None:
    """Make the run folder, write config.json (unless a plain resume), say what will run."""
    os.makedirs(run_dir, exist_ok=True)
    old = os.path.join(run_dir, "checkpoint.safetensors")
    if getattr(args, "overwrite", False) and os.path.exists(old):   # not this run's to resume
        os.remove(old)
    if not args.resume or args.extend_epochs is not None:
        if args.extend_epochs is not None:
            print(_describe_extension(config, done, config["epochs"] - args.extend_epochs,
                                      schedule), flush=True)
        _write_json(os.path.join(run_dir, "config.json"), config)
    elif done >= config["epochs"]:
        print(f"the run already trained its {config['epochs']} epochs; nothing to train (pass "
              "--extend-epochs N to train N more)", flush=True)
    n_in, n_classes = _width(data), len(data.classes)
    print(f"neuralab train: {config['dataset']} ({len(data.y_train)} train, "
          f"{0 if data.y_val is None else len(data.y_val)} validation, "
          f"{0 if data.y_test is None else len(data.y_test)} test), "
          f"MLP {'-'.join(map(str, [n_in, *config['hidden'], n_classes]))}, "
          f"{config['optimizer']} lr {config['lr']:g}, {config['epochs']} epochs -> {run_dir}"
          f"{f' ({size} processes)' if size > 1 else ''}", flush=True)


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
