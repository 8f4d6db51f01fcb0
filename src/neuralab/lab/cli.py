"""``neuralab lab list`` and ``neuralab lab run NAME|all --out DIR [--quick] [--seed N]``."""

from __future__ import annotations

import argparse
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``list`` and ``run`` sub-subcommands to ``parser`` (the ``lab`` subcommand)."""
    sub = parser.add_subparsers(dest="lab_command", required=True, metavar="{list,run}")
    sub.add_parser("list", help="name each experiment with one line")
    p = sub.add_parser("run", help="run an experiment (or all) and write its figure")
    p.add_argument("name", help="experiment name (see `list`) or 'all'")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for the PNG figures (and index.html with 'all')")
    p.add_argument("--quick", action="store_true", help="small, fast version (for tests)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args) -> int:
    """Execute parsed arguments; returns the exit code (1 if a claim was not supported)."""
    from . import EXPERIMENTS, list_experiments, run_all

    if args.lab_command == "list":
        width = max(len(name) for name in EXPERIMENTS)
        for name, title in list_experiments():
            print(f"{name:<{width}}  {title}")
        return 0
    names = None if args.name == "all" else [args.name]
    if names is not None and args.name not in EXPERIMENTS:
        print(f"neuralab: error: unknown experiment {args.name!r}; choose 'all' or one of: "
              f"{', '.join(EXPERIMENTS)}", file=sys.stderr)
        return 2
    if args.seed < 0:
        print(f"neuralab: error: --seed must be >= 0, got {args.seed}", file=sys.stderr)
        return 2

    def show(result):
        print(result, flush=True)
        if result.figure is not None:
            print(f"    figure: {result.figure}", flush=True)

    t0 = time.perf_counter()
    results = run_all(quick=args.quick, out_dir=args.out, seed=args.seed, names=names,
                      progress=show)
    n_ok = sum(r.passed for r in results)
    print(f"{n_ok}/{len(results)} claims supported in {time.perf_counter() - t0:.1f} s")
    if args.out is not None:
        print(f"page: {args.out.rstrip('/')}/index.html")
    return 0 if n_ok == len(results) else 1


def main(argv=None) -> int:
    """``python -m neuralab.lab ...``."""
    parser = argparse.ArgumentParser(prog="neuralab lab", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
