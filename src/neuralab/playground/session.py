"""The training session: one page's data, network(s) and training, as a plain Python object.

The server only moves messages; everything the page can do is a method here, so the tests
drive it without a server::

    s = Session({"dataset": "xor", "hidden": [4, 4]})
    s.update({"lr": 0.1}); s.play(); s.advance(); frame = s.frame()

Training is the library's: ``nl.Sequential`` of ``nl.Dense`` layers, ``loss_and_grad``,
``nl.optim`` and ``nl.schedules``, batches drawn exactly as ``nl.fit`` draws them, in float64,
so a run with constant settings ends with the θ of ``nl.fit`` bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

import neuralab as nl

from . import _config, frames, protocol
from .protocol import LIMITS, ProtocolError

#: Fields whose change makes new data (and so a new network).
DATA_FIELDS = frozenset({"problem", "dataset", "classes", "points", "noise", "trainShare",
                         "seed"})
#: Fields whose change makes a new network (back to step 0, the same initial weights).
NET_FIELDS = frozenset({"features", "hidden", "activation", "alpha", "init", "initScale",
                        "race"})


def _inputs(X, features):   # ROUND 2: core API — nl.preprocessing.FeatureMap(features)
    """The network's inputs for raw 2-D points ``X`` (m, 2): the switched-on features."""
    x1, x2 = X[:, 0], X[:, 1]
    make = {"x1": lambda: x1, "x2": lambda: x2, "x1^2": lambda: x1 * x1,
            "x2^2": lambda: x2 * x2, "x1*x2": lambda: x1 * x2, "sin(x1)": lambda: np.sin(x1),
            "sin(x2)": lambda: np.sin(x2)}
    return np.column_stack([make[name]() for name in features])


def _regularize(model, kind, rate):   # ROUND 2: core API — nl.fit(..., regularizer=...)
    """Add the penalty's gradient to every Dense layer's dW (not b), after backprop:
    L1 adds λ·sign(W), L2 adds λ·W (the penalty λ‖W‖²/2); λ is ``rate``."""
    if kind == "none" or rate == 0.0:
        return
    for layer in model.layers:
        if isinstance(layer, nl.Dense):
            layer.dW += rate * (np.sign(layer.W) if kind == "L1" else layer.W)


class _Run:
    """One training run: model, optimizer, schedule, and where it is in its epochs."""

    def __init__(self, model, optimizer, schedule, seed, name):
        self.model, self.optimizer, self.schedule, self.name = model, optimizer, schedule, name
        self.rng = np.random.default_rng(seed)
        self.step = self.epoch = self.batch = 0
        self.order = None
        self.lr = None                     # None: the optimizer's own lr (no schedule)
        starts = np.cumsum([0] + [layer.n_params for layer in model.layers])
        self.slices = [slice(a, b) for layer, a, b in zip(model.layers, starts[:-1], starts[1:],
                                                         strict=True) if layer.n_params]
        self.grad_sq = np.zeros(len(self.slices))
        self.steps_done = 0                # steps since the last frame
        self.metrics = (math.nan,) * 4     # train loss, test loss, train acc, test acc
        self.diverged = False


