"""Fast batch normalisation (Numba): per-channel statistics in one pass, then one apply pass.

The input (N, H, W, C) or (N, C) is viewed as a (M, C) matrix (M = N*H*W rows, free in
NHWC).  Threads take blocks of rows and keep per-block partial sums in float64, which are
added at the end.  The statistics pass sums ``x - K`` and ``(x - K)^2`` with a per-channel
shift K (the first row): one read of x instead of two, and no catastrophic cancellation
in var = E[(x-K)^2] - E[x-K]^2 while K is close to the mean.
"""

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401
from . import reference
from .helpers import as_rows, parallel_blocks


def _partial(M, C, k=1):
    return np.empty((parallel_blocks(M), k, C), dtype=np.float64)


@njit(parallel=True, cache=True)
def _shifted_sums(x, shift, partial):
    """partial[b, 0, c] = sum (x - shift_c), partial[b, 1, c] = sum (x - shift_c)^2 over block b."""
    M, C = x.shape
    xf = x.reshape(-1)
    uC = np.uint64(C)
    nb = partial.shape[0]
    for b in prange(nb):
        s1 = partial[b, 0]
        s2 = partial[b, 1]
        s1[:] = 0.0
        s2[:] = 0.0
        for m in range(b * M // nb, (b + 1) * M // nb):
            row = np.uint64(m * C)
            for c in range(uC):
                d = np.float64(xf[row + c]) - shift[c]
                s1[c] += d
                s2[c] += d * d


@njit(parallel=True, cache=True)
def _affine(x, center, scale, offset, y):
    """y = (x - center_c) * scale_c + offset_c."""
    M, C = x.shape
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    uC = np.uint64(C)
    nb = (M + 255) // 256
    for b in prange(nb):
        for m in range(b * 256, min(M, (b + 1) * 256)):
            row = np.uint64(m * C)
            for c in range(uC):
                yf[row + c] = (xf[row + c] - center[c]) * scale[c] + offset[c]


@njit(parallel=True, cache=True)
def _grad_sums(dy, x, center, partial):
    """partial[b, 0, c] = sum dy, partial[b, 1, c] = sum dy * (x - center_c) over block b."""
    M, C = x.shape
    xf = x.reshape(-1)
    dyf = dy.reshape(-1)
    uC = np.uint64(C)
    nb = partial.shape[0]
    for b in prange(nb):
        s1 = partial[b, 0]
        s2 = partial[b, 1]
        s1[:] = 0.0
        s2[:] = 0.0
        for m in range(b * M // nb, (b + 1) * M // nb):
            row = np.uint64(m * C)
            for c in range(uC):
                g = np.float64(dyf[row + c])
                s1[c] += g
                s2[c] += g * (np.float64(xf[row + c]) - center[c])


@njit(parallel=True, cache=True)
def _train_dx(dy, x, center, a, b, d, dx):
    """dx = a_c * dy + b_c * (x - center_c) + d_c."""
    M, C = x.shape
    xf = x.reshape(-1)
    dyf = dy.reshape(-1)
    dxf = dx.reshape(-1)
    uC = np.uint64(C)
    nb = (M + 255) // 256
    for blk in prange(nb):
        for m in range(blk * 256, min(M, (blk + 1) * 256)):
            row = np.uint64(m * C)
            for c in range(uC):
                dxf[row + c] = a[c] * dyf[row + c] + b[c] * (xf[row + c] - center[c]) + d[c]


def batch_statistics(x2):
    """Per-channel mean and biased variance (float64) of the (M, C) rows, by shifted sums:
    mean_c = shift_c + (1/M) sum (x - shift_c),  var_c = (1/M) sum (x - shift_c)^2 - (mean_c - shift_c)^2
    with shift = the first row (so the sums stay small and the subtraction exact enough)."""
    M, C = x2.shape
    shift = x2[0].astype(np.float64)
    partial = _partial(M, C, 2)
    _shifted_sums(x2, shift, partial)
    s1, s2 = partial.sum(axis=0)
    mean_shifted = s1 / M
    return shift + mean_shifted, np.maximum(s2 / M - mean_shifted ** 2, 0.0)


def train_dx_coefficients(gamma, inv_std, dgamma, dbeta, M, dtype):
    """(a, b, d) of dx = a_c * dy + b_c * (x - mean_c) + d_c, the training-mode backward:
    a = gamma_c / sqrt(var_c + eps),  b = -a * dgamma_c / (M sqrt(var_c + eps)),  d = -a * dbeta_c / M."""
    k = np.asarray(gamma, np.float64).reshape(-1) * inv_std
    return k.astype(dtype), (-k * inv_std * dgamma / M).astype(dtype), (-k * dbeta / M).astype(dtype)


def batch_norm_train_forward(x, gamma, beta, eps):
    """Batch norm in training mode: normalise with the statistics of this batch.

    x: (N, H, W, C) or (N, C); statistics per channel c over every other axis (M values).

    forward:  mean_c = (1/M) sum x,  var_c = (1/M) sum (x - mean_c)^2   (biased)
              x_hat = (x - mean_c) / sqrt(var_c + eps),   y = gamma_c * x_hat + beta_c
              (statistics: one pass of shifted float64 sums; then y in one pass)
    backward: batch_norm_train_backward
    shape:    y like x; returns (y, mean, var) so backward and the running averages can use them.
    """
    dtype = np.result_type(x.dtype, np.float32)
    x2 = as_rows(x, dtype)
    C = x2.shape[1]
    mean, var = batch_statistics(x2)
    scale = np.asarray(gamma, np.float64) / np.sqrt(var + eps)
    y = np.empty_like(x2)
    _affine(x2, mean.astype(dtype), scale.astype(dtype),
            np.asarray(beta, dtype=dtype).reshape(C), y)
    return y.reshape(x.shape), mean.astype(dtype), var.astype(dtype)


def batch_norm_train_backward(dy, x, gamma, mean, var, eps):
    """Gradient of training-mode batch norm (the batch statistics depend on x too).

    backward: dbeta_c  = sum dy
              dgamma_c = sum dy * x_hat
              dx = (gamma_c / sqrt(var_c + eps)) * (dy - dbeta_c / M - x_hat * dgamma_c / M)
              (one pass for both sums, one pass for dx)
    shape:    (dx like x, dgamma (C,), dbeta (C,))
    """
    dtype = np.result_type(dy, x)
    x2 = as_rows(x, dtype)
    dy2 = as_rows(dy, dtype)
    M, C = x2.shape
    mean64 = np.asarray(mean, np.float64).reshape(C)
    inv_std = 1.0 / np.sqrt(np.asarray(var, np.float64).reshape(C) + eps)
    partial = _partial(M, C, 2)
    _grad_sums(dy2, x2, mean64, partial)
    dbeta, dy_xc = partial.sum(axis=0)
    dgamma = dy_xc * inv_std
    a, b, d = train_dx_coefficients(gamma, inv_std, dgamma, dbeta, M, dtype)
    dx = np.empty_like(x2)
    _train_dx(dy2, x2, mean64.astype(dtype), a, b, d, dx)
    return dx.reshape(x.shape), dgamma.astype(dtype), dbeta.astype(dtype)


def batch_norm_eval_forward(x, gamma, beta, running_mean, running_var, eps):
    """Batch norm in evaluation mode: a fixed per-channel affine map.

    forward:  y = gamma_c * (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c
    backward: batch_norm_eval_backward
    shape:    y like x.
    """
    dtype = np.result_type(x.dtype, np.float32)
    x2 = as_rows(x, dtype)
    C = x2.shape[1]
    scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(running_var, np.float64) + eps)
    y = np.empty_like(x2)
    _affine(x2, np.asarray(running_mean, dtype).reshape(C), scale.astype(dtype).reshape(C),
            np.asarray(beta, dtype).reshape(C), y)
    return y.reshape(x.shape)


def batch_norm_eval_backward(dy, x, gamma, running_mean, running_var, eps):
    """Gradient of evaluation-mode batch norm (the statistics are constants).

    backward: dx = dy * gamma_c / sqrt(rv_c + eps); dgamma_c = sum dy * x_hat; dbeta_c = sum dy
    shape:    (dx like x, dgamma (C,), dbeta (C,))
    """
    dtype = np.result_type(dy, x)
    x2 = as_rows(x, dtype)
    dy2 = as_rows(dy, dtype)
    M, C = x2.shape
    rm = np.asarray(running_mean, np.float64).reshape(C)
    inv_std = 1.0 / np.sqrt(np.asarray(running_var, np.float64).reshape(C) + eps)
    partial = _partial(M, C, 2)
    _grad_sums(dy2, x2, rm, partial)
    dbeta, dy_xc = partial.sum(axis=0)
    k = (np.asarray(gamma, np.float64).reshape(C) * inv_std).astype(dtype)
    dx = np.empty_like(dy2)
    zeros = np.zeros(C, dtype=dtype)
    _affine(dy2, zeros, k, zeros, dx)
    return dx.reshape(dy.shape), (dy_xc * inv_std).astype(dtype), dbeta.astype(dtype)


# Only C numbers, nothing to speed up: the reference version serves both.
batch_norm_update_running = reference.batch_norm_update_running
