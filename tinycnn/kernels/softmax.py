"""Fast softmax / log-softmax over the last axis (Numba, one row per task).

Three passes over each row: its max m; e_k = exp(x_k - m) (written to the output) and their
sum, accumulated in float64; then the scaling e_k / sum (or, for log-softmax,
x_k - m - log(sum)).
"""

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401
from .helpers import as_rows


def _rows(a, dtype):
    """as_rows, and a 0-d array as one row of one value."""
    return as_rows(a, dtype) if np.ndim(a) else np.asarray(a, dtype=dtype).reshape(1, 1)


@njit(parallel=True, cache=True)
def _softmax_rows(x, log, y):
    R, K = x.shape
    for r in prange(R):
        m = x[r, 0]
        for k in range(1, K):
            m = max(m, x[r, k])
        total = 0.0
        for k in range(K):
            e = np.exp(np.float64(x[r, k]) - m)
            total += e
            y[r, k] = e
        if log:
            lse = np.log(total)
            for k in range(K):
                y[r, k] = (x[r, k] - m) - lse
        else:
            inv = 1.0 / total
            for k in range(K):
                y[r, k] = y[r, k] * inv


@njit(parallel=True, cache=True)
def _softmax_backward_rows(dy, y, log, dx):
    R, K = dy.shape
    for r in prange(R):
        total = 0.0
        if log:
            for k in range(K):
                total += dy[r, k]
            for k in range(K):
                dx[r, k] = dy[r, k] - np.exp(np.float64(y[r, k])) * total
        else:
            for k in range(K):
                total += dy[r, k] * y[r, k]
            for k in range(K):
                dx[r, k] = y[r, k] * (dy[r, k] - total)


def _apply(x, log):
    dtype = np.result_type(x.dtype, np.float32)
    x2 = _rows(x, dtype)
    y = np.empty_like(x2)
    _softmax_rows(x2, log, y)
    return y.reshape(np.shape(x))


def _apply_backward(dy, y, log):
    dtype = np.result_type(dy, y)
    dy2 = _rows(dy, dtype)
    dx = np.empty_like(dy2)
    _softmax_backward_rows(dy2, _rows(y, dtype), log, dx)
    return dx.reshape(np.shape(dy))


def softmax_forward(x):
    """forward: y_k = exp(x_k - max x) / sum_j exp(x_j - max x) over the last axis.
    backward: softmax_backward.   shape: like x."""
    return _apply(x, False)


def softmax_backward(dy, y):
    """backward (from the output y): dx_k = y_k * (dy_k - sum_j dy_j * y_j);  shape like dy."""
    return _apply_backward(dy, y, False)


def log_softmax_forward(x):
    """forward: y_k = x_k - max x - log sum_j exp(x_j - max x)   (log-sum-exp, stable).
    backward: log_softmax_backward.   shape: like x."""
    return _apply(x, True)


def log_softmax_backward(dy, y):
    """backward (from the output y = log softmax): dx_k = dy_k - exp(y_k) * sum_j dy_j."""
    return _apply_backward(dy, y, True)
