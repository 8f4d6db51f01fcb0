r"""scikit-learn estimators over neuralab networks: ``NeuralNetClassifier``, ``NeuralNetRegressor``.

They are ordinary scikit-learn estimators (``get_params``/``set_params``, ``clone``, fitted
attributes ending in ``_``, input checks by ``sklearn.utils.validation.validate_data``), so they
work inside ``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` and pass
``sklearn.utils.estimator_checks.check_estimator``. Under the hood each builds an
:class:`~neuralab.model.MLP` and trains it with :func:`~neuralab.train.fit`.

Parameter names follow ``sklearn.neural_network.MLPClassifier`` where the two overlap
(``hidden_layer_sizes``, ``activation``, ``alpha``, ``batch_size``, ``tol``, ``early_stopping``,
``validation_fraction``, ``n_iter_no_change``, ``warm_start``, ``random_state``, ``verbose``);
neuralab's own are ``optimizer``, ``lr``, ``schedule``, ``init``, ``epochs`` and ``dtype``.

This module imports scikit-learn, so it is not imported by ``import neuralab``; import it as
``from neuralab.sklearn import NeuralNetClassifier``.
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import optim as _optim
from ._validation import check_float, check_int
from .backend import resolve_dtype
from .nn import activations as _act
from .nn.layers import Dense
from .nn.losses import MSE, CrossEntropy
from .nn.model import MLP
from .optim import schedules as _schedules
from .training.callbacks import Callback
from .training.train import fit as _nl_fit

_FLOATS = (np.float64, np.float32)


class _WeightPenalty(_optim.Optimizer):
    r"""Wrap an optimizer to add the L2 penalty's gradient on the weights (not the biases).

    .. math::

        g \leftarrow g + \frac{\alpha}{B}\, M \odot \theta

    α is ``alpha``, ``B`` the batch size and ``M`` the 0/1 ``mask`` of the weight entries of θ:
    the gradient of scikit-learn's penalty ``α/(2B) ‖W‖²`` added to the batch loss.
    """

    def __init__(self, inner, mask, strength):
        self.inner, self.mask, self.strength = inner, mask, strength
        self.needs_closure = inner.needs_closure

    @property
    def lr(self):
        return self.inner.lr

    def step(self, theta, grad, lr=None, closure=None):
        g = grad + (self.strength * self.mask) * theta
        self.inner.step(theta, g, lr, closure=closure)


class _Monitor(Callback):
    """Record each epoch in the estimator's ``history_`` and apply the stopping rule."""

    def __init__(self, est, stopping):
        self.est, self.stopping = est, stopping

    def on_epoch_begin(self, epoch, logs=None):
        self._norms = []

    def on_batch_end(self, step, logs=None):
        self._norms.append(float(np.linalg.norm(self.model.grads)))

    def on_epoch_end(self, epoch, logs=None):
        est = self.est
        for key, value in {**logs, "grad_norm": float(np.mean(self._norms))}.items():
            est.history_.setdefault(key, []).append(value)
        est.n_iter_ += 1
        if not np.isfinite(logs["loss"]):
            warnings.warn("training diverged (the loss is not finite); lower lr", stacklevel=2)
            self.model.stop_training = True
        elif self.stopping:
            self._update_no_improvement(logs)

    def _update_no_improvement(self, logs):
        # scikit-learn's MLP rule: count epochs that fail to improve the best value by tol
        est = self.est
        value = logs["val_loss"] if est.early_stopping else logs["loss"]
        if value > est._best - est.tol:
            est._no_improvement += 1
        else:
            est._no_improvement = 0
        if value < est._best:
            est._best = value
            if est.early_stopping:
                est._best_params = self.model.params.copy()
        if est._no_improvement > est.n_iter_no_change:
            est._converged = True
            self.model.stop_training = True


