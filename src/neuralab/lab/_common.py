"""What every experiment shares: the ``Result`` record, the ``@experiment`` decorator, timing
and data helpers.

An experiment module defines one *measure* function ``measure(quick, seed) -> Measured``: it
runs the library, returns its numbers, a one-sentence conclusion built from them, whether they
support the slide's claim, and a ``plot()`` callable that draws the figure. The decorator turns
it into the public ``run(quick=False, out_dir=None, seed=0) -> Result``, which draws and saves
the PNG only when ``out_dir`` is given (matplotlib is imported only then).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_int


@dataclass
class Result:
    """What one experiment measured.

    Attributes
    ----------
    name, title : str
        Registry name (``"backprop"``) and a human title.
    claim : str
        The slide's claim, in our words.
    numbers : dict
        Measured values (floats, ints, or one level of nested dicts for tables).
    conclusion : str
        One sentence with the measured numbers.
    passed : bool
        Whether the measurement supports the claim.
    figure : Path or None
        The PNG, when the experiment ran with ``out_dir``.
    seconds : float
        Wall time of the run (measurement and figure).
    """

    name: str
    title: str
    claim: str
    numbers: dict
    conclusion: str
    passed: bool
    figure: Path | None = None
    seconds: float = 0.0

    def __str__(self):
        mark = "supported" if self.passed else "NOT supported"
        return f"[{self.name}] {self.conclusion} ({mark}, {self.seconds:.1f} s)"


@dataclass
class Measured:
    """What a measure function returns (see the module docstring)."""

    numbers: dict
    conclusion: str
    passed: bool
    plot: Callable[[], Any] | None = None
    extra: dict = field(default_factory=dict)


def experiment(name: str, title: str, claim: str):
    """Register-ready wrapper: ``measure(quick, seed) -> Measured`` becomes ``run(...)``."""

    def decorate(measure):
        @functools.wraps(measure)
        def run(quick: bool = False, out_dir: str | Path | None = None, seed: int = 0) -> Result:
            if not isinstance(quick, bool):
                raise TypeError(f"quick must be True or False, got {quick!r}")
            seed = check_int(seed, "seed", minimum=0)
            if out_dir is not None and not isinstance(out_dir, (str, Path)):
                raise TypeError(f"out_dir must be a path (str or Path), got {out_dir!r}")
            t0 = time.perf_counter()
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                m = measure(quick=quick, seed=seed)
            figure = None
            if out_dir is not None and m.plot is not None:
                from . import _plot

                out_dir = Path(out_dir)
                out_dir.mkdir(parents=True, exist_ok=True)
                figure = _plot.save(m.plot, out_dir / f"{name}.png")
            return Result(name=name, title=title, claim=claim, numbers=m.numbers,
                          conclusion=m.conclusion, passed=bool(m.passed), figure=figure,
                          seconds=time.perf_counter() - t0)

        run.name, run.title, run.claim = name, title, claim
        run.__doc__ = f"{title}.\n\n{claim}\n\n{measure.__doc__ or ''}"
        return run

    return decorate


def best_time(fn, repeats: int = 5, min_seconds: float = 0.0) -> float:
    """The minimum wall time of ``fn()`` over ``repeats`` calls (the robust timing statistic).

    Keeps repeating past ``repeats`` until ``min_seconds`` of total time has been spent.
    """
    best, spent, n = np.inf, 0.0, 0
    while n < repeats or spent < min_seconds:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent, n = min(best, dt), spent + dt, n + 1
    return best


def optimizer(name: str, **kwargs):
    """``nl.optim.<name>(**kwargs)``, or None when this optimizer is not in the library yet."""
    from .. import optim

    cls = getattr(optim, name, None)
    return None if cls is None else cls(**kwargs)


def fmt(x: float, digits: int = 3) -> str:
    """A number for a sentence: 3 significant digits, no trailing noise."""
    return f"{x:.{digits}g}"


def pct(x: float) -> str:
    """An accuracy in percent: 0.9733 -> '97.3 %'."""
    return f"{100 * x:.1f} %"
