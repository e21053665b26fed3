"""Fast standard convolution: im2col + one GEMM per chunk of output rows (split over threads).

For a convolution with K_h x K_w x C_in kernels the trick is to copy, for every output
pixel, the K_h*K_w*C_in input values its kernel sees into one row of a matrix ("im2col").
Stacking those rows gives ``cols`` of shape (N*H_out*W_out, K_h*K_w*C_in), and the whole
convolution becomes one matrix product with the weights reshaped to (K_h*K_w*C_in, C_out):

    y.reshape(N*H_out*W_out, C_out) = cols @ W.reshape(K_h*K_w*C_in, C_out)

which ``gemm.py`` splits by rows over Numba's threads, one BLAS call (sgemm for float32)
per block.  The backward passes are GEMMs too:

    dW.reshape(K, C_out) = cols^T @ dy_rows          dcols = dy_rows @ W_rows^T

followed by "col2im" (add every entry of dcols back onto the input pixel it was copied
from).  To bound memory the rows are processed in chunks of about ``CHUNK_BYTES`` of
``cols``; one chunk buffer (used for ``cols`` and ``dcols`` alike, never both at once) is
kept between calls (see ``_scratch``).
"""

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401  (sets the threading layer before any parallel kernel)
from .gemm import matmul, matmul_nt, matmul_tn
from .helpers import common_dtype, tap_range
from .shapes import conv_output_hw

#: Target size of one im2col chunk; at least one output row is always processed.
CHUNK_BYTES = 8 * 1024 * 1024

_SCRATCH = {}


def _scratch(name, shape, dtype):
    """A reusable buffer of the given shape (contents undefined), kept between calls.

    Freeing and re-allocating a multi-megabyte temporary on every call makes glibc hand the
    pages back to the OS and fault them in again, which costs about as much as the copy.
    Not thread-safe: the kernels are meant to be called from one Python thread at a time.
    """
    size = int(np.prod(shape))
    key = (name, np.dtype(dtype).str)
    buf = _SCRATCH.get(key)
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        _SCRATCH[key] = buf
    return buf[:size].reshape(shape)


def _rows_per_chunk(Wo, kdim, itemsize, total_rows):
    """How many output rows (each W_out pixels of kdim values) fit in one chunk; at least 1,
    also for an empty batch (total_rows = 0), whose loop then simply runs no chunk."""
    rows = CHUNK_BYTES // max(1, Wo * kdim * itemsize)
    return int(max(min(rows, total_rows), 1))


# ----------------------------------------------------------------------------- Numba helpers


@njit(parallel=True, cache=True)
def _im2col(x, KH, KW, sh, sw, top, left, Ho, Wo, r0, r1, cols):
    """cols[(r - r0)*Wo + wo, (i*KW + j)*C + c] = xp[n, ho*sh + i, wo*sw + j, c], r = n*Ho + ho.

    Fills the im2col rows of the global output rows r0 <= r < r1 (padding -> 0).
    For one output pixel and kernel row i, the K_w taps read K_w neighbouring pixels, and
    in NHWC those are K_w*C contiguous values: one block copy (clipped at the image edges)
    instead of K_w copies of C values.  Flat unsigned offsets keep the copy loops free of
    negative-index checks, so LLVM vectorises them.
    """
    _, H, W, C = x.shape
    xf = x.reshape(-1)
    cf = cols.reshape(-1)
    span = KW * C
    for r in prange(r0, r1):
        n = r // Ho
        ho = r - n * Ho
        for wo in range(Wo):
            w0 = wo * sw - left                   # input column of tap j = 0
            a = max(0, -w0) * C                   # [a, b): the part of the span inside the image
            b = (min(W, w0 + KW) - w0) * C
            for i in range(KH):
                hi = ho * sh + i - top
                dst = np.uint64(((r - r0) * Wo + wo) * KH * span + i * span)
                if hi < 0 or hi >= H or b <= a:
                    for k in range(np.uint64(span)):
                        cf[dst + k] = 0.0
                    continue
                src = np.uint64(((n * H + hi) * W + w0) * C + a)
                for k in range(np.uint64(a)):
                    cf[dst + k] = 0.0
                inside = dst + np.uint64(a)
                for k in range(np.uint64(b - a)):
                    cf[inside + k] = xf[src + k]
                for k in range(np.uint64(b), np.uint64(span)):
                    cf[dst + k] = 0.0


@njit(parallel=True, cache=True)
def _col2im_add(dcols, KH, KW, sh, sw, top, left, Ho, Wo, r0, r1, dx):
    """dx[n, hi, wi, c] += dcols[row of (n, ho, wo), (i*KW + j)*C + c] over every tap that read it.

    Only output rows r0 <= n*Ho + ho < r1 (the rows held in dcols) contribute.  Written as a
    gather: each input row (n, hi) collects its own sums, so threads never write the same pixel.
    """
    _, H, W, C = dx.shape
    dxf = dx.reshape(-1)
    dcf = dcols.reshape(-1)
    kdim = KH * KW * C
    uC = np.uint64(C)
    n_first = r0 // Ho
    n_last = (r1 - 1) // Ho
    for g in prange(n_first * H, (n_last + 1) * H):
        n = g // H
        hi = g - n * H
        ho_lo, ho_hi = tap_range(Ho, hi, top, KH, sh)
        ho_lo = max(ho_lo, r0 - n * Ho)
        ho_hi = min(ho_hi, r1 - 1 - n * Ho)
        for ho in range(ho_lo, ho_hi + 1):
            i = hi + top - ho * sh
            row0 = (n * Ho + ho - r0) * Wo
            for wi in range(W):
                dst = np.uint64((g * W + wi) * C)
                wo_lo, wo_hi = tap_range(Wo, wi, left, KW, sw)
                for wo in range(wo_lo, wo_hi + 1):
                    j = wi + left - wo * sw
                    src = np.uint64((row0 + wo) * kdim + (i * KW + j) * C)
                    for c in range(uC):
                        dxf[dst + c] += dcf[src + c]


