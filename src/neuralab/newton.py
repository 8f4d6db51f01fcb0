"""Newton's method and Newton-CG (their home is ``neuralab/optim/newton.py``).

This module keeps the import path ``neuralab.newton`` (``nl.newton.Newton``) working; new code
writes ``nl.optim.Newton`` / ``nl.optim.NewtonCG``.
"""

from .optim.newton import Newton, NewtonCG

__all__ = ["Newton", "NewtonCG"]
