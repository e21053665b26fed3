"""tinycnn: a convolutional-network framework written from scratch in NumPy and Numba.

Read the code in this order (the README's "Read the code in this order" says more):
kernels/shapes.py -> kernels/reference.py -> tensor.py -> functional.py -> the fast kernels ->
nn/ -> models/ -> summary.py -> optim.py -> data/, metrics.py, plots.py, train.py -> gradcam.py.
"""

from .tensor import Tensor, concatenate, enable_grad, grad, is_grad_enabled, maximum, no_grad
from .summary import summary

__version__ = "0.1.0"

__all__ = ["Tensor", "concatenate", "enable_grad", "grad", "is_grad_enabled", "maximum", "no_grad", "summary"]