class Session:
    """A page's playground: state (see :mod:`~neuralab.playground.protocol`), data, runs."""

    def __init__(self, state: dict | None = None, limits: dict = LIMITS):
        self.limits = limits
        self.state = protocol.check_changes(state or {}, protocol.default_state())
        self.playing = False
        self.focus = None
        self.notices: list[str] = []
        self.seq = 0
        self.changes = 0        # change messages handled (the page skips older frames)
        self.built = 0          # counts new networks (the page redraws its diagram then)
        self._upload = None
        self._make_data()
        self._make_runs()

    # ------------------------------------------------------------------ building
    def _make_data(self):
        s = self.state
        if s["dataset"] == "upload" and self._upload is not None:
            X, y, task = self._upload
            lo, hi = X.min(), X.max()
            pad = 0.05 * (hi - lo)
            self.domain = (float(lo - pad), float(hi + pad))
        else:
            if s["dataset"] == "upload":       # a link with an upload but no data: generate
                s["dataset"] = protocol.DATASETS[s["problem"]][0]
                self.notices.append("this link used uploaded data, which links cannot carry; "
                                    "upload the CSV again")
            X, y = nl.data.planar(s["dataset"], n_samples=s["points"], noise=s["noise"],
                                  seed=s["seed"], n_classes=s["classes"])
            task, self.domain = protocol.task(s), (-6.0, 6.0)
        self.task = task
        try:
            self.X, self.y, _, _, self.X_test, self.y_test = nl.data.train_val_test_split(
                X, y, test_size=(100 - s["trainShare"]) / 100, stratify=task != "regression",
                seed=s["seed"])
        except ValueError as exc:
            raise ProtocolError(f"cannot split the data: {exc}", "trainShare") from None
        self.n_out = int(y.max()) + 1 if task == "multiclass" else 1
        self.grid = frames.grid_points(*self.domain)

    def _make_runs(self):
        s = self.state
        self.loss = _config.loss(self.task)
        self.X_in, self.X_test_in = _inputs(self.X, s["features"]), _inputs(self.X_test,
                                                                            s["features"])
        n_in = self.X_in.shape[1]
        self.Y = self.loss.prepare_targets(np.asarray(self.y), self.n_out, len(self.y),
                                           np.float64)
        configs = [(s["optimizer"], s["lr"])] + [(r["optimizer"], r["lr"]) for r in s["race"]]
        limit = self.limits["newton_max_params"]
        n = _config.n_params(s, n_in, self.n_out)
        if any(name == "newton" for name, _ in configs) and n > limit:
            raise ProtocolError(f"Newton's method is limited to networks of {limit} parameters "
                                f"here (its Hessian takes d = {n} backward passes a step); "
                                "remove neurons or pick another optimizer", "optimizer")
        self.runs = []
        for k, (name, lr) in enumerate(configs):
            model = nl.Sequential(_config.layers(s, n_in, self.n_out, self.task), seed=s["seed"],
                                  dtype="float64")
            self.runs.append(_Run(model, _config.optimizer(s, name, lr, limit),
                                  _config.schedule(s, lr), s["seed"],
                                  f"{name} {lr:g}" if k else f"{name} {lr:g} (main)"))
        self.model = self.runs[0].model
        G = _inputs(self.grid, s["features"])
        self.renderer = frames.Renderer(self.model, G.T, self.task)
        self.edited = False
        self.changed_at: list[tuple[int, list[str]]] = []
        self.built += 1
        if s["init"] == "zeros" and s["hidden"]:
            self.notices.append("Zero initialization: every neuron of a layer starts "
                                "identical and gets the same update, so they stay identical "
                                "(the symmetry problem) — their pictures are the same.")
        for run in self.runs:
            self._measure(run)

    # ------------------------------------------------------------------ controls
    def update(self, changes: dict) -> None:
        """Apply checked state ``changes``: new data, a new network, or live settings."""
        new = protocol.check_changes(changes, self.state)
        if new["dataset"] == "upload" and "problem" in changes and "dataset" not in changes \
                and new["problem"] != self.state["problem"]:
            new["dataset"] = protocol.DATASETS[new["problem"]][0]    # leave the upload
        keys = {k for k in changes if new[k] != self.state[k]}
        if not keys:
            return
        saved = dict(self.__dict__)         # a refused change leaves everything as it was
        self.state = new
        try:
            if keys & DATA_FIELDS:
                self._make_data()
            if keys & (DATA_FIELDS | NET_FIELDS):
                self._make_runs()
            elif keys - protocol.VIEW_FIELDS:
                self._retune(keys)
        except ProtocolError:
            self.__dict__.update(saved)
            raise

    def _retune(self, keys):
        """Settings that change while training goes on: optimizer, rate, schedule, batch."""
        s = self.state
        limit = self.limits["newton_max_params"]
        if s["optimizer"] == "newton" and self.model.n_params > limit:
            raise ProtocolError(f"Newton's method is limited to networks of {limit} parameters "
                                f"here; this one has {self.model.n_params}", "optimizer")
        run = self.runs[0]
        if keys & {"optimizer", "beta", "rho", "beta1", "beta2", "eps", "weightDecay",
                   "damping"}:
            run.optimizer = _config.optimizer(s, s["optimizer"], s["lr"], limit)
            run.name = f"{s['optimizer']} {s['lr']:g} (main)"
        run.optimizer.lr = s["lr"]
        for r, extra in zip(self.runs, [{"lr": s["lr"]}] + s["race"], strict=True):
            r.schedule = _config.schedule(s, extra["lr"])
            if "batchSize" in keys and r.batch:   # the new size starts with a new epoch
                r.epoch, r.batch = r.epoch + 1, 0
        if self.runs[0].step:
            self.changed_at.append((self.runs[0].step, sorted(keys)))

    def play(self):
        self.playing = True

    def pause(self):
        self.playing = False

    def reset(self):
        """Back to step 0 with the same initial weights and data."""
        self.playing = False
        self._make_runs()

    def regenerate(self, seed: int | None = None):
        """A new seed: new data, new initial weights."""
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        self.update({"seed": seed})

    def edit_weight(self, layer: int, i: int, j: int, value: float):
        """Set W[i, j] of Dense layer ``layer`` (j = n_in: its bias b[i]) to ``value``."""
        dense = [x for x in self.model.layers if isinstance(x, nl.Dense)]
        if not 0 <= layer < len(dense):
            raise ProtocolError(f"edit.layer must be below {len(dense)}, got {layer}", "layer")
        d = dense[layer]
        if not 0 <= i < d.n_out or not 0 <= j <= d.n_in:
            raise ProtocolError(f"edit: layer {layer} has W of shape ({d.n_out}, {d.n_in}) and "
                                f"b of ({d.n_out}, 1); got i={i}, j={j}", "i")
        if j == d.n_in:
            d.b[i, 0] = value
        else:
            d.W[i, j] = value
        self.edited = True
        self._measure(self.runs[0])

    def set_focus(self, layer, i):
        """Show neuron ``i`` of node column ``layer`` (0 inputs, …, H + 1 output) large."""
        self.focus = None if layer is None else (layer, i)

    def upload(self, text: str):
        """Train on an uploaded CSV (see :mod:`~neuralab.playground.uploads`)."""
        from .uploads import parse_csv

        X, y, task = parse_csv(text, self.limits["max_upload_rows"])
        saved = dict(self.__dict__)
        self._upload = (X, y, task)
        self.state = {**self.state, "dataset": "upload",
                      "problem": {"binary": "classification"}.get(task, task)}
        try:
            self._make_data()
            self._make_runs()
        except ProtocolError:
            self.__dict__.update(saved)
            raise

    # ------------------------------------------------------------------ training
    def advance(self, steps: int | None = None) -> int:
        """Train every run ``steps`` steps (default: the state's steps per frame)."""
        n = self.state["stepsPerFrame"] if steps is None else steps
        for run in self.runs:
            if not run.diverged:
                self._train_steps(run, n)
            self._measure(run)
        if self.runs[0].diverged:
            self.playing = False
        return n

    def _train_steps(self, run, n):   # ROUND 2: core API — nl.train's step-wise object
        """``n`` steps of mini-batch training, the batches drawn as ``nl.fit`` draws them: a
        permutation from ``default_rng(seed)`` at each epoch start, batch b is
        ``order[b·B:(b+1)·B]``, the schedule evaluated per epoch at t = epoch."""
        model, opt, loss = run.model, run.optimizer, self.loss
        X, m = self.X_in, self.X_in.shape[0]
        bs = min(self.state["batchSize"], m)
        n_batches = -(-m // bs)
        theta, grad = model.params, model.grads
        kind, rate = self.state["regularization"], self.state["regRate"]
        backup = np.empty_like(theta)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for _ in range(n):
                if run.batch == 0:
                    run.order = run.rng.permutation(m)
                    run.lr = None if run.schedule is None else run.schedule(run.epoch)
                idx = run.order[run.batch * bs:(run.batch + 1) * bs]
                A0 = np.asarray(X[idx], dtype=model.dtype).T
                Yb = loss.select(self.Y, idx)
                value = model.loss_and_grad(A0, Yb, loss)
                _regularize(model, kind, rate)
                np.copyto(backup, theta)
                if opt.needs_closure:
                    opt.step(theta, grad, run.lr,
                             closure=nl.model.Objective(model, A0, Yb, loss))
                else:
                    opt.step(theta, grad, run.lr)
                if not (math.isfinite(value) and np.isfinite(theta).all()):
                    theta[...] = backup
                    run.diverged = True
                    self.notices.append(
                        f"{run.name}: training diverged at step {run.step + 1} (the loss or a "
                        f"weight became NaN or infinite at learning rate "
                        f"{opt.lr if run.lr is None else run.lr:g}); the weights are back to "
                        "their last finite values. Lower the learning rate and reset.")
                    return
                run.grad_sq += [float(grad[sl].dot(grad[sl])) for sl in run.slices]
                run.steps_done += 1
                run.step += 1
                run.batch += 1
                if run.batch == n_batches:
                    run.epoch, run.batch = run.epoch + 1, 0

    def _measure(self, run):
        """Loss and accuracy of ``run`` on the training and test points (``nl.evaluate``)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            train = nl.evaluate(run.model, self.X_in, self.y, loss=self.loss)
            test = nl.evaluate(run.model, self.X_test_in, self.y_test, loss=self.loss)
        run.metrics = (train["loss"], test["loss"], train.get("accuracy", math.nan),
                       test.get("accuracy", math.nan))

    # ------------------------------------------------------------------ frames
    def frame(self) -> bytes:
        """The next binary training frame (see :mod:`~neuralab.playground.frames`)."""
        run = self.runs[0]
        self.seq += 1
        bs = min(self.state["batchSize"], len(self.y))
        n_batches = -(-len(self.y) // bs)
        lr = run.optimizer.lr if run.schedule is None else run.schedule(run.epoch)
        focus = (-1, -1) if self.focus is None else self.focus
        scalars = [run.step, run.epoch + run.batch / n_batches, *run.metrics, lr,
                   self._dead_relu(), float(self.playing), *focus, run.steps_done,
                   self.changes]
        grads = np.sqrt(run.grad_sq / max(run.steps_done, 1)) if run.steps_done else \
            np.full(len(run.slices), np.nan)
        sections = [(frames.SCALARS, np.array(scalars, dtype=np.float64)),
                    (frames.SHAPE, np.array(self._sizes(), dtype=np.uint16)),
                    (frames.WEIGHTS, run.model.params.astype(np.float32)),
                    (frames.GRADS, grads.astype(np.float32))]
        if len(self.runs) > 1:
            sections.append((frames.RACE, np.array([r.metrics for r in self.runs])))
        for r in self.runs:
            r.grad_sq[:] = 0.0
            r.steps_done = 0
        with np.errstate(over="ignore", invalid="ignore"):
            sections += self.renderer.images(self.model, self.focus)
        return frames.pack(frames.FRAME, self.seq, sections)

    def data_frame(self) -> bytes:
        """The points (x1, x2, label, is_test), the input features' images and the domain."""
        X = np.vstack([self.X, self.X_test])
        labels = np.concatenate([self.y, self.y_test]).astype(np.float64)
        test = np.r_[np.zeros(len(self.y)), np.ones(len(self.y_test))]
        points = np.column_stack([X, labels, test]).astype(np.float32)
        return frames.pack(frames.DATA, self.seq, [
            (frames.POINTS, points), (frames.DOMAIN, np.array(self.domain)),
            (frames.INPUTS, frames.thumbnails(self.renderer.inputs)),
            (frames.SHAPE, np.array(self._sizes(), dtype=np.uint16))])

    def curve_frame(self, epochs: int = 200) -> bytes:
        """α_t of the main run's schedule for t = 0 … ``epochs`` − 1 (``nl.schedules``)."""
        run = self.runs[0]
        values = [run.optimizer.lr if run.schedule is None else run.schedule(t)
                  for t in range(epochs)]
        return frames.pack(frames.CURVE, self.seq,
                           [(frames.LR_CURVE, np.array(values, dtype=np.float32))])

    def _sizes(self):
        return [self.X_in.shape[1], *self.state["hidden"], self.n_out]

    def _dead_relu(self) -> float:
        """Share of ReLU units that output 0 on every training point (NaN without ReLU)."""
        if self.state["activation"] != "relu" or not self.state["hidden"]:
            return math.nan
        outs = frames.layer_outputs(self.model, self.X_in.T)
        units = [A for layer, A in zip(self.model.layers, outs, strict=True)
                 if isinstance(layer, nl.ReLU)]
        dead = sum(int(np.count_nonzero(~(A > 0).any(axis=1))) for A in units)
        return dead / sum(A.shape[0] for A in units)

    def status(self) -> dict:
        """What the snippet and the exports need to know about the main run."""
        run = self.runs[0]
        return {"step": run.step, "epoch": run.epoch, "batch": run.batch,
                "edited": self.edited, "changed_at": list(self.changed_at)}
