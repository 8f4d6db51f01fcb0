"""Training cases that tests/test_distributed.py runs under ``mpiexec`` and, as the reference,
in one process. Under MPI: ``python -m mpi4py tests/_mpi_cases.py MODE OUT_DIR [ARGS]``.

Modes: ``cases`` (every case of :data:`CASES`, each rank saving θ, its θ hash after each epoch
and the history), ``mismatch`` (ranks given different data, model or options), ``write`` /
``resume`` (a checkpoint written with one number of ranks, resumed with another), ``raise`` /
``kill`` (a rank fails in the middle of training).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys

import numpy as np

import neuralab as nl


def data(m=203, n=10, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    y = (X[:, :k].argmax(axis=1) + (rng.random(m) < 0.2)) % k
    return X, y


def binary(m=150, n=4, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    y = (X @ np.arange(1.0, n + 1) + rng.normal(size=m) > 0).astype(float)
    return X, y


class EpochHashes(nl.Callback):
    """The SHA-1 of θ's bytes after each epoch."""

    keeps_params = True

    def __init__(self):
        self.hashes = []

    def on_epoch_end(self, epoch, logs=None):
        self.hashes.append(hashlib.sha1(self.model.params.tobytes()).hexdigest())


def _mlp(dtype="float64", seed=1):
    return nl.MLP([10, 16, 8, 3], seed=seed, dtype=dtype)


def _opt(name):
    return {"newton_cg": lambda: nl.optim.NewtonCG(max_cg_iter=5)}.get(
        name, lambda: nl.optim.get(name, lr=0.05 if name in ("sgd", "momentum", "nesterov")
                                   else 0.01))()


def _first_order(name, dtype="float64", epochs=3):
    def case(comm, **kw):
        X, y = data()
        return _mlp(dtype), X, y, dict(optimizer=_opt(name), epochs=epochs, batch_size=50)
    return case


def _newton_logistic(comm, **kw):
    X, y = binary()
    return nl.LogisticRegression(4, dtype="float64"), X, y, dict(
        optimizer=nl.optim.Newton(), epochs=3, batch_size=64)


def _newton_cg(comm, **kw):
    X, y = data(m=120)
    return _mlp(), X, y, dict(optimizer=_opt("newton_cg"), epochs=2, batch_size=40)


def _tiny_batches(comm, **kw):
    # batches of 3 rows and a last one of 1: with 4 ranks, some ranks get no row at all
    X, y = data(m=13)
    return _mlp(), X, y, dict(optimizer=_opt("adam"), epochs=3, batch_size=3)


def _everything(comm, **kw):
    # validation, metrics, a per-step schedule, a regularizer, callbacks that change training
    X, y = data()
    return _mlp(), X, y, dict(
        optimizer=_opt("momentum"), epochs=4, batch_size=32, validation_split=0.25,
        metrics=["mse", "mae"], schedule=nl.schedules.CosineAnnealing(0.05, 40, 0.001),
        schedule_per="step", regularizer="l2",
        callbacks=[nl.ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5),
                   nl.EarlyStopping(monitor="val_loss", patience=2)])


def _memmap(comm, path=None, **kw):
    X = nl.data.load_npy(path)
    _, y = data()
    return _mlp(), X, y, dict(optimizer=_opt("rmsprop"), epochs=3, batch_size=50,
                              validation_data=(X[:40], y[:40]))


