r"""Second-order optimizers: Newton's method and matrix-free Newton-CG (Hessian-free).

Both need more than the gradient, so they set ``needs_closure = True`` and ``fit`` passes
``closure=Objective(model, A0, Y, loss)``: the batch and loss the gradient came from. From it
they take the curvature (:mod:`neuralab.hessian`: exact Hessian-vector products, or logistic
regression's closed form) and re-evaluate J at trial points (a forward pass only) to accept or
reject a step. Any other objective with ``value()`` and ``hvp(v, gauss_newton)`` (and
optionally ``hessian()``), evaluated at the ``theta`` being updated, works too, e.g. the
Rosenbrock function. ``model.grads`` is left as it was (the gradient before the step).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .._validation import check_float, check_int
from ..nn import hessian as _hs
from .optimizer import Optimizer


def _is_model_objective(closure):
    return all(hasattr(closure, a) for a in ("model", "A0", "Y", "loss"))


class _Curvature:
    """J, Bv and H at the current θ, from a model Objective or any object that provides them.

    A custom objective (a test function such as Rosenbrock) needs ``value() -> float`` and
    ``hvp(v, gauss_newton=False) -> array``, optionally ``hessian() -> (d, d) array``, all
    evaluated at the very ``theta`` array the optimizer updates in place.
    """

    def __init__(self, closure, theta, name):
        self.closure = closure
        if _is_model_objective(closure):
            if theta.shape != closure.model.params.shape or not np.shares_memory(
                    theta, closure.model.params):
                raise ValueError(f"{name}.step: theta must be the closure's model.params")
            self.value = lambda: _hs.loss_value(closure)
            self.hvp = lambda v, gn: _hs.hvp(closure, v, gauss_newton=gn)
            self.hessian = lambda: _hs.hessian(closure)
        elif callable(getattr(closure, "value", None)) and callable(
                getattr(closure, "hvp", None)):
            self.value = lambda: float(closure.value())
            self.hvp = lambda v, gn: np.asarray(closure.hvp(v, gauss_newton=gn))
            self.hessian = getattr(closure, "hessian", None) or (
                lambda: np.array([closure.hvp(e) for e in np.eye(theta.size)]))
        else:
            raise TypeError(f"{name} needs closure=Objective(model, A0, Y, loss) (from "
                            "neuralab.model; nl.fit passes one), or an object with value() and "
                            f"hvp(v, gauss_newton); got {closure!r}")


def _rounding_slack(f0):
    """Loss increases below this are rounding noise, not a failed step."""
    return 16 * np.finfo(np.float64).eps * max(1.0, abs(f0))


class _SecondOrder(Optimizer):
    """Shared validation, Levenberg–Marquardt damping state and (de)serialization."""

    needs_closure = True
    second_order = True
    no_regularizer = "its closure evaluates the data loss alone"
    _state_names = ()

    def __init__(self, lr, damping, increase, decrease):
        super().__init__(lr)
        self.damping = check_float(damping, "damping", low=0.0)
        self.increase = check_float(increase, "increase", low=1.0, low_inclusive=False)
        self.decrease = check_float(decrease, "decrease", low=0.0, high=1.0,
                                    low_inclusive=False)
        #: the current damping λ, adapted from step to step
        self.damping_ = self.damping

    def state_dict(self):
        return {"t": self.t, "damping_": self.damping_}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.damping_ = float(state.get("damping_", self.damping))

    def get_config(self):
        cfg = super().get_config()
        for counter in ("weight_decay", "n_hvp", "n_evals"):
            cfg.pop(counter, None)
        return cfg

    def step(self, theta, grad, lr=None, closure=None):
        """One (damped) Newton step on the objective ``closure`` at ``theta`` (in place)."""
        curvature = _Curvature(closure, theta, type(self).__name__)
        self._check_size(theta)
        lr = self.lr if lr is None else lr
        self.t += 1
        self._update(theta, grad, lr, curvature)

    def _check_size(self, theta):
        pass


class Newton(_SecondOrder):
    r"""Newton's method with the exact Hessian over θ, damped à la Levenberg–Marquardt.

    .. math::

        \theta_{t+1} = \theta_t - \alpha\, (H + \lambda I)^{-1} \nabla J(\theta_t),
        \qquad H = \nabla^2 J(\theta_t)

    α is ``lr`` (1 on the slide: no learning rate needed), λ is the damping, starting at
    ``damping``. H is logistic regression's closed form
    :math:`\tfrac1m \tilde X^T \operatorname{diag}(p(1-p))\tilde X` when the model is
    ``[Dense(n, 1), Sigmoid()]`` with BinaryCrossEntropy, otherwise it is assembled from d exact
    Hessian-vector products (:func:`neuralab.hessian.hessian`).

    Parameters
    ----------
    damping : float ≥ 0, default 1e-4
        Initial λ (in units of the loss's curvature).
    lr : float > 0, default 1.0
    adaptive : bool, default True
        Levenberg–Marquardt: a step that raises the loss is undone and retried with
        λ ← ``increase``·λ (also while H + λI is not positive definite); an accepted step sets
        λ ← ``decrease``·λ. Without it every step is taken as is (H + λI must stay invertible).
    increase, decrease : float, default 3 and 1/3
        Factors > 1 and in (0, 1]; gentle factors keep λ near the smallest that makes
        H + λI positive definite, where the step is closest to Newton's.
    max_tries : int ≥ 1, default 30
        Retries per step before giving up (θ is then left unchanged).
    max_params : int ≥ 1, default 5000
        Above this many parameters the d×d Hessian (O(d²) memory, O(d³) solve) is refused
        with an error pointing to :class:`NewtonCG`.

    Attributes
    ----------
    damping_ : float
        The current λ.
    hessian_ : ndarray (d, d)
        The Hessian used by the last step.

    Examples
    --------
    >>> import numpy as np, neuralab as nl
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(200, 3))
    >>> y = (X @ [1.0, -2.0, 0.5] + rng.normal(size=200) > 0).astype(float)
    >>> model = nl.LogisticRegression(3, dtype="float64")
    >>> h = nl.fit(model, X, y, optimizer=nl.optim.Newton(), epochs=8, batch_size=None)
    >>> bool(np.linalg.norm(model.grads) < 1e-10)
    True
    """

    names = ("newton",)

    def __init__(self, damping: float = 1e-4, lr: float = 1.0, adaptive: bool = True,
                 increase: float = 3.0, decrease: float = 1.0 / 3.0, max_tries: int = 30,
                 max_params: int = 5000):
        super().__init__(lr, damping, increase, decrease)
        self.adaptive = bool(adaptive)
        self.max_tries = check_int(max_tries, "max_tries", minimum=1)
        self.max_params = check_int(max_params, "max_params", minimum=1)
        self.hessian_ = None

    def _check_size(self, theta):
        d = theta.size
        if d > self.max_params:
            raise ValueError(
                f"Newton: the model has {d:,} parameters, above max_params={self.max_params:,}; "
                f"its dense Hessian would take {d * d * 8 / 2**20:,.0f} MiB and an O(d³) solve. "
                "Use nl.optim.NewtonCG (matrix-free Hessian-vector products), or raise "
                "max_params if you really want the dense Hessian")

    def _update(self, theta, grad, lr, c):
        g = np.array(grad, dtype=np.float64)  # a copy: grad may alias model.grads
        f0 = c.value()
        H = np.array(c.hessian(), dtype=np.float64)
        H = 0.5 * (H + H.T)
        self.hessian_ = H
        scale = max(float(np.mean(np.abs(np.diag(H)))), np.finfo(np.float64).tiny)
        theta0 = theta.copy()
        eye = np.eye(H.shape[0])
        for _ in range(self.max_tries):
            try:
                factor = cho_factor(H + self.damping_ * eye, check_finite=False)
            except np.linalg.LinAlgError:
                if not self.adaptive:
                    raise ValueError("Newton: H + damping·I is not positive definite (a "
                                     "non-convex region); set adaptive=True or raise "
                                     "damping") from None
                self._bump(scale)
                continue
            p = cho_solve(factor, g, check_finite=False)  # (H + λI)⁻¹ g
            theta[...] = theta0 - lr * p
            f = c.value()
            if not self.adaptive:
                return
            if np.isfinite(f) and f <= f0 + _rounding_slack(f0):
                self.damping_ *= self.decrease
                return
            self._bump(scale)
        theta[...] = theta0  # no acceptable step: stay put

    def _bump(self, scale):
        self.damping_ = max(self.damping_ * self.increase, 1e-8 * scale)


class NewtonCG(_SecondOrder):
    r"""Hessian-free Newton: truncated conjugate gradient on the damped Newton system.

    Each step solves, without forming any matrix,

    .. math::

        (B + \lambda I)\, p = -\nabla J(\theta_t), \qquad
        \theta_{t+1} = \theta_t + \alpha\, p

    with at most ``max_cg_iter`` conjugate-gradient iterations, each one product
    :math:`Bv` (:func:`neuralab.hessian.hvp`). B is the Gauss–Newton matrix
    (``curvature="gauss_newton"``, positive semi-definite: Martens' Hessian-free) or the exact
    Hessian (``"hessian"``; CG then stops at the first direction of negative curvature, as
    Steihaug's). α is ``lr``, λ the damping, adapted by the ratio ρ of the actual to the
    predicted decrease of J: λ ← ``increase``·λ when ρ < 1/4 and λ ← ``decrease``·λ when
    ρ > 3/4. A step that raises the loss is halved up to ``max_backtracks`` times, then undone.
    Work is O(d) memory plus the activations of one batch, so it runs on 10⁵–10⁶ parameters.

    Parameters
    ----------
    damping : float ≥ 0, default 0.01
        Initial λ (the loss is a batch mean: curvatures are O(1)).
    lr : float > 0, default 1.0
    max_cg_iter : int ≥ 1, default 10
    cg_tol : float > 0, default 1e-4
        CG stops once ‖r‖ ≤ ``cg_tol``·‖∇J‖.
    curvature : {"gauss_newton", "hessian"}
    increase, decrease : float, default 1.5 and 2/3 (Martens 2010)
    max_backtracks : int ≥ 0, default 8

    Attributes
    ----------
    damping_ : float
    n_hvp, n_evals : int
        Curvature products and (forward-only) loss evaluations so far, for cost accounting;
        one product costs about two gradient evaluations.
    cg_iters_ : int
        CG iterations of the last step.
    """

    names = ("newton_cg", "newtoncg")

    def __init__(self, damping: float = 0.01, lr: float = 1.0, max_cg_iter: int = 10,
                 cg_tol: float = 1e-4, curvature: str = "gauss_newton",
                 increase: float = 1.5, decrease: float = 2.0 / 3.0, max_backtracks: int = 8):
        super().__init__(lr, damping, increase, decrease)
        self.max_cg_iter = check_int(max_cg_iter, "max_cg_iter", minimum=1)
        self.cg_tol = check_float(cg_tol, "cg_tol", low=0.0, low_inclusive=False)
        if curvature not in ("gauss_newton", "hessian"):
            raise ValueError(f"curvature must be 'gauss_newton' or 'hessian', got {curvature!r}")
        self.curvature = curvature
        self.max_backtracks = check_int(max_backtracks, "max_backtracks", minimum=0)
        self.n_hvp = self.n_evals = self.cg_iters_ = 0

    def _product(self, c, v):
        self.n_hvp += 1
        Bv = c.hvp(v, self.curvature == "gauss_newton")
        Bv += self.damping_ * v
        return Bv

    def _cg(self, c, g):
        """Truncated CG for (B + λI) p = −g from p = 0; returns p and the model decrease."""
        p = np.zeros_like(g)
        r = -g                                    # r = −g − (B + λI) p
        d = r.copy()
        rr = float(r @ r)
        stop = (self.cg_tol * np.sqrt(float(g @ g))) ** 2
        for i in range(self.max_cg_iter):
            Ad = self._product(c, d)
            dAd = float(d @ Ad)
            if dAd <= 0:                          # negative curvature: stop (Steihaug)
                if i == 0:
                    p = r.copy()                  # steepest descent; the line search scales it
                break
            a = rr / dAd
            p += a * d
            r -= a * Ad
            rr_new = float(r @ r)
            self.cg_iters_ = i + 1
            if rr_new <= stop:
                break
            d *= rr_new / rr
            d += r
            rr = rr_new
        return p, r

    def _update(self, theta, grad, lr, c):
        self.n_evals += 1
        f0 = c.value()
        g = np.array(grad, dtype=theta.dtype)
        self.cg_iters_ = 0
        p, r = self._cg(c, g)
        # the quadratic model's change at α p:  α gᵀp + ½α² pᵀ(B + λI)p, pᵀ(B+λI)p = −pᵀ(g + r)
        gp, pAp = float(g @ p), -float(p @ (g + r))
        theta0 = theta.copy()
        alpha = lr
        for _ in range(self.max_backtracks + 1):
            theta[...] = theta0 + alpha * p
            self.n_evals += 1
            f = c.value()
            if np.isfinite(f) and f <= f0 + _rounding_slack(f0):
                predicted = alpha * gp + 0.5 * alpha * alpha * pAp
                rho = (f - f0) / predicted if predicted < 0 else 0.0
                if rho < 0.25:
                    self.damping_ = max(self.damping_ * self.increase, 1e-8)
                elif rho > 0.75:
                    self.damping_ *= self.decrease
                return
            alpha *= 0.5
        theta[...] = theta0
        self.damping_ = max(self.damping_ * self.increase, 1e-8)

