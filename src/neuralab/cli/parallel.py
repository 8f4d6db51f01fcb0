"""The command line's parts that use more than one process: ``neuralab train --workers N`` and
``neuralab sweep`` (over :mod:`neuralab.distributed`).

``neuralab train --workers N ...`` starts ``mpiexec -n N python -m mpi4py -m neuralab.cli
train ...`` with the same options (one BLAS thread per rank when the ranks fill the cores);
``mpiexec -n N neuralab train ...`` does the same on any cluster's launcher. Either way rank 0
writes the run folder, the same one a single process writes.

``neuralab sweep --grid lr=0.001,0.003 --grid hidden=64,128-64`` trains every combination of
the ``neuralab train`` options given (one value: fixed for all runs) on a Dask cluster
(``--scheduler tcp://HOST:8786``, or a local cluster of ``--dask-workers`` processes), prints
the table sorted by validation accuracy and writes it to ``OUT_DIR/NAME/sweep.csv``. Each row
is the run ``neuralab train`` makes of the same options (one function builds both); a repeated
``--grid KEY`` adds values, ``--grid features=x1,x2`` is one value (repeat it for more),
``standardize`` takes true or false; name, out_dir and checkpoint_every are refused.
"""

from __future__ import annotations

import os
import sys
import time

from .._textsafe import csv_line, printable
from ..distributed import launch
from .options import TRAIN_OPTIONS, CLIError, check_name, check_run_folder, parse_text, resolve


def relaunch(args) -> int:
    """Run this ``neuralab train`` command on ``args.workers`` ranks of this machine: the
    user's own arguments, less ``--workers N``, so every flag means what it means without it."""
    from .._validation import check_int
    from ..distributed import launched

    check_int(args.workers, "--workers", minimum=1)
    if launched():
        raise CLIError("--workers starts its own MPI job, and this command already runs in one "
                       "(mpiexec/srun): drop --workers, the launcher's -n sets the processes")
    config = resolve(args)               # refused here, once, before any process starts
    check_run_folder(os.path.join(config["out_dir"], config["name"]), args)
    if getattr(args, "argv", None) is None:
        raise CLIError("--workers forwards the command's own arguments (args.argv, which "
                       "neuralab.cli.main sets); call it through main")
    argv = _without_workers(args.argv)
    if args.name is None and not args.resume:    # one name for every rank
        argv += ["--name", config["name"]]
    sys.stdout.flush()
    return launch.run(args.workers, ["train", *argv], module="neuralab.cli")


def _without_workers(argv) -> list[str]:
    """``train``'s arguments as the user typed them, less ``--workers N`` (or ``--workers=N``,
    or an abbreviation argparse accepts, such as ``--work N``)."""
    out, skip = [], False
    for i, token in enumerate(argv):
        if skip:
            skip = False
            continue
        flag, eq, _ = token.partition("=")
        if len(flag) > 2 and "--workers".startswith(flag) and token.startswith("--"):
            skip = not eq and i + 1 < len(argv)
            continue
        out.append(token)
    return out


def add_sweep_parser(sub) -> None:
    """``neuralab sweep``'s arguments, on the ``neuralab`` command's subparsers."""
    p = sub.add_parser("sweep", help="train a grid of configurations on a Dask cluster",
                       description=__doc__.split("\n\n")[2])
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="values of a `neuralab train` option (hidden: 128-64 for two layers); "
                        "repeat for more options")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster)")
    p.add_argument("--dask-workers", type=int, default=2, metavar="N",
                   help="processes of the local cluster (default: 2)")
    p.add_argument("--local", action="store_true",
                   help="run the configurations here, one after the other (no Dask)")
    p.add_argument("--name", default=None, help="sweep name (default: a timestamp)")
    p.add_argument("--out-dir", default="runs", help="folder of the run folders")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the table of an earlier sweep of the same --name")
    p.set_defaults(func=sweep)


#: ``neuralab train`` options a sweep cannot apply, and why (refused by name).
NOT_IN_SWEEP = {
    "name": "a sweep writes one table, not run folders: name it with sweep's own --name",
    "out_dir": "a sweep writes one table, not run folders: place it with sweep's own --out-dir",
    "checkpoint_every": "a sweep writes no checkpoints",
}


def _parse_grid(items) -> dict:
    """``--grid KEY=V1,V2,...`` items -> {option: [values]}; a repeated key adds its values.

    ``features`` takes a comma-separated list as ``--features`` does, so one item is one value
    (repeat ``--grid features=...`` for more); ``hidden`` writes 128-64 for two layers;
    ``standardize`` takes true or false.
    """
    options: dict[str, list] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        key = "dataset" if key == "data" else key
        if key in NOT_IN_SWEEP:
            raise CLIError(f"--grid {item!r}: {key} cannot be swept ({NOT_IN_SWEEP[key]})")
        if not sep or key not in TRAIN_OPTIONS:
            known = ", ".join(k for k in TRAIN_OPTIONS if k not in NOT_IN_SWEEP)
            raise CLIError(f"--grid {item!r}: expected KEY=V1,V2,... with KEY one of {known}")
        texts = [values] if key == "features" else values.split(",")
        parsed = options.setdefault(key, [])
        for text in texts:
            value = parse_text(key, text, f"--grid {item!r}")
            if value not in parsed:
                parsed.append(value)
    return options


def sweep(args) -> int:
    """``neuralab sweep``: the grid's runs on Dask, a table, ``sweep.csv``."""
    from ..distributed.sweep import grid, run
    from .options import _check_ranges
    from .train import build_run, sweep_row

    chosen = _parse_grid(args.grid)
    name = check_name(args.name or time.strftime("sweep-%Y%m%d-%H%M%S"), "--name")
    folder = os.path.join(args.out_dir, name)
    check_run_folder(folder, args, files=("sweep.csv",))
    configs = []
    for values in grid(chosen):
        config = {k: v[1] for k, v in TRAIN_OPTIONS.items()}
        config.update(values)
        config["name"] = name
        where = ", ".join(f"{k}={_cell(v)}" for k, v in values.items())
        try:
            _check_ranges(config)
            build_run(config)        # every run is refused here, before any starts
        except (CLIError, ValueError, TypeError, OSError) as exc:
            raise CLIError(f"--grid run {where or '(defaults)'}: "
                           f"{str(exc).splitlines()[0]}") from None
        configs.append(config)
    where = "here" if args.local else args.scheduler or f"a local Dask cluster of " \
        f"{args.dask_workers} processes"
    print(f"neuralab sweep: {len(configs)} run{'s' if len(configs) != 1 else ''} on {where}",
          flush=True)
    results = run(configs, scheduler=args.scheduler, n_workers=args.dask_workers,
                  local=args.local, task=sweep_row)
    varied = [k for k, v in chosen.items() if len(v) > 1] or list(chosen)
    rows = sorted(({**{k: c[k] for k in varied}, **r} for c, r in zip(configs, results,
                                                                      strict=True)),
                  key=lambda r: -r["val_accuracy"] if r["val_accuracy"] == r["val_accuracy"]
                  else -r["test_accuracy"] if r["test_accuracy"] == r["test_accuracy"]
                  else 0.0)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "sweep.csv")
    header = list(rows[0])
    with open(path, "w", newline="") as f:         # text cells cannot become formulas
        f.write(csv_line(header) + "".join(csv_line(r[k] for k in header) for r in rows))
    cells = [[printable(_cell(r[k])) for k in header] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)))
    print(f"\nwrote {path}")
    return 0


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "-".join(map(str, value))
    return str(value)
