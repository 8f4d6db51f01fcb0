"""The training session: one page's data, network(s) and training, as a plain Python object.

The server only moves messages; everything the page can do is a method here, so the tests
drive it without a server::

    s = Session({"dataset": "xor", "hidden": [4, 4]})
    s.update({"lr": 0.1}); s.play(); s.advance(); frame = s.frame()

Training is the library's: each run is a ``nl.train.TrainingRun`` (what ``nl.fit`` runs) whose
loop, ``nl.train.training_loop``, the session steps a few batches per frame; the network is an
``nl.Sequential`` in float64 that carries its input features (``nl.FeatureMap``), and L1/L2
come from ``nl.regularizers``. A run with constant settings therefore ends with the θ of
``nl.fit`` (or of the same loop stopped at the same step), bit for bit.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

import neuralab as nl

from . import _config, frames, protocol
from .protocol import LIMITS, ProtocolError

#: Fields whose change makes new data (and so a new network): from the schema.
DATA_FIELDS = protocol.fields("data")
#: Fields whose change makes a new network (back to step 0, the same initial weights).
NET_FIELDS = protocol.fields("network")
#: Fields whose change makes a new optimizer (its hyper-parameters: shown with an optimizer).
OPTIMIZER_FIELDS = frozenset({"optimizer"} | {k for k, v in protocol.STATE.items()
                                              if v[5] and v[5][0] == "optimizer"})


#: Epochs of a playground run: it trains until the page stops it.
_OPEN_ENDED = 2**62


def _features(features):
    """The switched-on input features as the model's preprocessing step (raw points: x1, x2)."""
    return nl.FeatureMap(features, n_features_in=2)


def _regularizer(state):
    """``nl.regularizers`` L1 or L2 at the state's rate, or None."""
    kind, rate = state["regularization"], state["regRate"]
    return None if kind == "none" or rate == 0.0 else nl.regularizers.get(kind.lower(), rate)


def _drawn(run):
    """What the drawing shows of the run's network: θ's Dense parts (each W, then b) and the
    Dense layers' rows of the gradient panel; ``(None, None)`` when that is all of them (no
    BatchNorm's γ, β in θ)."""
    model = run.model
    dense = [k for k, layer in enumerate(model.layers) if isinstance(layer, nl.Dense)]
    with_params = run.train.layer_index
    if dense == with_params:
        return None, None
    theta = np.concatenate([np.arange(model._slices[k].start, model._slices[k].stop)
                            for k in dense])
    return theta, np.array([with_params.index(k) for k in dense])


class _Run:
    """One training run: a ``nl.train.TrainingRun`` and its loop, stepped between frames.

    A change of batch size restarts the loop from the current θ and optimizer (``offset``
    keeps the page's step and epoch counters going; the schedule continues from that epoch).
    """

    def __init__(self, model, optimizer, schedule, seed, name):
        self.model, self.optimizer, self.schedule, self.name = model, optimizer, schedule, name
        self.seed = seed
        self.offset = (0, 0)               # (steps, epochs) of earlier loops of this run
        self.train = self.loop = None
        self.drawn = (None, None)          # what the drawing shows of θ (see _drawn)
        self.grad_sq = None
        self.steps_done = 0                # steps since the last frame
        self.seconds = 0.0                 # training time of the steps below (a race's clock)
        self.timed_steps = 0
        self.metrics = (math.nan,) * 4     # train loss, test loss, train acc, test acc
        self.diverged = False

    def start(self, X, y, loss, batch_size, regularizer) -> None:
        """A new loop over ``(X, y)`` from the current θ and optimizer state."""
        steps, epochs = self.offset
        schedule = self.schedule
        if schedule is not None and epochs:
            schedule = _Shifted(schedule, epochs)
        self.train = nl.train.TrainingRun(
            self.model, X, y, loss=loss, optimizer=self.optimizer, schedule=schedule,
            epochs=_OPEN_ENDED, batch_size=batch_size, seed=self.seed + epochs,
            on_divergence="stop", regularizer=regularizer)
        self.loop = nl.train.training_loop(self.train)
        self.grad_sq = np.zeros(len(self.train.layer_index))
        self.drawn = _drawn(self)              # once per loop, not per frame

    def ms_per_epoch(self) -> float:
        """Milliseconds of training per epoch (steps as timed so far, times the batches of an
        epoch): the race compares optimizers by time as well as by steps. NaN before a step."""
        if not self.timed_steps:
            return math.nan
        return 1000.0 * self.seconds / self.timed_steps * self.train.n_batches

    def retune(self, regularizer) -> None:
        """Go on with this run's (new) optimizer, schedule and ``regularizer`` from the next
        step (``nl.train.TrainingRun.retune``)."""
        schedule = self.schedule
        if schedule is not None and self.offset[1]:
            schedule = _Shifted(schedule, self.offset[1])
        self.train.retune(optimizer=self.optimizer, schedule=schedule, regularizer=regularizer)

    def restart(self, X, y, loss, batch_size, regularizer) -> None:
        """Go on with a new loop at the start of the next epoch (a new batch size)."""
        state = self.train.state
        self.offset = (self.step, self.offset[1] + state.epoch + (state.batch > 0))
        self.start(X, y, loss, batch_size, regularizer)

    @property
    def step(self) -> int:
        return self.offset[0] + self.train.state.step

    @property
    def epoch(self) -> int:
        state = self.train.state
        return self.offset[1] + state.epoch + (state.batch == self.train.n_batches)

    @property
    def batch(self) -> int:
        state = self.train.state
        return 0 if state.batch == self.train.n_batches else state.batch

    def lr(self) -> float:
        """The rate of the coming step."""
        train = self.train
        if train.schedule is None:
            return train.optimizer.lr
        epoch = train.state.epoch + (train.state.batch == train.n_batches)
        return train.schedule(train.state.step if train.schedule_per == "step" else epoch)


