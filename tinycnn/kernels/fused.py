"""Fast batch norm + activation as one op (Numba): the fusion eager PyTorch cannot do.

After a conv, a network computes z = BN(x) and then y = act(z), act one of relu, relu6 and
silu (swish).  Run as two ops, that is three passes over the H×W×C output in the forward
(BN's statistics; BN's apply, writing z; the activation, reading z and writing y) and
three in the backward (the activation's, writing dz; BN's sums over dz; BN's dx).  Here:

* forward, 2 passes: the statistics (``batchnorm._shifted_sums``), then
  y = act((x - mean_c) * scale_c + beta_c) in one pass; z is never written to memory.
* backward, 2 passes: z is recomputed from x (the batch norm's input, kept for its
  gradient anyway) in the pass that forms dz = dy * act'(z) together with batch norm's
  two per-channel sums; the second pass turns dz into dx in place (``batchnorm._train_dx``).

Every float operation is the one batchnorm.py and elementwise.py do, in the same order
and the same precision, so the numbers are bit for bit those of the two separate ops.
The forward hands back ``scale`` (the float gamma_c / sqrt(var_c + eps) it multiplied by)
so that the backward recomputes exactly the z of the forward.
"""

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401
from .batchnorm import _affine, _partial, _train_dx, batch_statistics, train_dx_coefficients
from .elementwise import _ACT
from .fastmath import sigmoid as _sigmoid, silu_grad as _silu_grad   # as elementwise.py (cache note there)
from .helpers import as_rows

#: activation name -> the code elementwise.py's kernels use for it
_BN_ACT = {name: _ACT[name] for name in ("relu", "relu6", "silu")}


def _activation_code(activation):
    if activation not in _BN_ACT:
        raise ValueError(f"batch_norm_activation: activation must be one of {list(_BN_ACT)}, "
                         f"got {activation!r}")
    return _BN_ACT[activation]


@njit(inline="always")
def _activate(z, code):
    """act(z) for code 1 relu, 2 relu6, 4 silu (as elementwise._act_forward computes it)."""
    if code == 1:
        return max(z, 0)
    if code == 2:
        return min(max(z, 0), 6)
    return z * _sigmoid(z)


@njit(inline="always")
def _activation_grad_row(dyf, xf, row, center, scale, offset, code, dzf, C):
    """dz = dy * act'(z) along one row of C values, z = (x - center_c) * scale_c + offset_c
    recomputed (as elementwise._act_backward computes it from its input z).  One loop per
    activation, not a test of ``code`` per value: so that each loop is vectorised."""
    if code == 1:
        for c in range(C):
            z = (xf[row + c] - center[c]) * scale[c] + offset[c]
            dzf[row + c] = dyf[row + c] if z > 0 else 0
    elif code == 2:
        for c in range(C):
            z = (xf[row + c] - center[c]) * scale[c] + offset[c]
            dzf[row + c] = dyf[row + c] if (z > 0 and z < 6) else 0
    else:
        for c in range(C):
            z = (xf[row + c] - center[c]) * scale[c] + offset[c]
            dzf[row + c] = dyf[row + c] * _silu_grad(z)


@njit(parallel=True, cache=True)
def _affine_activation(x, center, scale, offset, code, y):
    """y = act((x - center_c) * scale_c + offset_c): batchnorm._affine and the activation in one pass."""
    M, C = x.shape
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    uC = np.uint64(C)
    nb = (M + 255) // 256
    for b in prange(nb):
        for m in range(b * 256, min(M, (b + 1) * 256)):
            row = np.uint64(m * C)
            for c in range(uC):
                z = (xf[row + c] - center[c]) * scale[c] + offset[c]
                yf[row + c] = _activate(z, code)


