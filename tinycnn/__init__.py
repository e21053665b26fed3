"""tinycnn: a convolutional-network framework written from scratch in NumPy and Numba.

Read the code in the order of the README's "Read the code in this order".  Importing
``tinycnn`` (or ``tinycnn.tensor``) loads numpy only: the kernels (Numba), the layers and
the figures (matplotlib) load when they are first used, so a learner can run the autograd
alone.
"""

from .summary import summary
from .tensor import Tensor, concatenate, enable_grad, grad, is_grad_enabled, maximum, no_grad

__version__ = "0.1.0"

__all__ = ["Tensor", "concatenate", "enable_grad", "grad", "is_grad_enabled", "maximum", "no_grad", "summary"]
