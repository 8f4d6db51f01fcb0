"""``neuralab evaluate`` and ``neuralab predict``: use a model file, and only the model file.

The file holds the preprocessing, the class labels and the label column's name; a file
without them (an older neuralab) still works, with a warning that says what is missing.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

from .._textsafe import csv_line, printable
from .options import CLIError


def _run_config(model_path) -> dict:
    """The config.json that `neuralab train` wrote beside a model ({} if none or unreadable).

    Only the split of a bundled data set (seed, test_size) is read from it: the model file
    itself holds the preprocessing and the labels.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "config.json")
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _load_model(args):
    """The model file, with its preprocessing dropped under --no-scale."""
    import neuralab as nl

    model = nl.load(args.model)
    if args.no_scale:
        names, model.feature_names = model.feature_names, None
        model.preprocessing = []
        if names and len(names) == model.n_features_in:     # same columns, unscaled
            model.feature_names = names
    return model


def _gaps(args, model, scaling_note="the inputs are used as given") -> str | None:
    """A warning line when the model file lacks the preprocessing or the labels (old files)."""
    missing = []
    if not model.preprocessing and not args.no_scale:
        missing.append(f"no input preprocessing ({scaling_note})")
    if model.classes is None and _classifier(model):
        missing.append("no class labels (classes are shown as indices 0..k-1)")
    if not missing:
        return None
    return (f"neuralab: warning: {args.model} records {' and '.join(missing)}: a model file "
            "from an older neuralab, or saved without them; in Python, set "
            "model.preprocessing / model.classes and nl.save it to record them")


def _classifier(model) -> bool:
    """Whether the model ends in class probabilities (Softmax or Sigmoid), not a regression."""
    import neuralab as nl

    return not isinstance(nl.losses.default_loss(model), nl.MSE)   # the output layer says


def _align(path, X, names, model, by_position=False):
    """The columns of ``X`` the model takes: by name when the model records its columns' names
    and the file has a header (every one must be there, in any order; other columns are
    ignored); by position for a file without a header, or with ``--by-position``."""
    wanted = model.feature_names
    if wanted and names is not None and not by_position:
        names = list(names)
        missing = [n for n in wanted if n not in names]
        if missing:
            unknown = [n for n in names if n not in wanted]
            raise CLIError(
                f"{path!r}: the header lacks the model's column{'s' if len(missing) > 1 else ''}"
                f" {', '.join(map(repr, missing))} (the model takes {', '.join(wanted)}; the "
                f"file also has {', '.join(map(repr, unknown)) if unknown else 'no other column'}"
                "); rename the columns in the header, or pass --by-position to use the file's "
                "columns in their order")
        X = X[:, [names.index(n) for n in wanted]]
    if X.ndim != 2 or X.shape[1] != model.n_features_in:
        named = f" ({', '.join(wanted)})" if wanted else ""
        raise CLIError(f"{path!r} has {X.shape[-1]} feature columns per row but the model "
                       f"expects {model.n_features_in}{named}")
    return X


def _header(path, delimiter=","):
    """The first line's fields if it is a header, else None: a header has a text cell above a
    number (``a,b,label`` over ``1.5,2,cat``), or, in a one-line file, any text cell."""
    import csv

    def number(cell):
        try:
            float(cell)
            return True
        except ValueError:
            return False

    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        first, second = next(reader, []), next(reader, None)
    if second is None:
        return None if all(number(v) for v in first) else [c.strip() for c in first]
    if any(number(b) and not number(a) for a, b in zip(first, second, strict=False)):
        return [c.strip() for c in first]
    return None


def _read_inputs(path, model, by_position=False):
    """Feature rows for ``predict``: .npy, or a CSV (a label column named target is dropped)."""
    import numpy as np

    import neuralab as nl

    if path.lower().endswith(".npy"):
        return _align(path, np.asarray(nl.data.load_npy(path)), None, model)
    if not os.path.exists(path):
        raise CLIError(f"no such file: {path!r}")
    names = _header(path)
    if names and model.target in names:
        X, _, names, _ = nl.data.load_csv(path, label=model.target, encode_labels=False,
                                          return_names=True)
        return _align(path, X, names, model, by_position)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            X = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1 if names else 0)
        except ValueError as exc:
            raise CLIError(f"{path!r}: {exc}") from None
    if X.size == 0:
        raise CLIError(f"{path!r} holds no rows of numbers")
    return _align(path, X, names, model, by_position)


