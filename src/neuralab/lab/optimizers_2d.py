"""optimizers-2d: trajectories of every optimizer on two 2-D losses."""

from __future__ import annotations

import numpy as np

from .. import optim
from ._common import Measured, experiment


class Bowl:
    r"""An ill-conditioned quadratic bowl :math:`f(x, y) = \tfrac12 (x^2 + \kappa y^2)`."""

    name = "ill-conditioned bowl (κ = 20)"
    start = np.array([-4.5, 1.5])
    minimum = np.array([0.0, 0.0])
    box = ((-5.0, 1.5), (-2.0, 2.0))

    def __init__(self, kappa: float = 20.0):
        self.kappa = kappa

    def f(self, p):
        return 0.5 * (p[0] ** 2 + self.kappa * p[1] ** 2)

    def grad(self, p):
        return np.array([p[0], self.kappa * p[1]])

    def hessian(self, p):
        return np.diag([1.0, self.kappa])


class Rosenbrock:
    r"""Rosenbrock's banana :math:`f(x, y) = (1 - x)^2 + 100 (y - x^2)^2`, minimum at (1, 1)."""

    name = "Rosenbrock"
    start = np.array([-1.2, 1.0])
    minimum = np.array([1.0, 1.0])
    box = ((-1.6, 1.6), (-0.6, 1.8))

    def f(self, p):
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    def grad(self, p):
        return np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2),
                         200 * (p[1] - p[0] ** 2)])

    def hessian(self, p):
        return np.array([[2 - 400 * (p[1] - 3 * p[0] ** 2), -400 * p[0]],
                         [-400 * p[0], 200.0]])


class _Closure:
    """What ``nl.optim.Newton`` needs from a custom objective, evaluated at ``theta``."""

    def __init__(self, problem, theta):
        self.problem, self.theta = problem, theta

    def value(self):
        return float(self.problem.f(self.theta))

    def hessian(self):
        return self.problem.hessian(self.theta)

    def hvp(self, v, gauss_newton=False):
        return self.problem.hessian(self.theta) @ v


def newton_2d(problem, steps, tol=1e-10):
    r"""``nl.optim.Newton`` with the analytic Hessian:
    :math:`x_{n+1} = x_n - (H_f(x_n) + \lambda I)^{-1} \nabla f(x_n)`, λ adapted à la
    Levenberg–Marquardt (starting at 1e-4; pure Newton wherever the step lowers f)."""
    theta, path = problem.start.astype(float), [problem.start.copy()]
    opt = optim.Newton()
    closure = _Closure(problem, theta)
    for _ in range(steps):
        opt.step(theta, problem.grad(theta), closure=closure)
        path.append(theta.copy())
        if np.linalg.norm(theta - problem.minimum) < tol:
            break
    return np.array(path)


def drive(opt, problem, steps, tol):
    """Run ``opt.step(theta, grad)`` from the problem's start; stop within ``tol`` of the
    minimum. Returns the path (k+1, 2)."""
    theta, path = problem.start.astype(float), [problem.start.copy()]
    for _ in range(steps):
        opt.step(theta, problem.grad(theta))
        path.append(theta.copy())
        if not np.all(np.isfinite(theta)) or np.linalg.norm(theta - problem.minimum) < tol:
            break
    return np.array(path)


# learning rates tuned by hand for each loss (the figure shows them)
_SETTINGS = {
    "bowl": {"GD": dict(lr=0.09), "Momentum": dict(lr=0.02, beta=0.8),
             "AdaGrad": dict(lr=1.0), "RMSProp": dict(lr=0.05), "Adam": dict(lr=0.2)},
    "rosenbrock": {"GD": dict(lr=1e-3), "Momentum": dict(lr=1e-3, beta=0.9),
                   "AdaGrad": dict(lr=0.5), "RMSProp": dict(lr=3e-3), "Adam": dict(lr=0.02)},
}
_CLASSES = {"GD": "SGD", "Momentum": "Momentum", "AdaGrad": "AdaGrad", "RMSProp": "RMSProp",
            "Adam": "Adam"}


@experiment(
    "optimizers-2d", "Optimizers on 2-D losses",
    "Gradient descent follows the steepest slope, so in a narrow valley it zig-zags across "
    "and crawls along; Newton's method uses the curvature and lands in a handful of steps; "
    "Momentum averages the zig-zag away and accelerates along the valley; AdaGrad, RMSProp "
    "and Adam rescale each coordinate by its gradient history.")