class _Shifted:
    """A schedule read ``shift`` epochs on: t ↦ s(t + shift)."""

    def __init__(self, schedule, shift):
        self.schedule, self.shift = schedule, shift

    def __call__(self, t):
        return self.schedule(t + self.shift)


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
        self._upload: tuple | None = None
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
        features = _features(s["features"])
        self.X_in = features.transform(self.X)          # the network's inputs (panels, ReLU probe)
        n_in = self.X_in.shape[1]
        configs = [(s["optimizer"], s["lr"])] + [(r["optimizer"], r["lr"]) for r in s["race"]]
        limit = self.limits["newton_max_params"]
        n = _config.n_params(s, n_in, self.n_out)
        if any(name == "newton" for name, _ in configs) and n > limit:
            raise ProtocolError(f"Newton's method is limited to networks of {limit} parameters "
                                f"here (its Hessian takes d = {n} backward passes a step); "
                                "remove neurons or pick another optimizer", "optimizer")
        regularizer = self._checked_regularizer([name for name, _ in configs])
        self.runs = []
        for k, (name, lr) in enumerate(configs):
            model = nl.Sequential(_config.layers(s, n_in, self.n_out, self.task), seed=s["seed"],
                                  dtype="float64", preprocessing=[_features(s["features"])])
            run = _Run(model, _config.optimizer(s, name, lr, limit), _config.schedule(s, lr),
                       s["seed"], f"{name} {lr:g}" if k else f"{name} {lr:g} (main)")
            try:
                run.start(self.X, self.y, self.loss, s["batchSize"], regularizer)
            except (TypeError, ValueError) as exc:  # e.g. Newton refusing Dropout, by name
                raise ProtocolError(str(exc), "optimizer") from None
            self.runs.append(run)
        self.model = self.runs[0].model
        self.renderer = frames.Renderer(self.model, features.transform(self.grid).T, self.task)
        self.edited = False
        self.changed_at: list[tuple[int, list[str]]] = []
        self.built += 1
        if s["init"] == "zeros" and s["hidden"]:
            self.notices.append("Zero initialization: every neuron of a layer starts "
                                "identical and gets the same update, so they stay identical "
                                "(the symmetry problem) — their pictures are the same.")
        for run in self.runs:
            self._measure(run)

    def _checked_regularizer(self, optimizers):
        """The state's regularizer, refused with Newton (its line search sees J alone)."""
        regularizer = _regularizer(self.state)
        if regularizer is not None and any(nl.optim.OPTIMIZERS[name].no_regularizer
                                           for name in optimizers):
            raise ProtocolError("regularization cannot be combined with Newton's method (its "
                                "step and line search use the data loss alone); set "
                                "regularization to none or pick another optimizer",
                                "regularization")
        return regularizer

    # ------------------------------------------------------------------ controls
    def update(self, changes: dict) -> None:
        """Apply checked state ``changes``: new data, a new network, or live settings.

        Several fields at once (a link, a preset) with some bad ones: the valid ones are
        applied and the bad ones named in a notice (a link with one typo still sets up the
        rest); a single bad field, or only bad ones, is refused with a :class:`ProtocolError`.
        """
        changes, refused = protocol.valid_changes(changes)
        if refused and not changes:
            raise ProtocolError(refused[0][1], refused[0][0])
        try:
            new = protocol.check_changes(changes, self.state)
        except ProtocolError as exc:        # e.g. a data set of another problem type
            if exc.field is None or exc.field not in changes or len(changes) == 1:
                raise
            refused.append((exc.field, str(exc)))
            changes = {k: v for k, v in changes.items() if k != exc.field}
            new = protocol.check_changes(changes, self.state)
        if refused:
            self.notices.append("not applied: " + "; ".join(msg for _, msg in refused)
                                + " (the other settings were applied)")
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
        """Settings that change while training goes on: optimizer, rate, schedule, batch size,
        regularization (``nl.train.TrainingRun.retune``; a new batch size starts a new loop)."""
        s = self.state
        limit = self.limits["newton_max_params"]
        if s["optimizer"] == "newton" and self.model.n_params > limit:
            raise ProtocolError(f"Newton's method is limited to networks of {limit} parameters "
                                f"here; this one has {self.model.n_params}", "optimizer")
        regularizer = self._checked_regularizer([s["optimizer"]] +
                                                [r["optimizer"] for r in s["race"]])
        try:        # what the optimizer needs of the network (Newton: no Dropout, BatchNorm)
            nl.optim.OPTIMIZERS[s["optimizer"]].check_run(None, self.model)
        except (TypeError, ValueError) as exc:
            raise ProtocolError(str(exc), "optimizer") from None
        run = self.runs[0]
        if keys & OPTIMIZER_FIELDS:
            run.optimizer = _config.optimizer(s, s["optimizer"], s["lr"], limit)
        run.name = f"{s['optimizer']} {s['lr']:g} (main)"      # a divergence note names it
        run.optimizer.lr = s["lr"]
        for r, extra in zip(self.runs, [{"lr": s["lr"]}] + s["race"], strict=True):
            r.schedule = _config.schedule(s, extra["lr"])
            if "batchSize" in keys:
                r.restart(self.X, self.y, self.loss, s["batchSize"], regularizer)
            else:
                r.retune(regularizer)
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
        self.runs[0].train.params_changed()     # the guard copies θ before the next step
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
    def advance(self, steps: int | None = None, budget: float | None = None) -> int:
        """Train every run ``steps`` steps (default: the state's steps per frame).

        ``budget``: about that many seconds of training at most for this frame (the server's
        compute share per session, so that one heavy page cannot starve the others): the main
        run (the first that has not diverged) trains for its share, ``budget / len(runs)``, one
        step at least, and a race's other runs then take as many steps, so the race stays a
        race at equal steps. Returns the steps taken; the frame reports them.
        """
        n = self.state["stepsPerFrame"] if steps is None else steps
        n = self._until_stop(n)
        timed = None if budget is None else budget / len(self.runs)
        for run in self.runs:
            if not run.diverged:
                done = self._train_steps(run, n, timed)
                if timed is not None and not run.diverged:
                    n, timed = done, None           # the others: as many steps
            self._measure(run)
        if self.runs[0].diverged:
            self.playing = False
        self._check_stop()
        return n

    def _until_stop(self, n: int) -> int:
        """``n`` steps, or fewer so that training pauses exactly at ``stopEpoch``."""
        return n if not self.state["stopEpoch"] else max(0, min(n, self._steps_to_stop()))

    def _steps_to_stop(self) -> int:
        """Steps of the main run left until epoch ``stopEpoch`` (≤ 0: reached or passed)."""
        run = self.runs[0]
        return (self.state["stopEpoch"] - run.epoch) * run.train.n_batches - run.batch

    def _check_stop(self) -> None:
        """Pause at ``stopEpoch`` or once the training loss is at most ``stopLoss``."""
        s, run = self.state, self.runs[0]
        if not self.playing:
            return
        if s["stopEpoch"] and self._steps_to_stop() <= 0:
            self.playing = False
            self.notices.append(f"stopped at epoch {run.epoch} (stop at epoch {s['stopEpoch']})")
        elif s["stopLoss"] and run.metrics[0] <= s["stopLoss"]:
            self.playing = False
            self.notices.append(f"stopped at epoch {run.epoch}, step {run.step}: the training "
                                f"loss {run.metrics[0]:.4g} reached the target "
                                f"{s['stopLoss']:g}")

    def _train_steps(self, run, n, seconds=None):
        """``n`` steps of the run's ``nl.train.training_loop`` (the loop ``nl.fit`` runs), fewer
        if ``seconds`` of training are spent first.

        A NaN or inf stops the run with θ at its last finite value (the guard's
        ``on_divergence="stop"``), and the page says so.
        """
        train = run.train
        start = time.perf_counter()
        end = math.inf if seconds is None else start + seconds
        done = 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            for k in range(n):
                if k and time.perf_counter() > end:
                    break
                if next(run.loop, None) is None:
                    break
                run.grad_sq += train.guard.sq
                run.steps_done += 1
                done += 1
        run.seconds += time.perf_counter() - start
        run.timed_steps += done
        if train.history.divergence is not None:
            run.diverged = True
            said = [str(w.message) for w in caught if "diverged" in str(w.message)]
            self.notices.append(f"{run.name}: {said[0] if said else 'training diverged'} "
                                "Then reset.")
        # the page draws its own curves: the run's per-epoch history would only grow
        train.history.history.clear()
        train.history.epoch.clear()
        return done

    def _measure(self, run):
        """Loss and accuracy of ``run`` on the training and test points (``nl.evaluate``)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            train = nl.evaluate(run.model, self.X, self.y, loss=self.loss)
            test = nl.evaluate(run.model, self.X_test, self.y_test, loss=self.loss)
        run.metrics = (train["loss"], test["loss"], train.get("accuracy", math.nan),
                       test.get("accuracy", math.nan))

    # ------------------------------------------------------------------ frames
    def frame(self) -> bytes:
        """The next binary training frame (see :mod:`~neuralab.playground.frames`)."""
        run = self.runs[0]
        self.seq += 1
        n_batches = run.train.n_batches
        lr = run.lr()
        focus = (-1, -1) if self.focus is None else self.focus
        r2, rmse, confusion = self.test_scores()
        scalars = [run.step, run.epoch + run.batch / n_batches, *run.metrics, lr,
                   self._dead_relu(), float(self.playing), *focus, run.steps_done,
                   self.changes, r2, rmse]
        grads = np.sqrt(run.grad_sq / max(run.steps_done, 1)) if run.steps_done else \
            np.full(len(run.grad_sq), np.nan)
        drawn, rows = run.drawn
        sections = [(frames.SCALARS, np.array(scalars, dtype=np.float64)),
                    (frames.SHAPE, np.array(self._sizes(), dtype=np.uint16)),
                    (frames.WEIGHTS, (run.model.params if drawn is None
                                      else run.model.params[drawn]).astype(np.float32)),
                    (frames.GRADS, (grads if rows is None else grads[rows]).astype(np.float32))]
        if len(self.runs) > 1:
            sections.append((frames.RACE, np.array([(*r.metrics, r.ms_per_epoch())
                                                    for r in self.runs])))
        if confusion is not None:
            sections.append((frames.CONFUSION, confusion.astype(np.uint16).ravel()))
        for r in self.runs:
            r.grad_sq[:] = 0.0
            r.steps_done = 0
        with np.errstate(over="ignore", invalid="ignore"):
            sections += self.renderer.images(self.model, self.focus)
        return frames.pack(frames.FRAME, self.seq, sections)

    def test_scores(self):
        """``(R², RMSE, confusion)`` of the main run on the test points: R² = 1 − SS_res/SS_tot
        and RMSE = √(mean squared error) for a regression (else NaN), and for a classifier the
        K×K counts ``C[true, predicted]`` (else None)."""
        model, X, y = self.model, self.X_test, self.y_test
        if not len(y):
            return math.nan, math.nan, None
        with np.errstate(over="ignore", invalid="ignore"):
            if self.task == "regression":
                residual = np.ravel(model.predict(X)) - y
                total = np.sum((y - y.mean()) ** 2)
                r2 = 1.0 - np.sum(residual ** 2) / total if total > 0 else math.nan
                return float(r2), float(np.sqrt(np.mean(residual ** 2))), None
            k = max(self.n_out, 2)
            predicted = np.ravel(model.predict(X)).astype(np.int64)
        confusion = np.zeros((k, k), dtype=np.int64)
        np.add.at(confusion, (y.astype(np.int64), predicted), 1)
        return math.nan, math.nan, confusion

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
        if "relu" not in (_config.activation_name(self.state, k)
                          for k in range(len(self.state["hidden"]))):
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
