"""Helpers shared by the fast kernels: one copy of each, imported from here by every kernel.

* ``common_dtype``     the float dtype two or more input arrays are computed in
* ``as_rows``          an (N, ..., C) array as a contiguous (M, C) matrix (free in NHWC)
* ``matmul_tn``        a.T @ b, the weight-gradient GEMM, in the orientation BLAS does well
* ``tap_range``        (Numba) which output positions a kernel window at a given input index covers
* ``parallel_blocks``  how many per-thread partial sums to split a reduction into

The reference kernels (``reference.py``) use none of them: they stay plain NumPy.
"""

import numba
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


def matmul_tn(a, b):
    """a.T @ b for a (M, P) and b (M, Q): the weight-gradient GEMM, summed over M rows.

    Computed as (b.T @ a).T when P < Q: OpenBLAS splits a wide-short result with a long
    reduction badly and can be many times slower that way when the cores are busy (the
    measurement is in benchmarks/RESULTS.md, "Notes moved out of code comments").
    Returns a view; the values are the same either way.
    """
    if a.shape[1] >= b.shape[1]:
        return a.T @ b
    return (b.T @ a).T


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


def parallel_blocks(n_items, per_thread=4):
    """How many blocks to split ``n_items`` independent rows into for per-thread partial sums."""
    return max(1, min(n_items, numba.get_num_threads() * per_thread))
