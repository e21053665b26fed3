"""tinycnn: a convolutional-network framework written from scratch in NumPy and Numba.

Read the code in this order: kernels/reference.py -> tensor.py -> functional.py ->
nn/ -> models/ -> train.py -> gradcam.py.
"""

from .tensor import Tensor, concatenate, grad, is_grad_enabled, maximum, no_grad
from .summary import summary

__version__ = "0.1.0"

__all__ = ["Tensor", "concatenate", "grad", "is_grad_enabled", "maximum", "no_grad", "summary"]
