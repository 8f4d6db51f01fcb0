"""Training throughput (samples/s) of neuralab, PyTorch and scikit-learn on one network."""

from __future__ import annotations

import time
import warnings

import numpy as np

import neuralab as nl

from . import machine

LR = 1e-3
#: Seconds to wait before each timed turn (lets idle BLAS/OpenMP threads stop spinning).
PARK = 0.3


def make_data(sizes, n_samples, seed=0):
    """Random float32 inputs (m, n_in) and integer labels, the same for every framework."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], n_samples)
    return X, y


def step_flops(sizes, m) -> float:
    """Matrix-product flops of one training step on a batch of ``m``.

    Per Dense layer (n_in → n_out): forward ``2 m n_in n_out``, backward ``dW`` the same, and
    ``dA`` the same except for the first layer (no gradient for the input).
    """
    total = 0.0
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        total += (2 if i == 0 else 3) * 2.0 * m * a * b
    return total


def n_params(sizes) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def limit_seconds(sizes, m, peak_gflops, bandwidth_gbs) -> float:
    """A simple bound of one step: every product at ``peak_gflops``, Adam's 7 × 4 bytes per
    parameter at ``bandwidth_gbs`` (the report's limit times the products and Adam's pass
    instead: :func:`throughput_table`)."""
    return step_flops(sizes, m) / (peak_gflops * 1e9) + 28.0 * n_params(sizes) / (
        bandwidth_gbs * 1e9)




def _batches(n_samples, m, steps, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n_samples, m) for _ in range(steps)]


def neuralab_runner(sizes, X, y, m, n_steps):
    """``nl.fit`` itself: ``k`` steps are one epoch over ``k × m`` rows (validated, batched,
    checked for divergence, logged), taken in order so that the batches are those of
    :func:`neuralab_loop_runner`; the optimizer's state carries over from call to call."""
    model = nl.MLP(sizes, seed=0)
    opt = nl.optim.Adam(lr=LR)
    idx = np.concatenate(_batches(X.shape[0], m, n_steps))
    Xs, ys = X[idx], y[idx]

    def run_steps(k):
        nl.fit(model, Xs[: k * m], ys[: k * m], optimizer=opt, epochs=1, batch_size=m,
               shuffle=False)

    return run_steps


def neuralab_loop_runner(sizes, X, y, m, n_steps):
    """The bare loop inside ``fit``: gather rows, transpose, loss_and_grad, Adam step."""
    model = nl.MLP(sizes, seed=0)
    loss = nl.CrossEntropy()
    Y = loss.prepare_targets(y, model.n_out, X.shape[0], model.dtype)
    opt = nl.optim.Adam(lr=LR)
    theta, grad = model.params, model.grads
    batches = _batches(X.shape[0], m, n_steps)

    def run_steps(k):
        for idx in batches[:k]:
            model.loss_and_grad(X[idx].T, loss.select(Y, idx), loss)
            opt.step(theta, grad)

    return run_steps