# ----------------------------------------------------------------------------- public kernels


def conv2d_forward(x, w, stride, pads):
    """Standard convolution (im2col + GEMM).

    x: (N, H, W, C_in), w: (K_h, K_w, C_in, C_out) -> y: (N, H_out, W_out, C_out)

    forward:  y[n, h, w, f] = sum_{i, j, c} xp[n, h*S_h + i, w*S_w + j, c] * W[i, j, c, f]
              computed as  y_rows = cols @ W.reshape(K_h*K_w*C_in, C_out)  chunk by chunk
    backward: conv2d_backward_input / conv2d_backward_weight
    shape:    H_out = floor((H + p_top + p_bottom - K_h) / S_h) + 1, same for W; C_out filters.
    """
    dtype = common_dtype(x, w)
    x = np.ascontiguousarray(x, dtype=dtype)
    KH, KW, C, F = w.shape
    w_rows = np.ascontiguousarray(w, dtype=dtype).reshape(KH * KW * C, F)
    (sh, sw), ((top, _), (left, _)) = stride, pads
    N = x.shape[0]
    Ho, Wo = conv_output_hw(x.shape[1:3], (KH, KW), stride, pads)
    y = np.empty((N, Ho, Wo, F), dtype=dtype)
    y_rows = y.reshape(N * Ho * Wo, F)
    kdim = KH * KW * C
    step = _rows_per_chunk(Wo, kdim, dtype.itemsize, N * Ho)
    for r0 in range(0, N * Ho, step):
        r1 = min(r0 + step, N * Ho)
        cols = _scratch("cols", ((r1 - r0) * Wo, kdim), dtype)
        _im2col(x, KH, KW, sh, sw, top, left, Ho, Wo, r0, r1, cols)
        matmul(cols, w_rows, out=y_rows[r0 * Wo:r1 * Wo])
    return y


def conv2d_backward_input(dy, w, x_shape, stride, pads):
    """Gradient of the standard convolution w.r.t. its input (GEMM + col2im).

    forward:  y[n, h, w, f] = sum_{i, j, c} xp[n, h*S_h + i, w*S_w + j, c] * W[i, j, c, f]
    backward: dcols = dy_rows @ W.reshape(K_h*K_w*C_in, C_out)^T, then
              dxp[n, h*S_h + i, w*S_w + j, c] += dcols[(n, h, w), (i, j, c)]; dx = unpad(dxp)
    shape:    dx has the shape of x: (N, H, W, C_in).
    """
    dtype = common_dtype(dy, w)
    dy = np.ascontiguousarray(dy, dtype=dtype)
    KH, KW, C, F = w.shape
    w_rows = np.ascontiguousarray(w, dtype=dtype).reshape(KH * KW * C, F)
    (sh, sw), ((top, _), (left, _)) = stride, pads
    N, Ho, Wo, _ = dy.shape
    dy_rows = dy.reshape(N * Ho * Wo, F)
    dx = np.zeros(tuple(x_shape), dtype=dtype)
    kdim = KH * KW * C
    step = _rows_per_chunk(Wo, kdim, dtype.itemsize, N * Ho)
    for r0 in range(0, N * Ho, step):
        r1 = min(r0 + step, N * Ho)
        dcols = _scratch("cols", ((r1 - r0) * Wo, kdim), dtype)
        matmul_nt(dy_rows[r0 * Wo:r1 * Wo], w_rows, out=dcols)
        _col2im_add(dcols, KH, KW, sh, sw, top, left, Ho, Wo, r0, r1, dx)
    return dx


def conv2d_backward_weight(dy, x, w_shape, stride, pads):
    """Gradient of the standard convolution w.r.t. its weights (im2col + GEMM).

    backward: dW[i, j, c, f] = sum_{n, h, w} xp[n, h*S_h + i, w*S_w + j, c] * dy[n, h, w, f]
              computed as  dW.reshape(K_h*K_w*C_in, C_out) = sum over chunks of cols^T @ dy_rows
    shape:    dW has the shape of W: (K_h, K_w, C_in, C_out).
    """
    dtype = common_dtype(dy, x)
    x = np.ascontiguousarray(x, dtype=dtype)
    dy = np.ascontiguousarray(dy, dtype=dtype)
    KH, KW, C, F = w_shape
    (sh, sw), ((top, _), (left, _)) = stride, pads
    N, Ho, Wo, _ = dy.shape
    dy_rows = dy.reshape(N * Ho * Wo, F)
    kdim = KH * KW * C
    dw = np.zeros((kdim, F), dtype=dtype)
    step = _rows_per_chunk(Wo, kdim, dtype.itemsize, N * Ho)
    for r0 in range(0, N * Ho, step):
        r1 = min(r0 + step, N * Ho)
        cols = _scratch("cols", ((r1 - r0) * Wo, kdim), dtype)
        _im2col(x, KH, KW, sh, sw, top, left, Ho, Wo, r0, r1, cols)
        dw += matmul_tn(cols, dy_rows[r0 * Wo:r1 * Wo])
    return dw.reshape(w_shape)
