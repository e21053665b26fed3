"""tinycnn: a convolutional-network framework written from scratch in NumPy and Numba.

Read the code in the order of the README's "Read the code in this order".  Importing
``tinycnn`` (or ``tinycnn.tensor``) loads numpy only: the kernels (Numba), the layers and
the figures (matplotlib) load when they are first used (``tc.nn``, ``tc.functional``, ...
are imported on first access), so a learner can run the autograd alone.
"""

import importlib

from .summary import summary
from .tensor import Tensor, concatenate, enable_grad, grad, is_grad_enabled, maximum, no_grad

__version__ = "0.1.0"

#: subpackages reachable as attributes (``tc.nn``), imported the first time they are used
SUBMODULES = ("cam", "data", "files", "functional", "kernels", "metrics", "models", "nn", "optim",
              "plots", "runs", "train")


def __getattr__(name):
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tinycnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(SUBMODULES))


__all__ = ["Tensor", "concatenate", "enable_grad", "grad", "is_grad_enabled", "maximum", "no_grad", "summary"]
