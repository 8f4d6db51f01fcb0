"""The lab: every claim of the lecture as a runnable, measured experiment with a figure.

>>> import neuralab.lab as lab
>>> [name for name, _ in lab.list_experiments()][:3]
['ml-limits', 'vectorization', 'sigmoid']

Each experiment is a function ``run(quick=False, out_dir=None, seed=0) -> Result``; its
``Result`` carries the slide's claim, the measured numbers, a one-sentence conclusion built from
them, whether they support the claim and, with ``out_dir``, the PNG figure. From the shell:
``neuralab lab list`` and ``neuralab lab run NAME|all --out DIR`` (or ``python -m neuralab.lab``).
"""

from __future__ import annotations

from pathlib import Path

from . import (
    activations,
    backprop,
    initialization,
    layer_collapse,
    learning_rate,
    minibatch,
    ml_limits,
    neurons,
    newton_cost,
    optimizer_race,
    optimizers_2d,
    schedules,
    sigmoid,
    vectorization,
)
from ._common import Result

# the lecture's order
_MODULES = (ml_limits, vectorization, sigmoid, neurons, layer_collapse, activations, backprop,
            initialization, optimizers_2d, minibatch, newton_cost, learning_rate, schedules,
            optimizer_race)

#: name -> experiment function, in the lecture's order
EXPERIMENTS = {module.run.name: module.run for module in _MODULES}


def list_experiments() -> list[tuple[str, str]]:
    """``(name, title)`` of every experiment, in the lecture's order."""
    return [(name, fn.title) for name, fn in EXPERIMENTS.items()]


def get(name: str):
    """The experiment function called ``name`` (a clear error lists the known names)."""
    if not isinstance(name, str):
        raise TypeError(f"experiment name must be a string, got {name!r}")
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}"
                         " (see `neuralab lab list`)")
    return EXPERIMENTS[name]


def run(name: str, quick: bool = False, out_dir: str | Path | None = None,
        seed: int = 0) -> Result:
    """Run the experiment ``name``; see :class:`Result` for what comes back."""
    return get(name)(quick=quick, out_dir=out_dir, seed=seed)


def run_all(quick: bool = False, out_dir: str | Path | None = None, seed: int = 0,
            names=None, progress=None) -> list[Result]:
    """Run every experiment (or ``names``) in order; with ``out_dir`` also write index.html.

    ``progress`` is called with each ``Result`` as it finishes (the CLI prints it).
    """
    fns = [get(n) for n in names] if names is not None else list(EXPERIMENTS.values())
    results = []
    for fn in fns:
        result = fn(quick=quick, out_dir=out_dir, seed=seed)
        results.append(result)
        if progress is not None:
            progress(result)
    if out_dir is not None:
        from .report import write_index

        write_index(results, Path(out_dir) / "index.html")
    return results


__all__ = ["EXPERIMENTS", "Result", "get", "list_experiments", "run", "run_all"]
