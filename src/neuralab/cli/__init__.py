"""The ``neuralab`` command: train, evaluate, predict, list data sets, sweep, run the lab.

One module per command: :mod:`~neuralab.cli.train` (``train``), :mod:`~neuralab.cli.use`
(``evaluate``, ``predict``), :mod:`~neuralab.cli.parallel` (``train --workers``, ``sweep``),
over the options of :mod:`~neuralab.cli.options`; ``lab`` is :mod:`neuralab.lab.cli`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._sysinfo import show_config
from .._textsafe import printable
from . import parallel, train, use
from .options import CHOICES, EXAMPLES, TRAIN_OPTIONS, CLIError, _Parser

__all__ = ["CLIError", "TRAIN_OPTIONS", "build_parser", "main"]


def _datasets(args) -> int:
    import neuralab as nl

    width = max(map(len, nl.data.DATASETS))
    for name, description in nl.data.DATASETS.items():
        print(f"{name:<{width}}  {description}")
    return 0


def _train(args) -> int:
    """``neuralab train``: here, or with ``--workers N`` on N processes (mpiexec)."""
    if getattr(args, "workers", None) is not None:
        return parallel.relaunch(args)
    return train.train(args)


def _lab(argv) -> int:
    from ..lab import cli as lab_cli  # imported only for `neuralab lab`

    parser = _Parser(prog="neuralab lab", description="the lecture's experiments, each a figure")
    lab_cli.add_arguments(parser)
    return lab_cli.run(parser.parse_args(argv))


BY_POSITION = ("take the file's feature columns in their order, even when its header names "
               "other columns than the model's (default: a header must name every column the "
               "model was trained on, in any order; a file without a header is read by "
               "position)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="neuralab", description="neuralab: train, evaluate and explore neural networks "
        "written in NumPy.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="store_true",
                        help="print versions, the BLAS and whether the compiled kernels run")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    p = sub.add_parser("train", help="train an MLP and write runs/<name>/ with a report",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE.toml", help="read options from a TOML file")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its last checkpoint, with the "
                   "options of its config.json (others that would change the run are refused)")
    p.add_argument("--workers", type=int, metavar="N", default=None,
                   help="train data-parallel on N processes of this machine (starts mpiexec)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run folder OUT_DIR/NAME if it already holds a run (without "
                   "it, an existing run folder is never replaced: use another --name, or "
                   "--resume to continue it)")
    p.add_argument("--extend-epochs", type=int, metavar="N",
                   help="with --resume: train N epochs more than the run's config says; the "
                   "cosine schedule's horizon becomes the new total (printed)")
    for key, (kind, default, text) in TRAIN_OPTIONS.items():
        flags = ["--data", "--dataset"] if key == "dataset" else ["--" + key.replace("_", "-")]
        extra: dict[str, Any] = {"nargs": "+", "type": int} if kind is list else \
            {"action": argparse.BooleanOptionalAction} if kind is bool else {"type": kind}
        if key in CHOICES:
            extra["choices"] = CHOICES[key]
        shown = "" if default is None else f" (default: {default})"
        p.add_argument(*flags, dest=key, default=None, help=text + shown, **extra)
    p.set_defaults(func=_train)
    p = sub.add_parser("evaluate", help="loss and accuracy of a saved model on data")
    p.add_argument("model", help="model file (.safetensors)")
    p.add_argument("--data", required=True, help="bundled data set name or a .csv file")
    p.add_argument("--label", help="label column of the CSV (name or index; default: the "
                   "model's label column, else the last)")
    p.add_argument("--seed", type=int, default=None,
                   help="split seed of a bundled data set (default: the run's, else 0)")
    p.add_argument("--no-scale", action="store_true",
                   help="skip the model's preprocessing (its input scaling): the inputs go to "
                   "the first layer as they are")
    p.add_argument("--by-position", action="store_true", help=BY_POSITION)
    p.set_defaults(func=use.evaluate)
    p = sub.add_parser("predict", help="predicted classes and probabilities for inputs")
    p.add_argument("model", help="model file (.safetensors)")
    p.add_argument("input", help="inputs: .csv (rows of features; a header must name the "
                   "model's columns, in any order, others such as the label are ignored; without "
                   "a header the columns are taken in order) or .npy (m, n)")
    p.add_argument("--output", "-o", help="write CSV here (default: standard output): the "
                   "predicted label and one probability column p_<label> per class")
    p.add_argument("--no-scale", action="store_true",
                   help="skip the model's preprocessing (its input scaling): the inputs go to "
                   "the first layer as they are")
    p.add_argument("--by-position", action="store_true", help=BY_POSITION)
    p.set_defaults(func=use.predict)
    p = sub.add_parser("datasets", help="list the bundled data sets")
    p.set_defaults(func=_datasets)
    sub.add_parser("lab", help="run the lecture's experiments (neuralab lab --help)",
                   add_help=False)
    sub.add_parser("playground", help="train and watch networks live in the browser",
                   add_help=False)
    parallel.add_sweep_parser(sub)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:1] or ("--debug" in argv and argv[:1] != ["lab"])
    argv = [a for a in argv if a != "--debug"] if debug else argv
    try:
        if argv[:1] == ["--version"]:
            show_config()
            return 0
        if argv[:1] == ["lab"]:
            return _lab(argv[1:])
        if argv[:1] == ["playground"]:  # the web app's own parser (neuralab[playground])
            from ..playground.cli import main as playground_main

            return playground_main(argv[1:])
        args = build_parser().parse_args(argv)
        args.argv = argv[1:]            # the command's own arguments, as typed (--workers)
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
        print(f"neuralab: error: {printable(message)}", file=sys.stderr)
        return 2 if isinstance(exc, (CLIError, ValueError, TypeError)) else 1