@njit(parallel=True, cache=True)
def _activation_grad_sums(dy, x, center, scale, offset, code, stat_center, dz, partial):
    """dz = dy * act'(z) with z = (x - center_c) * scale_c + offset_c recomputed, and per block b
    partial[b, 0, c] = sum dz, partial[b, 1, c] = sum dz * (x - stat_center_c)
    (batchnorm._grad_sums over dz, row by row right after the row's dz is written)."""
    M, C = x.shape
    xf = x.reshape(-1)
    dyf = dy.reshape(-1)
    dzf = dz.reshape(-1)
    uC = np.uint64(C)
    nb = partial.shape[0]
    for b in prange(nb):
        s1 = partial[b, 0]
        s2 = partial[b, 1]
        s1[:] = 0.0
        s2[:] = 0.0
        for m in range(b * M // nb, (b + 1) * M // nb):
            row = np.uint64(m * C)
            _activation_grad_row(dyf, xf, row, center, scale, offset, code, dzf, uC)
            for c in range(uC):                       # the row's dz is still in cache
                g = np.float64(dzf[row + c])
                s1[c] += g
                s2[c] += g * (np.float64(xf[row + c]) - stat_center[c])


def batch_norm_activation_train_forward(x, gamma, beta, eps, activation):
    """Training-mode batch norm and an activation in one op: y = act(BN(x)).

    x: (N, H, W, C) or (N, C); statistics per channel c over the M = N*H*W values.
    activation: "relu", "relu6" or "silu".

    forward:  mean_c = (1/M) sum x,  var_c = (1/M) sum (x - mean_c)^2   (biased)
              scale_c = gamma_c / sqrt(var_c + eps)
              z = (x - mean_c) * scale_c + beta_c,   y = act(z)   (z is never stored)
    backward: batch_norm_activation_train_backward
    shape:    y like x (H×W×C per image); returns (y, mean, var, scale), each of the last
              three (C,): the statistics for the running averages, scale for the backward.
    """
    code = _activation_code(activation)
    dtype = np.result_type(x.dtype, np.float32)
    x2 = as_rows(x, dtype)
    C = x2.shape[1]
    mean, var = batch_statistics(x2)
    scale = (np.asarray(gamma, np.float64) / np.sqrt(var + eps)).astype(dtype)
    y = np.empty_like(x2)
    _affine_activation(x2, mean.astype(dtype), scale, np.asarray(beta, dtype).reshape(C), code, y)
    return y.reshape(x.shape), mean.astype(dtype), var.astype(dtype), scale


def batch_norm_activation_train_backward(dy, x, gamma, beta, mean, var, scale, eps, activation):
    """Gradient of y = act(BN(x)) in training mode (the batch statistics depend on x too).

    backward: z = (x - mean_c) * scale_c + beta_c   (recomputed, the forward's z bit for bit)
              dz = dy * act'(z):  relu [z > 0],  relu6 [0 < z < 6],
                                  silu s + z s (1 - s) with s = sigmoid(z)
              dbeta_c  = sum dz,   dgamma_c = sum dz * x_hat,   x_hat = (x - mean_c) / sqrt(var_c + eps)
              dx = (gamma_c / sqrt(var_c + eps)) * (dz - dbeta_c / M - x_hat * dgamma_c / M)
              (one pass for dz and both sums, one pass for dx)
    shape:    (dx like x, dgamma (C,), dbeta (C,))
    """
    code = _activation_code(activation)
    dtype = np.result_type(dy, x)
    x2 = as_rows(x, dtype)
    dy2 = as_rows(dy, dtype)
    M, C = x2.shape
    mean64 = np.asarray(mean, np.float64).reshape(C)
    inv_std = 1.0 / np.sqrt(np.asarray(var, np.float64).reshape(C) + eps)
    dx = np.empty_like(x2)                       # holds dz until the last pass
    partial = _partial(M, C, 2)
    _activation_grad_sums(dy2, x2, np.asarray(mean, dtype).reshape(C), np.asarray(scale, dtype).reshape(C),
                          np.asarray(beta, dtype).reshape(C), code, mean64, dx, partial)
    dbeta, dz_xc = partial.sum(axis=0)
    dgamma = dz_xc * inv_std
    a, b, d = train_dx_coefficients(gamma, inv_std, dgamma, dbeta, M, dtype)
    _train_dx(dx, x2, mean64.astype(dtype), a, b, d, dx)
    return dx.reshape(x.shape), dgamma.astype(dtype), dbeta.astype(dtype)


def _eval_affine(gamma, beta, running_mean, running_var, eps, dtype):
    """(center, scale, offset) of evaluation-mode batch norm, as batch_norm_eval_forward rounds them."""
    scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(running_var, np.float64) + eps)
    return (np.asarray(running_mean, dtype).reshape(-1), scale.astype(dtype).reshape(-1),
            np.asarray(beta, dtype).reshape(-1))


def batch_norm_activation_eval_forward(x, gamma, beta, running_mean, running_var, eps, activation):
    """Evaluation-mode batch norm and an activation in one pass: a per-channel affine map, then act.

    forward:  y = act(gamma_c * (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c)
    backward: batch_norm_activation_eval_backward
    shape:    y like x (H×W×C per image).
    """
    code = _activation_code(activation)
    dtype = np.result_type(x.dtype, np.float32)
    x2 = as_rows(x, dtype)
    y = np.empty_like(x2)
    _affine_activation(x2, *_eval_affine(gamma, beta, running_mean, running_var, eps, dtype), code, y)
    return y.reshape(x.shape)


def batch_norm_activation_eval_backward(dy, x, gamma, beta, running_mean, running_var, eps, activation):
    """Gradient of y = act(BN(x)) in evaluation mode (the statistics are constants).

    backward: z = gamma_c * (x - rm_c) / sqrt(rv_c + eps) + beta_c   (recomputed),  dz = dy * act'(z)
              dx = dz * gamma_c / sqrt(rv_c + eps); dgamma_c = sum dz * x_hat; dbeta_c = sum dz
    shape:    (dx like x, dgamma (C,), dbeta (C,))
    """
    code = _activation_code(activation)
    dtype = np.result_type(dy, x)
    x2 = as_rows(x, dtype)
    dy2 = as_rows(dy, dtype)
    M, C = x2.shape
    rm = np.asarray(running_mean, np.float64).reshape(C)
    inv_std = 1.0 / np.sqrt(np.asarray(running_var, np.float64).reshape(C) + eps)
    dx = np.empty_like(dy2)                      # holds dz until the last pass
    partial = _partial(M, C, 2)
    _activation_grad_sums(dy2, x2, *_eval_affine(gamma, beta, running_mean, running_var, eps, dtype),
                          code, rm, dx, partial)
    dbeta, dz_xc = partial.sum(axis=0)
    k = (np.asarray(gamma, np.float64).reshape(C) * inv_std).astype(dtype)
    zeros = np.zeros(C, dtype=dtype)
    _affine(dx, zeros, k, zeros, dx)             # dx = dz * k, in place
    return dx.reshape(dy.shape), (dz_xc * inv_std).astype(dtype), dbeta.astype(dtype)
