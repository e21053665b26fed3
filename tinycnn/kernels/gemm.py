"""The GEMMs of the convolutions, split over Numba's threads: each thread calls BLAS itself.

Every convolution here ends in a matrix product (GEMM) of a tall matrix, one row per pixel
of the batch (M = N*H*W rows, often 10^4-10^5), with a thin one (C_in x C_out, 16-1152
columns).  ``_threads.py`` gives NumPy's OpenBLAS one thread, so that it never fights
Numba's workers for the cores; a plain ``a @ b`` then runs on one core.  Instead of handing
the work to OpenBLAS's own thread pool (which would start its threads and hand them the
work anew for every product), we split the rows ourselves, inside a ``prange`` loop run by
Numba's workers, and every worker calls OpenBLAS's single-threaded ``cblas_sgemm`` on its
own block of rows (the C function, called through ctypes from compiled code):

    Y = A B:     Y[rows of block k] = A[rows of block k] @ B          (rows are independent)
    Y = A B^T:   the same with B transposed (BLAS reads B by its other stride, no copy)
    Z = A^T B:   Z = sum_k A[block k]^T @ B[block k]                  (a reduction over rows:
                 one partial Z per block, then added up in a fixed order)

Up to ``helpers.PARTIAL_SUMS`` (8) blocks, an even number, from the shapes only (not the
thread count), so the result has the same bits on 1 thread as on 8.  Where the threaded path
does not apply we use NumPy's ``@``: no threaded OpenBLAS build in the process (MKL, Apple
Accelerate: their own threading is then used; a serial OpenBLAS build is not documented as
safe to call from several threads), more than one OpenBLAS thread asked for
(``OPENBLAS_NUM_THREADS``), products too small to split, dtypes other than float32/float64,
an ``out`` that is not a C-contiguous array of the result's dtype.  Sizes that do not fit
are refused, as NumPy does.  (Measurements: benchmarks/RESULTS.md, "Kernels", and
benchmarks/bench_gemm.py.)
"""

import ctypes

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401  (sets the threading layer before any parallel kernel)
from . import blas
from .helpers import PARTIAL_SUMS

#: CBLAS's constants: row-major storage, no transpose, transpose
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

#: products smaller than this many multiply-adds run as one plain BLAS call
SMALL_GEMM = 1 << 18

#: a block holds at least this many rows (fewer blocks for shorter matrices)
MIN_BLOCK_ROWS = 64


def _threaded_build():
    """True if OpenBLAS was built with threads (and so with its locks): openblas_get_parallel
    is 1 (pthreads) or 2 (OpenMP), 0 for a serial build."""
    parallel = blas.openblas_function("openblas_get_parallel")
    return parallel is not None and int(parallel()) != 0


def _load_cblas(name, scalar):
    """OpenBLAS's ``cblas_sgemm`` / ``cblas_dgemm`` with its C signature, or None.

    cblas_?gemm(order, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    the sizes are 64-bit integers in a build whose configuration says USE64BITINT (NumPy's
    wheels), C ints otherwise.  None also for a serial (not threaded) OpenBLAS build, or one
    whose configuration cannot be read.
    """
    function, config = blas.openblas_function(name), blas.openblas_config()
    if function is None or config is None or not _threaded_build():
        return None
    size = ctypes.c_int64 if "USE64BITINT" in config else ctypes.c_int
    enum, pointer = ctypes.c_int, ctypes.c_void_p
    function.restype = None
    function.argtypes = [enum, enum, enum, size, size, size, scalar, pointer, size,
                         pointer, size, scalar, pointer, size]
    return function


_CBLAS = {np.dtype(np.float32): _load_cblas("cblas_sgemm", ctypes.c_float),
          np.dtype(np.float64): _load_cblas("cblas_dgemm", ctypes.c_double)}


def _threaded_gemm(dtype, M, multiply_adds):
    """The cblas function to split a GEMM of M rows with, or None for NumPy's ``@``."""
    function = _CBLAS.get(np.dtype(dtype))
    if function is None or multiply_adds < SMALL_GEMM or M < 2 * MIN_BLOCK_ROWS:
        return None
    # asked before every product: the user may change the count (e.g. with threadpoolctl)
    return function if blas.blas_threads() == 1 else None


def _even_blocks(n):
    """n blocks rounded down to an even number (two threads get equal shares), 1 stays 1."""
    n = int(max(1, min(PARTIAL_SUMS, n)))
    return n if n == 1 else n - n % 2


