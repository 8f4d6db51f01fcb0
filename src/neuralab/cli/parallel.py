"""The command line's parts that use more than one process: ``neuralab train --workers N`` and
``neuralab sweep`` (over :mod:`neuralab.distributed`).

``neuralab train --workers N ...`` starts ``mpiexec -n N python -m mpi4py -m neuralab.cli
train ...`` with the same options (one BLAS thread per rank when the ranks fill the cores);
``mpiexec -n N neuralab train ...`` does the same on any cluster's launcher. Either way rank 0
writes the run folder, the same one a single process writes.

``neuralab sweep --grid lr=0.001,0.003 --grid hidden=64,128-64`` trains every combination of
the ``neuralab train`` options given (one value: fixed for all runs) on a Dask cluster
(``--scheduler tcp://HOST:8786``, or a local cluster of ``--dask-workers`` processes), prints
the table sorted by validation accuracy and writes it to ``OUT_DIR/NAME/sweep.csv``.
"""

from __future__ import annotations

import csv
import os
import sys
import time

from ..distributed import launch
from .options import TRAIN_OPTIONS, CLIError, _check_ranges, _check_value


def relaunch(args) -> int:
    """Run this ``neuralab train`` command on ``args.workers`` ranks of this machine."""
    if args.name is None and not args.resume:    # one name for every rank
        args.name = time.strftime("%Y%m%d-%H%M%S")
    argv = ["train"]
    if args.config:
        argv += ["--config", args.config]
    if args.resume:
        argv += ["--resume", args.resume]
    if args.extend_epochs is not None:
        argv += ["--extend-epochs", str(args.extend_epochs)]
    for key in TRAIN_OPTIONS:
        value = getattr(args, key, None)
        if value is not None:
            flag = "--data" if key == "dataset" else "--" + key.replace("_", "-")
            argv += [flag, *map(str, value)] if isinstance(value, list) else [flag, str(value)]
    sys.stdout.flush()
    return launch.run(args.workers, argv, module="neuralab.cli")


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
    p.set_defaults(func=sweep)


def _parse_grid(items) -> dict:
    options = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        key = "dataset" if key == "data" else key
        if not sep or key not in TRAIN_OPTIONS or key in ("name", "out_dir"):
            known = ", ".join(k for k in TRAIN_OPTIONS if k not in ("name", "out_dir"))
            raise CLIError(f"--grid {item!r}: expected KEY=V1,V2,... with KEY one of {known}")
        kind = TRAIN_OPTIONS[key][0]
        parsed = []
        for text in values.split(","):
            try:
                value = [int(v) for v in text.split("-")] if kind is list else \
                    text if kind is str else kind(text) if kind is int else float(text)
            except ValueError:
                raise CLIError(f"--grid {item!r}: cannot read {text!r} as {key}") from None
            parsed.append(_check_value(key, value, f"--grid {key}"))
        options[key] = parsed
    return options


def sweep(args) -> int:
    """``neuralab sweep``: the grid's runs on Dask, a table, ``sweep.csv``."""
    from ..distributed.sweep import grid, run

    chosen = _parse_grid(args.grid)
    configs = []
    for values in grid(chosen):
        config = {k: v[1] for k, v in TRAIN_OPTIONS.items()}
        config.update(values)
        _check_ranges(config)
        configs.append(config)
    import neuralab as nl

    for name in {c["dataset"] for c in configs}:
        if name not in nl.data.DATASETS or nl.data.load(name).task != "classification":
            raise CLIError(f"--grid dataset={name}: sweeps train classifiers on the bundled "
                           "classification data sets (see `neuralab datasets`)")
    where = "here" if args.local else args.scheduler or f"a local Dask cluster of " \
        f"{args.dask_workers} processes"
    print(f"neuralab sweep: {len(configs)} runs on {where}", flush=True)
    results = run(configs, scheduler=args.scheduler, n_workers=args.dask_workers,
                  local=args.local)
    varied = [k for k, v in chosen.items() if len(v) > 1] or list(chosen)
    rows = sorted(({**{k: c[k] for k in varied}, **r} for c, r in zip(configs, results,
                                                                      strict=True)),
                  key=lambda r: -r["val_accuracy"] if r["val_accuracy"] == r["val_accuracy"]
                  else -r["test_accuracy"])
    name = args.name or time.strftime("sweep-%Y%m%d-%H%M%S")
    folder = os.path.join(args.out_dir, name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "sweep.csv")
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    header = list(rows[0])
    cells = [[_cell(r[k]) for k in header] for r in rows]
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
