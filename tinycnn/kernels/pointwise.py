"""Fast pointwise (1x1) convolution: a single GEMM, no copies.

A 1x1 convolution is a Dense layer applied at every pixel.  In NHWC a contiguous
(N, H, W, C) array *is* a row-major (N*H*W, C) matrix, so ``reshape`` is free and the
whole op is one matrix product (sgemm for float32):

    Y (M, C_out) = X (M, C_in) @ W (C_in, C_out),           M = N*H*W

The backward passes are GEMMs on the same matrices; ``W.T`` and ``X.T`` are only
different strides, which BLAS reads as "transposed" flags, not copies.  All three products
go through ``gemm.py``, which splits the M rows over Numba's threads (one single-threaded
BLAS call per block of rows; the weight gradient, a sum over all M rows into a small
C_in x C_out result, as one partial result per block).
"""

import numpy as np

from .gemm import matmul, matmul_nt, matmul_tn
from .helpers import as_rows, common_dtype


def pointwise_conv2d_forward(x, w):
    """Pointwise (1x1) convolution.

    x: (N, H, W, C_in), w: (C_in, C_out) -> y: (N, H, W, C_out)

    forward:  y[n, h, w, f] = sum_c x[n, h, w, c] * W[c, f]       (Y = X W, one GEMM)
    backward: pointwise_conv2d_backward_input / _backward_weight
    shape:    H and W unchanged; C_in -> C_out.  Weights: C_in*C_out.
    """
    dtype = common_dtype(x, w)
    y = matmul(as_rows(x, dtype), np.ascontiguousarray(w, dtype=dtype))
    return y.reshape(*x.shape[:-1], w.shape[1])


def pointwise_conv2d_backward_input(dy, w):
    """Gradient w.r.t. the input.

    backward: dx[n, h, w, c] = sum_f dy[n, h, w, f] * W[c, f]     (dX = dY W^T, one GEMM)
    shape:    dx: (N, H, W, C_in)
    """
    dtype = common_dtype(dy, w)
    dx = matmul_nt(as_rows(dy, dtype), np.ascontiguousarray(w, dtype=dtype))
    return dx.reshape(*dy.shape[:-1], w.shape[0])


def pointwise_conv2d_backward_weight(dy, x):
    """Gradient w.r.t. the weights.

    backward: dW[c, f] = sum_{n, h, w} x[n, h, w, c] * dy[n, h, w, f]  (dW = X^T dY, one GEMM)
    shape:    dW: (C_in, C_out)
    """
    dtype = common_dtype(dy, x)
    return matmul_tn(as_rows(x, dtype), as_rows(dy, dtype))