def gemm_blocks(M):
    """How many blocks of rows a GEMM of M rows is split into: from M alone."""
    return _even_blocks(M // MIN_BLOCK_ROWS)


def sum_blocks(M, P, Q):
    """How many partial (P, Q) results ``matmul_tn`` sums M rows into: fewer for a wide
    result (each partial costs P*Q additions at the end), at least 2 (both cores busy),
    at most PARTIAL_SUMS; from the shapes alone."""
    return max(2, _even_blocks(M // (8 * (P + Q))))


def _rows(a):
    return np.ascontiguousarray(a)


def matmul(a, b, out=None):
    """a @ b for a (M, K) and b (K, N): out[m, n] = sum_k a[m, k] b[k, n]; shape (M, N).

    Split by rows over Numba's threads (see the module docstring).  ``out``, if given, must
    have shape (M, N); it is filled and returned (by NumPy's ``@`` unless it is a writeable,
    C-contiguous array of the inputs' dtype that overlaps neither input).
    """
    return _product(a, b, out, transpose_b=False)


def matmul_nt(a, b, out=None):
    """a @ b.T for a (M, K) and b (N, K): out[m, n] = sum_k a[m, k] b[n, k]; shape (M, N).

    The backward of Y = X W w.r.t. X (dX = dY W^T), split by rows like ``matmul``.
    """
    return _product(a, b, out, transpose_b=True)


def _check_sizes(op, a_shape, b_shape, inner_a, inner_b):
    """Refuse a product whose summed axis has inner_a entries in a and inner_b in b."""
    if inner_a != inner_b:
        raise ValueError(f"{op}: the shapes {a_shape} and {b_shape} do not fit: "
                         f"{inner_a} against {inner_b} along the summed axis")


def _fillable(out, a, b):
    """True if the threaded kernel may write ``out``: the inputs' dtype, C-contiguous,
    writeable, and sharing no memory with a or b (NumPy's @ handles every other case)."""
    return (a.dtype == b.dtype == out.dtype and out.flags.c_contiguous and out.flags.writeable
            and not np.may_share_memory(out, a) and not np.may_share_memory(out, b))


def _product(a, b, out, transpose_b):
    op = "matmul_nt" if transpose_b else "matmul"
    M, K = a.shape
    N, K_b = b.shape if transpose_b else b.shape[::-1]
    _check_sizes(op, a.shape, b.shape, K, K_b)
    if out is None:
        out = np.empty((M, N), dtype=np.result_type(a, b))
    elif out.shape != (M, N):
        raise ValueError(f"{op}: out must have shape {(M, N)}, got {out.shape}")
    gemm = _threaded_gemm(out.dtype, M, M * K * N)
    if gemm is None or not _fillable(out, a, b):
        return np.matmul(a, b.T if transpose_b else b, out=out)
    _gemm_rows(gemm, _rows(a), _rows(b), transpose_b, out, gemm_blocks(M))
    return out


def matmul_tn(a, b):
    """a.T @ b for a (M, P) and b (M, Q): out[p, q] = sum_m a[m, p] b[m, q]; shape (P, Q).

    The weight gradient (dW = X^T dY): a small result summed over a long M (every pixel of
    the batch).  Split into blocks of rows, one partial (P, Q) result per block, added in a
    fixed order.  Returns a C-contiguous array.
    """
    M, P = a.shape
    Q = b.shape[1]
    _check_sizes("matmul_tn", a.shape, b.shape, M, b.shape[0])
    gemm = _threaded_gemm(np.result_type(a, b), M, M * P * Q)
    if gemm is None or a.dtype != b.dtype:
        return np.ascontiguousarray(a.T @ b)
    return _gemm_tn_sum(gemm, _rows(a), _rows(b), sum_blocks(M, P, Q))


@njit(parallel=True, cache=True)
def _gemm_rows(gemm, a, b, transpose_b, out, blocks):
    """out[block] = a[block] @ b (or @ b.T) for ``blocks`` contiguous blocks of rows, each
    block one single-threaded BLAS call on the thread that runs it."""
    M, K = a.shape
    N = out.shape[1]
    trans = TRANS if transpose_b else NO_TRANS
    ldb = K if transpose_b else N
    step = (M + blocks - 1) // blocks
    for k in prange(blocks):
        lo = k * step
        rows = min(M, lo + step) - lo
        if rows > 0:
            gemm(ROW_MAJOR, NO_TRANS, trans, rows, N, K, 1.0, a[lo:].ctypes.data, K,
                 b.ctypes.data, ldb, 0.0, out[lo:].ctypes.data, N)


@njit(parallel=True, cache=True)
def _gemm_tn_sum(gemm, a, b, blocks):
    """sum over blocks k of a[block k].T @ b[block k]: one BLAS call per block into its own
    partial result (threads never write the same memory), then the partials added in order."""
    M, P = a.shape
    Q = b.shape[1]
    partial = np.zeros((blocks, P, Q), a.dtype)
    step = (M + blocks - 1) // blocks
    for k in prange(blocks):
        lo = k * step
        rows = min(M, lo + step) - lo
        if rows > 0:
            gemm(ROW_MAJOR, TRANS, NO_TRANS, P, Q, rows, 1.0, a[lo:].ctypes.data, P,
                 b[lo:].ctypes.data, Q, 0.0, partial[k].ctypes.data, Q)
    out = partial[0].copy()
    for k in range(1, blocks):
        out += partial[k]
    return out
