"""neuralab's speed benchmark: ``python -m benchmarks`` (``--smoke`` for CI, ``--write``).

Trains the same networks with neuralab, PyTorch (CPU, float32), JAX + optax (one ``jax.jit``
step, when installed) and scikit-learn's ``MLPClassifier`` in one process, on the same random
data, and compares samples per second with each other and with this machine's limit (the
step's matrix products at the speed NumPy's BLAS reaches on their shapes, plus Adam's minimal
memory traffic at the measured copy bandwidth), and profiles the parts of ``nl.fit``'s step.
It also times training to a target test accuracy, Newton's method on logistic regression
against scikit-learn, and the peak memory of each framework.
"""

from .report import main, run

__all__ = ["main", "run"]