def run(quick=False, seed=0):
    """Each optimizer of ``nl.optim`` stepped directly (``opt.step(theta, grad)``) on a
    2-vector θ, on an ill-conditioned bowl and on Rosenbrock's function; steps until
    ‖θ − θ*‖ < 1e-3 (capped)."""
    problems = {"bowl": Bowl(), "rosenbrock": Rosenbrock()}
    caps = {"bowl": 2000, "rosenbrock": 5000 if quick else 50000}
    tol = 1e-3
    paths, steps = {}, {}
    for key, problem in problems.items():
        paths[key] = {"Newton": newton_2d(problem, 100)}
        for label, kwargs in _SETTINGS[key].items():
            opt = getattr(optim, _CLASSES[label])(**kwargs)
            paths[key][label] = drive(opt, problem, caps[key], tol)
        steps[key] = {}
        for label, path in paths[key].items():
            dist = np.linalg.norm(path - problem.minimum, axis=1)
            hit = np.flatnonzero(dist < tol)
            steps[key][label] = int(hit[0]) if hit.size else None
    numbers = {f"steps to ‖θ − θ*‖ < 1e-3: {problems[k].name}":
               {lab: (s if s is not None else f"> {caps[k]}") for lab, s in v.items()}
               for k, v in steps.items()}
    numbers["closest distance to θ*"] = {
        f"{k}: {lab}": float(f"{np.linalg.norm(p - problems[k].minimum, axis=1).min():.3g}")
        for k, d in paths.items() for lab, p in d.items()}
    numbers["learning rates"] = {f"{k}: {lab}": str(kw) for k, d in _SETTINGS.items()
                                 for lab, kw in d.items()}
    b, r = steps["bowl"], steps["rosenbrock"]

    def n(s, cap):
        return cap + 1 if s is None else s

    passed = (b["Newton"] == 1 and r["Newton"] is not None and r["Newton"] <= 50
              and n(b["GD"], caps["bowl"]) >= 20 * b["Newton"]
              and n(r["GD"], caps["rosenbrock"]) >= 100 * r["Newton"]
              and n(b["Momentum"], caps["bowl"]) < n(b["GD"], caps["bowl"])
              and n(r["Momentum"], caps["rosenbrock"]) < n(r["GD"], caps["rosenbrock"]))

    def show(s, cap):
        return f"{s}" if s is not None else f"> {cap}"

    conclusion = (
        f"Steps to reach the minimum (to 1e-3): bowl — Newton {b['Newton']}, GD "
        f"{show(b['GD'], caps['bowl'])}, Momentum {show(b['Momentum'], caps['bowl'])}, AdaGrad "
        f"{show(b['AdaGrad'], caps['bowl'])}, RMSProp {show(b['RMSProp'], caps['bowl'])}, Adam "
        f"{show(b['Adam'], caps['bowl'])}; Rosenbrock — Newton {r['Newton']}, GD "
        f"{show(r['GD'], caps['rosenbrock'])}, Momentum {show(r['Momentum'], caps['rosenbrock'])}"
        f", AdaGrad {show(r['AdaGrad'], caps['rosenbrock'])}, RMSProp "
        f"{show(r['RMSProp'], caps['rosenbrock'])}, Adam {show(r['Adam'], caps['rosenbrock'])}.")

    def plot():
        from . import _plot

        fig, axes = _plot.figure(2, 4, width=4.3, height=4.0,
                                 title="Optimizers on two 2-D losses (★ = minimum)")
        groups = [("GD vs Newton (the slide)", ("GD", "Newton")),
                  ("without vs with Momentum", ("GD", "Momentum")),
                  ("adaptive rates", ("AdaGrad", "RMSProp", "Adam"))]
        for row, (key, problem) in enumerate(problems.items()):
            (x0, x1), (y0, y1) = problem.box
            xx, yy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
            zz = problem.f(np.array([xx, yy]))
            levels = np.geomspace(max(zz.min(), 1e-3), zz.max(), 18)
            for col, (title, labels) in enumerate(groups):
                ax = axes[row, col]
                ax.contour(xx, yy, zz, levels=levels, colors="0.6", linewidths=0.7)
                for label in labels:
                    path = paths[key][label]
                    s = steps[key][label]
                    every = max(1, len(path) // 300)
                    ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1.3, markevery=every,
                            color=_plot.COLORS[label],
                            label=f"{label}: {show(s, caps[key])} steps")
                ax.plot(*problem.minimum, "*", ms=14, color="gold", mec="k")
                ax.plot(*problem.start, "ko", ms=5)
                ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y",
                       title=f"{problem.name.split(' (')[0]}: {title}")
                ax.legend(fontsize=8.5, loc="lower right" if key == "bowl" else "lower left")
            ax = axes[row, 3]
            for label, path in paths[key].items():
                f = np.array([problem.f(p) for p in path]) - problem.f(problem.minimum)
                ax.plot(np.arange(1, len(f) + 1), np.maximum(f, 1e-16),
                        color=_plot.COLORS[label], label=label)
            ax.set(xscale="log", yscale="log", xlabel="step (log)",
                   ylabel="f(θ) − f(θ*) (log)", title="Convergence", ylim=(1e-14, None))
            ax.legend(fontsize=8.5)
        return fig

    return Measured(numbers, conclusion, passed, plot)
