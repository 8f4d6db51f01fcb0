"""Sweeps of many independent fits on a Dask cluster, through joblib.

Anything that runs its fits through joblib — scikit-learn's ``GridSearchCV`` over
:class:`~neuralab.sklearn.NeuralNetClassifier`, or :func:`run` below — sends them to Dask's
workers inside :func:`dask_backend`::

    from sklearn.model_selection import GridSearchCV
    from neuralab.distributed.sweep import dask_backend
    from neuralab.sklearn import NeuralNetClassifier

    if __name__ == "__main__":            # Dask starts worker processes: scripts need the guard
        with dask_backend():              # a local cluster; dask_backend("tcp://host:8786")
            search = GridSearchCV(NeuralNetClassifier(epochs=20),   # for a real cluster
                                  {"lr": [1e-3, 3e-3], "hidden_layer_sizes": [(64,), (128,)]},
                                  n_jobs=-1).fit(X, y)

A real cluster is a scheduler (``dask scheduler``, or a Kubernetes / HPC deployment by
``dask-kubernetes`` or ``dask-jobqueue``) and workers started with
``dask worker tcp://SCHEDULER:8786``, each with neuralab installed; pass the scheduler's
address. Without one, a ``LocalCluster`` of ``n_workers`` processes (one thread each) runs on
this machine.
"""

from __future__ import annotations

import contextlib
import itertools
import time

__all__ = ["dask_backend", "grid", "run", "train_config"]


@contextlib.contextmanager
def dask_backend(scheduler: str | None = None, n_workers: int = 2):
    """A context in which joblib (``n_jobs=-1``) runs its tasks on a Dask cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``. Default: start a
        ``LocalCluster`` of ``n_workers`` processes with one thread each, closed on exit.
    n_workers : int ≥ 1, default 2

    Yields
    ------
    dask.distributed.Client
    """
    from .._validation import check_int

    n_workers = check_int(n_workers, "n_workers", minimum=1)
    try:
        import joblib
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise RuntimeError("sweeps on Dask need dask[distributed] and joblib: "
                           "pip install 'neuralab[dask]'") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(cluster if scheduler is None else scheduler)
    try:
        with joblib.parallel_config(backend="dask"):
            yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def grid(options: dict) -> list[dict]:
    """Every combination of ``options`` (name -> list of values), in order."""
    names = list(options)
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(options[n] for n in names))]


#: Options of a ``neuralab train`` config that :func:`train_config` does not apply, with the
#: value that means "off": any other value is refused by name. ``neuralab sweep`` applies them
#: all (``neuralab.cli.train.sweep_row``, the function ``neuralab train`` builds its run with).
NOT_APPLIED = {"label": None, "features": None, "standardize": True, "regularizer": "none",
               "patience": 0, "on_divergence": "stop"}


def train_config(config: dict) -> dict:
    """Train the MLP of one ``neuralab train`` configuration on a bundled data set; its
    final training loss, validation and test accuracy and seconds (what a sweep compares).

    The options of :data:`NOT_APPLIED` are refused with another value than "off"
    (``ValueError`` naming them): for those, run ``neuralab.cli.train.sweep_row``."""
    from .. import data, optim
    from ..nn.model import MLP
    from ..optim import schedules
    from ..training.train import evaluate, fit

    ignored = [k for k, off in NOT_APPLIED.items() if config.get(k, off) != off]
    if ignored:
        raise ValueError(f"train_config does not apply {', '.join(ignored)}; use "
                         "neuralab.cli.train.sweep_row (what `neuralab sweep` runs), which "
                         "applies every `neuralab train` option")

    ds = data.load(config["dataset"], test_size=config["test_size"],
                   val_size=config["val_size"], seed=config["seed"])
    model = MLP([ds.n_features, *config["hidden"], ds.n_classes],
                activation=config["activation"], seed=config["seed"], dtype=config["dtype"])
    schedule = schedules.CosineAnnealing(config["lr"], max(config["epochs"], 1),
                                         config["lr_min"]) \
        if config["schedule"] == "cosine" else None
    t0 = time.perf_counter()
    history = fit(model, ds.X_train, ds.y_train,
                  optimizer=optim.get(config["optimizer"], lr=config["lr"]),
                  schedule=schedule, epochs=config["epochs"],
                  batch_size=config["batch_size"], seed=config["seed"],
                  validation_data=None if ds.X_val is None else (ds.X_val, ds.y_val),
                  on_divergence="stop")
    seconds = time.perf_counter() - t0
    test = evaluate(model, ds.X_test, ds.y_test)
    last = {k: v[-1] for k, v in history.history.items()} if history.epoch else {}
    return {"loss": last.get("loss", float("nan")),
            "val_accuracy": last.get("val_accuracy", float("nan")),
            "test_accuracy": test["accuracy"], "seconds": seconds,
            "diverged": history.divergence is not None}


def run(configs, scheduler: str | None = None, n_workers: int = 2, local: bool = False,
        task=None):
    """``task(config)`` of every config (default :func:`train_config`), on a Dask cluster
    (``scheduler``, or a local one of ``n_workers`` processes); ``local=True`` runs them here,
    one after the other. ``neuralab sweep`` passes ``neuralab.cli.train.sweep_row``: each row
    is then exactly the ``neuralab train`` run of its options. A task must be importable by
    the workers (a module-level function)."""
    import joblib

    task = train_config if task is None else task
    tasks = [joblib.delayed(task)(c) for c in configs]
    if local:
        return joblib.Parallel(n_jobs=1)(tasks)
    with dask_backend(scheduler, n_workers):
        return joblib.Parallel(n_jobs=-1)(tasks)