class _BaseNeuralNet(BaseEstimator):
    """Shared fitting machinery; subclasses define the output layer, loss and targets."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, optimizer="adam",
                 lr=1e-3, schedule=None, init="he_normal", alpha=1e-4, batch_size="auto",
                 epochs=200, tol=1e-4, n_iter_no_change=10, early_stopping=False,
                 validation_fraction=0.1, warm_start=False, random_state=None, verbose=0,
                 dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.lr = lr
        self.schedule = schedule
        self.init = init
        self.alpha = alpha
        self.batch_size = batch_size
        self.epochs = epochs
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    # ------------------------------------------------------------------ parameters
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError("hidden_layer_sizes must be an int or a sequence of ints, e.g. "
                            f"(100,) or (64, 32); got {sizes!r}")
        return [check_int(s, f"hidden_layer_sizes[{i}]", minimum=1)
                for i, s in enumerate(sizes)]

    def _check_params(self):
        """Validate the hyperparameters (named in each error) before any work."""
        _act.get(self.activation)
        if self.dtype is not None:
            resolve_dtype(self.dtype)
        check_float(self.lr, "lr", low=0.0, low_inclusive=False)
        check_float(self.alpha, "alpha", low=0.0)
        check_float(self.tol, "tol", low=0.0)
        check_int(self.epochs, "epochs", minimum=1)
        check_int(self.n_iter_no_change, "n_iter_no_change", minimum=1)
        check_int(self.verbose, "verbose", minimum=0)
        if self.batch_size != "auto":
            check_int(self.batch_size, "batch_size", minimum=1)
        if self.early_stopping:
            check_float(self.validation_fraction, "validation_fraction", low=0.0, high=1.0,
                        low_inclusive=False, high_inclusive=False)
        self._hidden_sizes()
        self._new_optimizer()
        self._make_schedule()

    def _new_optimizer(self):
        """A fresh optimizer from ``optimizer`` (a name built with ``lr``, or a copied instance)."""
        spec = self.optimizer
        if isinstance(spec, _optim.Optimizer):
            inner = copy.deepcopy(spec)  # never train the parameter object itself
        else:
            inner = _optim.get(spec, lr=self.lr)
        if self.alpha != 0.0 and inner.needs_closure:
            raise ValueError(f"alpha must be 0 with the second-order optimizer {spec!r} (its "
                             "closure evaluates the loss without the L2 penalty); set alpha=0")
        return inner

    def _stepper(self, model, batch_size):
        """``optimizer_``, wrapped to add the weight penalty's gradient when ``alpha > 0``."""
        if self.alpha == 0.0:
            return self.optimizer_
        mask = np.zeros(model.n_params, dtype=model.dtype)
        start = 0
        for layer in model.layers:
            if isinstance(layer, Dense):
                mask[start:start + layer.n_out * layer.n_in] = 1.0  # W comes first, then b
            start += layer.n_params
        return _WeightPenalty(self.optimizer_, mask, self.alpha / batch_size)

    def _make_schedule(self):
        """The schedule t ↦ α_t: None (constant ``lr``), a callable, or a name."""
        spec = self.schedule
        if spec is None or callable(spec):
            return spec
        named = {
            "constant": lambda: _schedules.Constant(self.lr),
            "cosine": lambda: _schedules.CosineAnnealing(self.lr, t_max=self.epochs),
            "step": lambda: _schedules.StepDecay(self.lr, gamma=0.1,
                                                 step_size=max(1, self.epochs // 3)),
            "exponential": lambda: _schedules.ExponentialDecay(self.lr, k=3.0 / self.epochs),
        }
        if not isinstance(spec, str) or spec.lower() not in named:
            raise ValueError(f"schedule must be None, a callable t -> lr, or one of "
                             f"{', '.join(sorted(named))}; got {spec!r}")
        return named[spec.lower()]()

    # ------------------------------------------------------------------ fitting
    def _validate_train(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, dtype=_FLOATS,
                             multi_output=self._multi_output, y_numeric=not self._is_clf)
        return X, y

    def _architecture(self):
        """What a warm start cannot keep when it changes: the layers and their dtype."""
        dtype = None if self.dtype is None else resolve_dtype(self.dtype).name
        return tuple(self._hidden_sizes()), str(self.activation).lower(), dtype

    def _initialize(self, X, Y, rng):
        n_out = self._n_outputs(Y)
        sizes = [X.shape[1], *self._hidden_sizes(), n_out]
        names = getattr(self, "feature_names_in_", None)
        self.model_ = MLP(sizes, activation=self.activation, output=self._output,
                          init=self.init, seed=int(rng.randint(2**31 - 1)),
                          dtype=X.dtype if self.dtype is None else self.dtype,
                          classes=getattr(self, "classes_", None) if self._is_clf else None,
                          feature_names=None if names is None else [str(n) for n in names])
        self._architecture_ = self._architecture()
        self.n_outputs_ = n_out
        self.n_iter_ = 0
        self.history_ = {}
        self._rng = rng

    def _fit(self, X, Y, incremental):
        """Train on targets ``Y`` (labels as in ``classes_`` for a classifier): all epochs
        (``fit``) or one (``partial_fit``)."""
        first = not hasattr(self, "model_") or not (incremental or self.warm_start)
        if not first and self._architecture() != self._architecture_:
            # scikit-learn's MLP would fail on mismatched shapes; a new network is built
            warnings.warn(f"{type(self).__name__}: hidden_layer_sizes, activation or dtype "
                          "changed since the last fit, so warm_start cannot reuse the "
                          "weights: the network is rebuilt from scratch", UserWarning,
                          stacklevel=3)
            first = True
        if first:
            self._initialize(X, Y, check_random_state(self.random_state))
        m = X.shape[0]
        bs = min(200, m) if self.batch_size == "auto" else min(self.batch_size, m)
        if not incremental or not hasattr(self, "optimizer_"):
            self.optimizer_ = self._new_optimizer()
        schedule = self._make_schedule()
        offset = self.n_iter_ if incremental else 0
        shifted = None if schedule is None else (lambda t: schedule(t + offset))

        validation = None
        stopping = not incremental
        if stopping and self.early_stopping:
            stratify = Y if self._is_clf else None
            X, Xv, Y, Yv = train_test_split(X, Y, test_size=self.validation_fraction,
                                            random_state=self._rng.randint(2**31 - 1),
                                            stratify=stratify)
            validation = (Xv, Yv)
        self._best, self._no_improvement, self._converged = np.inf, 0, False
        self._best_params = None
        _nl_fit(self.model_, X, Y, loss=self._loss(),
                optimizer=self._stepper(self.model_, bs),
                schedule=shifted, epochs=1 if incremental else self.epochs, batch_size=bs,
                shuffle=True, seed=int(self._rng.randint(2**31 - 1)),
                validation_data=validation, callbacks=[_Monitor(self, stopping)],
                verbose=self.verbose)
        if self._best_params is not None:
            self.model_.params[...] = self._best_params  # early stopping keeps the best epoch
        self._best_params = None
        self.loss_curve_ = list(self.history_["loss"])
        if stopping and not self._converged and self.n_iter_ > 0:
            warnings.warn(f"{type(self).__name__}: the loss still improved after "
                          f"epochs={self.epochs}; raise epochs or tol to converge",
                          ConvergenceWarning, stacklevel=3)
        return self

    def _forward(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_FLOATS)
        return self.model_.forward(X)


class NeuralNetClassifier(ClassifierMixin, _BaseNeuralNet):
    r"""A multilayer-perceptron classifier trained by neuralab: softmax output, cross-entropy.

    The network is ``MLP([n_features, *hidden_layer_sizes, n_classes])`` ending in a softmax
    (two outputs for binary problems). Training minimizes, over mini-batches of size ``B``,

    .. math::

        J(\theta) = -\frac{1}{B} \sum_{i=1}^{B} \log a^{(i)}_{y_i}
                    + \frac{\alpha}{2B} \sum_l \lVert W^{[l]} \rVert_F^2

    where α is ``alpha`` (scikit-learn's convention; biases are not penalized).

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default (100,)
        Widths of the hidden layers; ``()`` gives multinomial logistic regression.
    activation : str, default "relu"
        Hidden activation: "relu", "tanh", "sigmoid", "leaky_relu", "identity".
    optimizer : str or Optimizer, default "adam"
        A name from ``nl.optim.get`` ("sgd", "momentum", "nesterov", "adagrad", "rmsprop",
        "adam", "adamw", "newton", ...) built with ``lr``, or an optimizer instance (copied).
    lr : float, default 1e-3
        Learning rate α (used when ``optimizer`` is a name, and by named schedules).
    schedule : None, str or callable, default None
        None keeps ``lr``; a callable t ↦ α_t (t = epoch index); or a name: "constant",
        "cosine" (to 0 over ``epochs``), "step" (×0.1 every ``epochs // 3``), "exponential"
        (α₀·e^{−3t/epochs}).
    init : str or callable, default "he_normal"
        Weight initializer (see :mod:`neuralab.init`).
    alpha : float, default 1e-4
        L2 penalty strength on the weights.
    batch_size : int or "auto", default "auto"
        Mini-batch size; "auto" is ``min(200, n_samples)``.
    epochs : int, default 200
        Maximum number of passes over the data (scikit-learn's ``max_iter``).
    tol, n_iter_no_change : float, int, default 1e-4, 10
        Stop once the training loss (validation loss with ``early_stopping``) has failed to
        improve by ``tol`` for more than ``n_iter_no_change`` consecutive epochs.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data (stratified) and keep the parameters of
        the epoch with the lowest validation loss.
    validation_fraction : float, default 0.1
    warm_start : bool, default False
        Continue from the previous fit's weights instead of re-initializing. If
        ``hidden_layer_sizes``, ``activation`` or ``dtype`` changed since (``set_params``),
        the weights cannot be reused: the network is rebuilt, with a ``UserWarning``.
    random_state : int, RandomState or None, default None
        Seeds the weights, the shuffling and the validation split.
    verbose : int, default 0
        Print one line per epoch.
    dtype : {"float32", "float64"} or None, default None
        The network's floating-point type; None follows ``X`` at the first fit (float32 data
        trains in float32, anything else in float64), as scikit-learn's MLP does.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
    model_ : neuralab.MLP
        The trained network (use it with ``nl.save``, ``nl.interop.to_torch``, ...); its
        ``classes`` are ``classes_``, so ``nl.save(clf.model_, path)`` keeps the labels, and
        its ``feature_names`` those of a DataFrame ``X``.
    optimizer_ : Optimizer
    history_ : dict of lists
        Per epoch: ``loss``, ``accuracy``, ``lr``, ``grad_norm`` (mean over the epoch's
        batches of ‖∇θ J‖₂ of the data loss), ``time``, and ``val_loss``/``val_accuracy``
        with ``early_stopping``.
    loss_curve_ : list of float
        ``history_["loss"]``.
    n_iter_ : int
        Epochs run (accumulates over ``partial_fit`` and warm-started fits).
    n_features_in_, feature_names_in_, n_outputs_

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from neuralab.sklearn import NeuralNetClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NeuralNetClassifier((16,), lr=1e-2, batch_size=32, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _is_clf = True
    _multi_output = False
    _output = "softmax"

    def _loss(self):
        return CrossEntropy()

    def _n_outputs(self, Y):
        return len(self.classes_)

    def _encode(self, y):
        check_classification_targets(y)
        if not np.isin(y, self.classes_).all():
            unseen = np.setdiff1d(y, self.classes_)
            raise ValueError(f"y contains labels {unseen.tolist()} not in classes_ "
                             f"{self.classes_.tolist()}; pass every class to the first "
                             "partial_fit via classes=")
        return np.searchsorted(self.classes_, y)

    def fit(self, X, y):
        """Train on ``X`` (n_samples, n_features) and labels ``y`` (n_samples,); returns self.

        ``model_`` records ``classes_`` (so ``model_.predict`` and ``nl.save`` keep the
        labels), the feature names of a DataFrame ``X`` and the name of a Series ``y``.
        """
        self._check_params()
        target = getattr(y, "name", None)
        X, y = self._validate_train(X, y, reset=not (self.warm_start
                                                     and hasattr(self, "model_")))
        check_classification_targets(y)
        classes = np.unique(y)
        if self.warm_start and hasattr(self, "classes_"):
            if not np.isin(classes, self.classes_).all():
                raise ValueError("warm_start fit got labels outside classes_; refit with "
                                 "warm_start=False")
        else:
            self._set_classes(classes)
        self._encode(y)                                   # unseen labels: a clear error
        self._fit(X, y, incremental=False)
        self.model_.target = target if isinstance(target, str) else None
        return self

    def _set_classes(self, classes):
        if len(classes) < 2:
            raise ValueError(f"the classifier needs samples of at least 2 classes; got "
                             f"{len(classes)} class ({classes.tolist()})")
        self.classes_ = classes

    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``; the first call needs ``classes`` (all labels)."""
        first = not hasattr(self, "model_")
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit "
                                 "(every label that will ever appear)")
            self._check_params()
            classes = np.unique(np.asarray(classes))
            check_classification_targets(classes)
            self._set_classes(classes)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={list(classes)} differs from classes_="
                             f"{self.classes_.tolist()} of the first partial_fit call")
        X, y = self._validate_train(X, y, reset=first)
        self._encode(y)                                   # unseen labels: a clear error
        return self._fit(X, y, incremental=True)

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        return self._forward(X)

    def predict(self, X):
        """The most probable class of each sample, as a label from ``classes_``."""
        P = self._forward(X)
        return self.classes_[np.argmax(P, axis=1)]

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba` (``-inf`` where a probability underflows to 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


class NeuralNetRegressor(RegressorMixin, _BaseNeuralNet):
    r"""A multilayer-perceptron regressor trained by neuralab: linear output, squared error.

    The network is ``MLP([n_features, *hidden_layer_sizes, n_targets])`` with an identity
    output. Training minimizes, over mini-batches of size ``B`` with ``k`` targets,

    .. math::

        J(\theta) = \frac{1}{B k} \sum_{i=1}^{B} \lVert a^{(i)} - y^{(i)} \rVert^2
                    + \frac{\alpha}{2B} \sum_l \lVert W^{[l]} \rVert_F^2

    Parameters and attributes are those of :class:`NeuralNetClassifier` (without
    ``classes_``); ``y`` may be (n_samples,) or (n_samples, n_targets), and ``predict``
    returns (n_samples,) for a single target.

    Examples
    --------
    >>> import numpy as np
    >>> from neuralab.sklearn import NeuralNetRegressor
    >>> X = np.linspace(-1, 1, 64)[:, None]
    >>> reg = NeuralNetRegressor((32,), lr=1e-2, batch_size=16, random_state=0)
    >>> reg.fit(X, 2 * X[:, 0] + 1).score(X, 2 * X[:, 0] + 1) > 0.99
    True
    """

    _is_clf = False
    _multi_output = True
    _output = "identity"

    def _loss(self):
        return MSE()

    def _n_outputs(self, Y):
        return 1 if Y.ndim == 1 else Y.shape[1]

    def fit(self, X, y):
        """Train on ``X`` (n_samples, n_features) and targets ``y``; returns self."""
        self._check_params()
        target = getattr(y, "name", None)
        X, y = self._validate_train(X, y, reset=not (self.warm_start
                                                     and hasattr(self, "model_")))
        self._fit(X, y, incremental=False)
        self.model_.target = target if isinstance(target, str) else None
        return self

    def partial_fit(self, X, y):
        """One epoch over ``(X, y)``, continuing from the current weights."""
        first = not hasattr(self, "model_")
        if first:
            self._check_params()
        X, y = self._validate_train(X, y, reset=first)
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """Predicted targets: (n_samples,) for one target, else (n_samples, n_targets)."""
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
