"""fit's options live in one dataclass, nl.train.FitOptions, used by fit and TrainingRun."""

import dataclasses
import inspect

import numpy as np
import pytest

import neuralab as nl

X = np.random.default_rng(0).normal(size=(64, 3))
Y = (X[:, 0] > 0).astype(int)


def test_fit_options_are_fits_keywords_in_order():
    fields = [f.name for f in dataclasses.fields(nl.train.FitOptions)]
    params = list(inspect.signature(nl.fit).parameters)
    assert params[:3] == ["model", "X", "y"] and params[-1] == "comm"
    assert fields == params[3:-1]
    defaults = {f.name: f.default for f in dataclasses.fields(nl.train.FitOptions)}
    assert defaults == {name: p.default for name, p in
                        inspect.signature(nl.fit).parameters.items() if name in defaults}


def test_a_run_from_options_is_the_run_of_fit():
    a, b = nl.MLP([3, 5, 2], seed=1), nl.MLP([3, 5, 2], seed=1)
    options = nl.train.FitOptions(optimizer=nl.optim.Adam(lr=0.01), epochs=3, batch_size=16)
    history = nl.fit(a, X, Y, optimizer=nl.optim.Adam(lr=0.01), epochs=3, batch_size=16)
    run = nl.train.TrainingRun(b, X, Y, options=options)
    for _ in nl.train.training_loop(run):
        pass
    assert np.array_equal(a.params, b.params)
    assert history.history["loss"] == run.history.history["loss"]
    run = nl.train.TrainingRun(nl.MLP([3, 5, 2]), X, Y, options=options, epochs=1)
    assert run.epochs == 1 and options.epochs == 3          # keywords override, no mutation
    with pytest.raises(TypeError, match="not both"):
        nl.train.TrainingRun(nl.MLP([3, 5, 2]), X, Y, None, options=options)
