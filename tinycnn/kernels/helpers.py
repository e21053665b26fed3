"""Helpers shared by the fast kernels: one copy of each, imported from here by every kernel.

* ``common_dtype``     the float dtype two or more input arrays are computed in
* ``as_rows``          an (N, ..., C) array as a contiguous (M, C) matrix (free in NHWC)
* ``matmul_tn``        a.T @ b, the weight-gradient GEMM (Numba for a long reduction, else BLAS)
* ``tap_range``        (Numba) which output positions a kernel window at a given input index covers
* ``parallel_blocks``  how many per-thread partial sums to split a reduction into
* ``reduction_blocks`` how many blocks matmul_tn's Numba sum splits M rows into (M alone decides)

The reference kernels (``reference.py``) use none of them: they stay plain NumPy.
"""

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401  (sets the threading layer before any parallel kernel)


def common_dtype(*arrays):
    """The dtype NumPy would compute in; float64 when that is not a float type."""
    dtype = np.result_type(*arrays)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def as_rows(a, dtype):
    """(N, ..., C) -> (M, C) of ``dtype``, without copying when ``a`` is already C-contiguous."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return a.reshape(-1, a.shape[-1])


#: matmul_tn sums in Numba when the result is at most this many entries and the reduction
#: is at least LONG_REDUCTION times longer than the result is wide (weight gradients)
SMALL_RESULT, LONG_REDUCTION = 128 * 128, 64


def matmul_tn(a, b):
    """a.T @ b for a (M, P) and b (M, Q): the weight-gradient GEMM, summed over M rows.

    forward:  out[p, q] = sum_m a[m, p] * b[m, q]          shape: (P, Q)

    A weight gradient is a small result (P, Q = channels or K_h*K_w*C_in) summed over a
    very long M (every pixel of the batch).  OpenBLAS splits its work over the result, which
    here has too little of it, so it runs such products far below its peak; ``_sum_tn``
    splits M instead (one partial result per block of rows, added at the end).  Other
    shapes go to BLAS, as (b.T @ a).T when P < Q (the orientation it handles better).
    The blocks depend on M only, not on the thread count, so the same inputs give the same
    bits on any machine.  (Measurements: benchmarks/RESULTS.md, "Kernels".)  Returns an
    array or a view of one.
    """
    M, P = a.shape
    Q = b.shape[1]
    if P * Q <= SMALL_RESULT and M >= LONG_REDUCTION * max(P, Q):
        return _sum_tn(np.ascontiguousarray(a), np.ascontiguousarray(b), reduction_blocks(M))
    if P >= Q:
        return a.T @ b
    return (b.T @ a).T


def reduction_blocks(M, rows_per_block=1024, most=16):
    """How many blocks of rows ``_sum_tn`` sums separately: from the length M alone (so the
    rounding does not change with the number of threads), at most ``most``."""
    return int(min(most, max(1, M // rows_per_block)))


@njit(parallel=True, cache=True)
def _sum_tn(a, b, blocks):
    """a.T @ b as ``blocks`` partial sums over contiguous blocks of rows, four rows at a time
    (so each partial result row is loaded and stored once per four rows), then added up."""
    M, P = a.shape
    Q = b.shape[1]
    partial = np.zeros((blocks, P, Q), a.dtype)
    step = ((M + blocks - 1) // blocks + 3) // 4 * 4
    for k in prange(blocks):
        acc = partial[k]
        m, hi = k * step, min(M, (k + 1) * step)
        while m + 4 <= hi:
            for p in range(P):
                a0, a1, a2, a3 = a[m, p], a[m + 1, p], a[m + 2, p], a[m + 3, p]
                for q in range(Q):
                    acc[p, q] += a0 * b[m, q] + a1 * b[m + 1, q] + a2 * b[m + 2, q] + a3 * b[m + 3, q]
            m += 4
        for r in range(m, hi):
            for p in range(P):
                for q in range(Q):
                    acc[p, q] += a[r, p] * b[r, q]
    out = partial[0].copy()
    for k in range(1, blocks):
        out += partial[k]
    return out


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
