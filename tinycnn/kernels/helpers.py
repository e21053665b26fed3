"""Helpers shared by the fast kernels: one copy of each, imported from here by every kernel.

* ``common_dtype``     the float dtype two or more input arrays are computed in
* ``as_rows``          an (N, ..., C) array as a contiguous (M, C) matrix (free in NHWC)
* ``tap_range``        (Numba) which output positions a kernel window at a given input index covers
* ``parallel_blocks``  how many per-thread partial sums to split a reduction into

The reference kernels (``reference.py``) use none of them: they stay plain NumPy.
"""

import numpy as np
from numba import njit

from . import _threads  # noqa: F401  (sets the threading layer before any parallel kernel)


def common_dtype(*arrays):
    """The dtype NumPy would compute in; float64 when that is not a float type."""
    dtype = np.result_type(*arrays)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def as_rows(a, dtype):
    """(N, ..., C) -> (M, C) of ``dtype``, without copying when ``a`` is already C-contiguous."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return a.reshape(-1, a.shape[-1])


@njit(cache=True)
def tap_range(out_size, index, pad, kernel, stride):
    """Output positions o whose window covers input index: 0 <= index + pad - o*stride < kernel."""
    t = index + pad
    lo = t - kernel + 1
    lo = 0 if lo <= 0 else (lo + stride - 1) // stride
    hi = t // stride
    if hi > out_size - 1:
        hi = out_size - 1
    return lo, hi


#: partial sums per reduction (parallel_blocks): a constant, not the thread count, so that a
#: run's rounding, and so its weights, are the same on any machine; 8 keeps up to 8 threads busy
PARTIAL_SUMS = 8


def parallel_blocks(n_items, blocks=PARTIAL_SUMS):
    """How many blocks to split ``n_items`` independent rows into for partial sums (prange
    spreads the blocks over the threads): ``blocks``, or fewer when there are fewer rows."""
    return max(1, min(n_items, blocks))