def torch_model(sizes):
    import torch

    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_runner(sizes, X, y, m, n_steps, threads):
    """PyTorch CPU float32: forward, CrossEntropyLoss, backward, Adam, zero_grad(None)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torch_model(sizes)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    crit = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    batches = [torch.from_numpy(idx.astype(np.int64)) for idx in
               _batches(X.shape[0], m, n_steps)]

    def run_steps(k):
        for idx in batches[:k]:
            out = net(Xt[idx])
            crit(out, yt[idx]).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    return run_steps


def jax_available() -> bool:
    """Whether JAX and optax can be imported (the ``bench`` extra); else the column is skipped."""
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError:
        return False
    return True


def jax_runner(sizes, X, y, m, n_steps):
    """JAX + optax on the CPU, float32: forward, softmax cross-entropy, ``value_and_grad``,
    ``optax.adam``, the whole step one ``jax.jit`` program (θ and the moments donated, so
    XLA updates them in place).

    θ starts as neuralab's (``nl.MLP(sizes, seed=0)``, W transposed to rows-as-samples). The
    batches are device arrays made before the clock starts; a turn ends with
    ``block_until_ready`` on θ, so the time covers every step's work, not its dispatch.
    """
    import jax
    import jax.numpy as jnp
    import optax

    ref = nl.MLP(sizes, seed=0)
    params = [(jnp.asarray(d.W.T), jnp.asarray(d.b[:, 0]))
              for d in ref.layers if isinstance(d, nl.Dense)]

    def loss_fn(params, xb, yb):
        a = xb
        for i, (W, b) in enumerate(params):
            a = a @ W + b
            if i < len(params) - 1:
                a = jax.nn.relu(a)
        return optax.softmax_cross_entropy_with_integer_labels(a, yb).mean()

    opt = optax.adam(LR)

    def step(params, state, xb, yb):
        value, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    step = jax.jit(step, donate_argnums=(0, 1))
    batches = [(jax.device_put(X[idx]), jax.device_put(y[idx].astype(np.int32)))
               for idx in _batches(X.shape[0], m, n_steps)]
    carry = [params, opt.init(params)]

    def run_steps(k):
        params, state = carry
        for xb, yb in batches[:k]:
            params, state, _ = step(params, state, xb, yb)
        jax.block_until_ready(params)
        carry[:] = params, state

    run_steps.carry = carry          # θ and optax's state, for the tests
    return run_steps


def sklearn_mlp(sizes, m, **kw):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), solver="adam",
                         learning_rate_init=LR, batch_size=m, alpha=0.0, shuffle=True,
                         tol=0.0, n_iter_no_change=10 ** 9, random_state=0, **kw)


def sklearn_runner(sizes, X, y, m, n_steps):
    """MLPClassifier(solver="adam"): ``partial_fit`` on ``k × m`` samples is ``k`` steps."""
    clf = sklearn_mlp(sizes, m)
    idx = np.concatenate(_batches(X.shape[0], m, n_steps, seed=2))
    Xs, ys = X[idx], y[idx]
    classes = np.arange(sizes[-1])

    def run_steps(k):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(Xs[: k * m], ys[: k * m], classes=classes)

    return run_steps


def interleaved_rates(runners, m, warmup, steps, repeats):
    """Median and best samples/s of each runner.

    The runners take turns, so a burst of load from other processes hits all of them alike.

    Before each turn the process sleeps ``PARK`` seconds: OpenBLAS's and OpenMP's worker
    threads spin for a while after their last task, and on a 2-core machine the spinning
    threads of one library would otherwise slow down the next one.
    """
    for run_steps in runners.values():
        run_steps(warmup)
    rates = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run_steps in runners.items():
            time.sleep(PARK)
            run_steps(1)  # caches warm again after the other frameworks ran
            t0 = time.perf_counter()
            run_steps(steps)
            rates[name].append(steps * m / (time.perf_counter() - t0))
    return ({name: float(np.median(r)) for name, r in rates.items()},
            {name: float(np.max(r)) for name, r in rates.items()})


def throughput_table(configs, peak, bandwidth, warmup, steps, repeats, threads, n_samples,
                     use_jax=None):
    """One row per (name, sizes, batch): samples/s of each framework, ratios, % of the limit.

    JAX runs when it is installed (``use_jax=None``) or when ``use_jax`` is True.

    A timed turn is ``steps`` steps, or with ``steps=None`` one epoch over the ``n_samples``
    rows (``n_samples // m`` steps; one ``fit`` call for neuralab).

    The limit of a step is its matrix products, each at the best time NumPy's BLAS takes
    for its shape alone (:func:`benchmarks.machine.products_seconds`), plus Adam's pass alone
    at its best (:func:`benchmarks.machine.adam_seconds`); ``peak`` (GFLOP/s of a large square
    product) and ``bandwidth`` (of a copy) are kept for the report.
    """
    use_jax = jax_available() if use_jax is None else use_jax
    rows = []
    for name, sizes in configs:
        X, y = make_data(sizes, n_samples)
        for m in (64, 256):
            products = machine.products_seconds(sizes, m, repeats=3 if steps else 20)
            adam = machine.adam_seconds(n_params(sizes), repeats=3 if steps else 20)
            limit = m / (products + adam)
            k = steps or n_samples // m
            n = max(warmup, k)
            runners = {"torch": torch_runner(sizes, X, y, m, n, threads),
                       "neuralab": neuralab_runner(sizes, X, y, m, n),
                       "loop": neuralab_loop_runner(sizes, X, y, m, n),
                       "sklearn": sklearn_runner(sizes, X, y, m, n)}
            if use_jax:
                runners["jax"] = jax_runner(sizes, X, y, m, n)
            rate, best = interleaved_rates(runners, m, warmup, k, repeats)
            rows.append({"net": name, "sizes": "-".join(map(str, sizes)), "batch": m,
                         "limit": limit, "products_ms": 1e3 * products,
                         "products_gflops": step_flops(sizes, m) / products / 1e9,
                         "adam_ms": 1e3 * adam,
                         "adam_gbs": 28.0 * n_params(sizes) / adam / 1e9, **rate, "best": best})
    return rows