def evaluate(args) -> int:
    import neuralab as nl

    model = _load_model(args)
    note = "the inputs are used as given"
    if args.data.lower().endswith(".csv"):
        if not os.path.exists(args.data):
            raise CLIError(f"no such file: {args.data!r}")
        header = _header(args.data)
        label = args.label if args.label is not None else \
            model.target if header and model.target else "-1"
        X, y, names, target = nl.data.load_csv(
            args.data, label=int(label) if label.lstrip("-").isdigit() else label,
            header=header is not None, encode_labels=False, return_names=True)
        X = _align(args.data, X, names if header else None, model, args.by_position)
        if model.classes is None and y.dtype.kind == "U":
            raise CLIError(f"{args.model} records no class labels, so the text labels of "
                           f"{args.data!r} (column {target!r}) cannot be matched to its "
                           "classes; retrain it with this neuralab")
        where = args.data
    else:
        split: dict[str, Any] = {"seed": 0, "test_size": 0.2, "val_size": 0.0}
        run = _run_config(args.model)
        if run.get("dataset") == args.data:          # the test part of the run that made it
            split.update({k: run[k] for k in ("seed", "test_size") if k in run})
        if args.seed is not None:
            split["seed"] = args.seed
        scaled = not model.preprocessing and not args.no_scale   # an old model: as trained
        ds = nl.data.load(args.data, **split, standardize=scaled)
        if ds.X_test is None:
            raise CLIError(f"{args.data!r} split with test_size 0 has no test part to "
                           "evaluate on")
        X, y = ds.X_test, ds.y_test
        where = f"{args.data} (test part, seed {split['seed']})"
        note = "the data set's own scaling is applied, as `neuralab train` did" if scaled \
            else note
    result = nl.evaluate(model, X, y)
    warning = _gaps(args, model, note)
    if warning:
        print(warning, file=sys.stderr)
    print(f"{where}: {len(y)} samples")
    for key, value in result.items():
        print(f"{'test ' + key:<15} {value:.4f}")
    return 0


def predict(args) -> int:
    import numpy as np

    model = _load_model(args)
    if args.output:
        folder = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(folder):
            raise CLIError(f"--output {args.output!r}: the folder {folder!r} does not exist; "
                           "create it first")
        if os.path.isdir(args.output):
            raise CLIError(f"--output {args.output!r} is a folder; give a file name")
    X = _read_inputs(args.input, model, args.by_position)
    pred = model.predict(X)
    if _classifier(model):
        P = model.predict_proba(X)
        classes = model.classes
        columns = [f"p{j}" for j in range(P.shape[1])] if classes is None else \
            [f"p_{label}" for label in classes.tolist()]
    else:       # a regression: the prediction is the output itself, no probabilities
        P, columns = np.zeros((len(pred), 0)), []
    # CSV for people: a text label that starts like a formula (=, +, -, @) gets a leading ',
    # CR/LF in a label are quoted; on the terminal, control characters are shown escaped
    shown = (lambda cell: cell) if args.output else printable
    lines = [csv_line(shown(c) for c in ["prediction", *columns])]
    for label, row in zip(pred.tolist(), P, strict=True):
        lines.append(csv_line([shown(label) if isinstance(label, str) else label,
                               *(f"{p:.6g}" for p in row)]))
    text = "".join(lines)
    warning = _gaps(args, model)
    if warning:
        print(warning, file=sys.stderr)
    if args.output:
        try:
            with open(args.output, "w", newline="") as f:
                f.write(text)
        except OSError as exc:
            raise CLIError(f"cannot write --output {args.output!r}: {exc.strerror}") from None
        print(f"wrote {len(pred)} predictions to {args.output}")
    else:
        sys.stdout.write(text)
    return 0