#: name -> (builder, dtype of the comparison)
CASES = {**{f"{name}_f64": (_first_order(name), "float64")
            for name in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")},
         "adam_f32": (_first_order("adam", "float32", epochs=1), "float32"),
         "newton_logistic": (_newton_logistic, "float64"),
         "newton_cg": (_newton_cg, "float64"),
         "tiny_batches": (_tiny_batches, "float64"),
         "everything": (_everything, "float64"),
         "memmap": (_memmap, "float64")}


def run_case(name, comm=None, **kw):
    """Train case ``name`` (``comm=None``: one process); θ, epoch hashes and history."""
    model, X, y, options = CASES[name][0](comm, **kw)
    hashes = EpochHashes()
    options["callbacks"] = options.get("callbacks", []) + [hashes]
    history = nl.fit(model, X, y, seed=3, comm=comm, **options)
    return {"params": model.params.copy(), "hashes": hashes.hashes,
            "history": {k: [float(v) for v in vals] for k, vals in history.history.items()}}


def _save(out, tag, rank, result):
    np.save(os.path.join(out, f"{tag}.{rank}.npy"), result.pop("params"))
    with open(os.path.join(out, f"{tag}.{rank}.json"), "w") as f:
        json.dump(result, f)


# ----------------------------------------------------------------------------- MPI modes

def _cases(comm, out, names, path=None):
    for name in names or CASES:
        _save(out, name, comm.rank, run_case(name, comm, path=path))


def _mismatch(comm, out):
    """Each rank records the error it raised when one rank was handed something else."""
    X, y = data()
    odd = comm.rank == comm.size - 1
    variants = {
        "data": lambda: (_mlp(), X + (1e-9 if odd else 0.0), y, {}),
        "seed": lambda: (_mlp(seed=2 if odd else 1), X, y, {}),
        "dtype": lambda: (_mlp("float32" if odd else "float64"), X, y, {}),
        "batch_size": lambda: (_mlp(), X, y, {"batch_size": 16 if odd else 32}),
        "bad_argument": lambda: (_mlp(), X, y, {"epochs": -1 if odd else 1}),
    }
    errors = {}
    for key, make in variants.items():
        model, Xr, yr, options = make()
        try:
            nl.fit(model, Xr, yr, **{"epochs": 1, **options}, comm=comm)
            errors[key] = None
        except (ValueError, TypeError, RuntimeError) as exc:
            errors[key] = f"{type(exc).__name__}: {exc}"
    with open(os.path.join(out, f"mismatch.{comm.rank}.json"), "w") as f:
        json.dump(errors, f)


def _checkpointed(comm, ckpt, epochs, resume, callbacks=()):
    X, y = data()
    model = _mlp()
    hashes = EpochHashes()
    history = nl.fit(model, X, y, optimizer=_opt("adam"), epochs=epochs, batch_size=50, seed=3,
                     checkpoint=ckpt, checkpoint_every=3, comm=comm,
                     resume_from=ckpt if resume else None, callbacks=[hashes, *callbacks])
    return {"params": model.params.copy(), "hashes": hashes.hashes,
            "history": {k: [float(v) for v in vals] for k, vals in history.history.items()}}


class _Fail(nl.Callback):
    """Fails on rank ``rank`` at step ``step``: raises, or kills its own process."""

    def __init__(self, comm, rank, step, how):
        self.comm, self.rank, self.step, self.how = comm, rank, step, how

    def on_batch_end(self, step, logs=None):
        if self.comm.rank == self.rank and step == self.step:
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"rank {self.rank} fails on purpose at step {step}")


def main(argv):
    mode, out, *rest = argv
    comm = nl.distributed.world()
    if mode == "cases":
        path = next((r for r in rest if r.endswith(".npy")), None)
        _cases(comm, out, [r for r in rest if not r.endswith(".npy")], path)
    elif mode == "mismatch":
        _mismatch(comm, out)
    elif mode in ("write", "resume"):
        ckpt = os.path.join(out, "resume.safetensors")
        result = _checkpointed(comm, ckpt, 2 if mode == "write" else 4, mode == "resume")
        _save(out, mode, comm.rank, result)
    elif mode in ("raise", "kill"):
        ckpt = os.path.join(out, "fault.safetensors")
        rank = 1 if mode == "raise" else 0
        _checkpointed(comm, ckpt, 4, False, callbacks=[_Fail(comm, rank, 7, mode)])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
