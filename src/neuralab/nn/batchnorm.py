r"""Batch normalization over the examples of a batch (``torch.nn.BatchNorm1d``'s semantics).

Examples are columns here, so each unit (row) i is normalized over the m examples of the batch,
then scaled and shifted by the trainable :math:`\gamma_i` (1 at first) and :math:`\beta_i`
(0 at first), views into θ like a Dense layer's W and b. In training:

.. math::

    \mu = \tfrac1m \textstyle\sum_j Z_{:,j}, \qquad
    \sigma^2 = \tfrac1m \textstyle\sum_j (Z_{:,j} - \mu)^2, \qquad
    \hat Z = \frac{Z - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad
    A = \gamma \odot \hat Z + \beta

and the running statistics (buffers, not θ) move towards the batch's, with the *unbiased*
variance as in PyTorch:

.. math::

    \bar\mu \leftarrow (1 - k)\,\bar\mu + k\,\mu, \qquad
    \bar\sigma^2 \leftarrow (1 - k)\,\bar\sigma^2 + k\,\tfrac{m}{m-1}\sigma^2

with k the ``momentum``. At inference :math:`\hat Z = (Z - \bar\mu)/\sqrt{\bar\sigma^2 +
\epsilon}` and nothing changes. Backward, with ``dA`` per example as everywhere here
(the 1/m of the batch mean is applied to the parameters' gradients):

.. math::

    d\gamma = \tfrac1m \textstyle\sum_j dA_{:,j} \odot \hat Z_{:,j}, \qquad
    d\beta = \tfrac1m \textstyle\sum_j dA_{:,j}, \qquad
    dZ = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}} \odot
    \big(dA - \overline{dA} - \hat Z \odot \overline{dA \odot \hat Z}\big)

(bars: means over the batch). Everything about the layer lives in this file: model files and
checkpoints save its buffers, ONNX exports ``BatchNormalization``, ``torch.nn.BatchNorm1d``
is its twin. The fast path leaves it to the readable layer-by-layer pass, and the
second-order methods refuse it by name: its batch statistics couple the examples, and its
inference form is another function than the one trained.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_float, check_int
from .layers import Layer


class BatchNorm(Layer):
    """Batch normalization of ``n_features`` units; ``momentum`` and ``eps`` as in PyTorch.

    Attributes
    ----------
    gamma, beta : ndarray (n_features, 1)
        Scale and shift, views into the model's θ (and ``dgamma``, ``dbeta`` into ∇θ).
    running_mean, running_var : ndarray (n_features, 1)
        Buffers (0 and 1 at first), updated by training passes only.

    Examples
    --------
    >>> import numpy as np, neuralab as nl
    >>> model = nl.Sequential([nl.Dense(3, 4), nl.BatchNorm(4), nl.ReLU(), nl.Dense(4, 2),
    ...                        nl.Softmax()], seed=0)
    >>> model.layers[1].param_shapes()
    [('gamma', (4, 1)), ('beta', (4, 1))]
    >>> sorted(model.buffers())
    ['1.running_mean', '1.running_var']
    """

    trainable = True
    second_order = False
    _no_second_order = "its batch statistics couple the examples (train it with a " \
                       "first-order optimizer)"
    torch_twin = "BatchNorm1d"

    def __init__(self, n_features: int, momentum: float = 0.1, eps: float = 1e-5):
        self.n_features = check_int(n_features, "n_features", minimum=1)
        self.momentum = check_float(momentum, "momentum", low=0.0, high=1.0)
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
        self.gamma = self.beta = self.dgamma = self.dbeta = None
        self.running_mean = self.running_var = None
        self._cache = None

    # ------------------------------------------------------------------ parameters, buffers
    def param_shapes(self):
        n = self.n_features
        return [("gamma", (n, 1)), ("beta", (n, 1))]

    @classmethod
    def config_n_params(cls, config):
        (n,) = cls._positive_ints(config, "n_features")
        return 2 * n

    def _bind(self, theta, grad):
        n = self.n_features
        self.gamma, self.beta = theta[:n].reshape(n, 1), theta[n:].reshape(n, 1)
        self.dgamma, self.dbeta = grad[:n].reshape(n, 1), grad[n:].reshape(n, 1)

    def init_params(self, rng):
        self.gamma[...] = 1.0
        self.beta[...] = 0.0

    def _setup(self, n_in, dtype):
        self.output_size(n_in)
        self.running_mean = np.zeros((self.n_features, 1), dtype=dtype)
        self.running_var = np.ones((self.n_features, 1), dtype=dtype)

    def buffers(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def output_size(self, n_in):
        if n_in != self.n_features:
            raise ValueError(f"BatchNorm({self.n_features}) receives {n_in} units; use "
                             f"BatchNorm({n_in})")
        return n_in

    # ------------------------------------------------------------------ the formulas
    def forward(self, Z, training=True):
        if not training:
            return (Z - self.running_mean) / np.sqrt(self.running_var + self.eps) \
                * self.gamma + self.beta
        m = Z.shape[1]
        if m < 2:
            raise ValueError("BatchNorm needs at least 2 examples per training batch (the "
                             "variance of one is undefined); use a batch_size that leaves no "
                             "batch of 1")
        mu = Z.mean(axis=1, keepdims=True)
        D = Z - mu
        var = (D * D).mean(axis=1, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        Z_hat = D * inv_std
        k = self.momentum
        self.running_mean *= 1.0 - k
        self.running_mean += k * mu
        self.running_var *= 1.0 - k
        self.running_var += k * var * (m / (m - 1))         # the unbiased variance
        self._cache = (Z_hat, inv_std)
        return self.gamma * Z_hat + self.beta

    def backward(self, dA, need_input_grad=True):
        Z_hat, inv_std = self._cache
        self.dgamma[...] = (dA * Z_hat).mean(axis=1, keepdims=True)
        self.dbeta[...] = dA.mean(axis=1, keepdims=True)
        if not need_input_grad:
            return None
        return (self.gamma * inv_std) * (dA - self.dbeta - Z_hat * self.dgamma)

    def get_config(self):
        return {"n_features": self.n_features, "momentum": self.momentum, "eps": self.eps}

    # ------------------------------------------------------------------ exports
    def onnx_nodes(self, onnx, name, source, out, weights):
        arrays = {"scale": self.gamma, "bias": self.beta, "mean": self.running_mean,
                  "var": self.running_var}
        names = []
        for key, value in arrays.items():
            names.append(f"bn{name}_{key}")
            weights.append(onnx.numpy_helper.from_array(np.array(value[:, 0]), names[-1]))
        return [onnx.helper.make_node("BatchNormalization", [source, *names], [out],
                                      name=f"batchnorm{name}", epsilon=float(self.eps),
                                      momentum=float(1.0 - self.momentum))]

    def to_torch(self, torch, dtype):
        bn = torch.nn.BatchNorm1d(self.n_features, eps=self.eps, momentum=self.momentum,
                                  dtype=dtype)
        with torch.no_grad():
            for target, value in ((bn.weight, self.gamma), (bn.bias, self.beta),
                                  (bn.running_mean, self.running_mean),
                                  (bn.running_var, self.running_var)):
                target.copy_(torch.from_numpy(np.array(value[:, 0])))
        return bn

    @classmethod
    def from_torch(cls, module):
        if module.momentum is None or not module.affine or not module.track_running_stats:
            raise TypeError("BatchNorm1d needs affine=True, track_running_stats=True and a "
                            "momentum (not None)")
        return cls(module.num_features, momentum=module.momentum, eps=module.eps)

    def load_torch(self, module):
        for target, value in ((self.gamma, module.weight), (self.beta, module.bias),
                              (self.running_mean, module.running_mean),
                              (self.running_var, module.running_var)):
            target[:, 0] = value.detach().cpu().numpy()
