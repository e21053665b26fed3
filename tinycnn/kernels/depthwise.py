"""Fast depthwise convolution: direct Numba loops, vectorised over the channels.

A depthwise convolution does very little arithmetic per byte (K_h*K_w multiply-adds per
output value), so a GEMM buys nothing; what matters is streaming memory once.  In NHWC
the C channels of one pixel are contiguous, so the innermost loop runs over C and LLVM
turns it into SIMD instructions.  The outer loop runs in parallel over the N*H_out output
rows (forward), the N*H input rows (backward w.r.t. the input, written as a gather so no
two threads write the same pixel), or blocks of output rows with one partial sum per
block (backward w.r.t. the weights).

With a stride of 1 across W (every stride-1 layer), ``depthwise_rows.py`` runs instead:
it loops over long contiguous stretches of a row (pixels x channels) rather than one
pixel's C channels, keeps the sum of a 3x3 window in registers across its nine taps and
computes up to four output rows at once (its docstring explains all three).  A 5x5 filter
over many channels keeps the per-pixel loops forward (``uses_rows``).  The backward pass w.r.t. the input of a stride-1 layer is
itself a stride-1 depthwise convolution (of dy with the flipped filter), so it runs on the
same row kernel.  The loops below remain for strides above 1.

Implementation note: offsets into the flattened arrays are unsigned (``np.uint64``), so
the inner loop has no negative-index wraparound check and vectorises.
"""

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401
from .depthwise_rows import backward_weight_rows, forward_rows
from .helpers import common_dtype, parallel_blocks, tap_range
from .shapes import conv_output_hw


@njit(parallel=True, cache=True)
def _dw_forward(x, w, sh, sw, top, left, y):
    N, H, W, C = x.shape
    _, Ho, Wo, _ = y.shape
    KH, KW, _ = w.shape
    xf = x.reshape(-1)
    wf = w.reshape(-1)
    yf = y.reshape(-1)
    uC = np.uint64(C)
    for r in prange(N * Ho):
        n = r // Ho
        ho = r - n * Ho
        for wo in range(Wo):
            dst = np.uint64((r * Wo + wo) * C)
            for c in range(uC):
                yf[dst + c] = 0.0
            for i in range(KH):
                hi = ho * sh + i - top
                if hi < 0 or hi >= H:
                    continue
                for j in range(KW):
                    wi = wo * sw + j - left
                    if wi < 0 or wi >= W:
                        continue
                    src = np.uint64(((n * H + hi) * W + wi) * C)
                    tap = np.uint64((i * KW + j) * C)
                    for c in range(uC):
                        yf[dst + c] += xf[src + c] * wf[tap + c]


@njit(parallel=True, cache=True)
def _dw_backward_input(dy, w, sh, sw, top, left, dx):
    N, H, W, C = dx.shape
    _, Ho, Wo, _ = dy.shape
    KH, KW, _ = w.shape
    dyf = dy.reshape(-1)
    wf = w.reshape(-1)
    dxf = dx.reshape(-1)
    uC = np.uint64(C)
    for g in prange(N * H):
        n = g // H
        hi = g - n * H
        ho_lo, ho_hi = tap_range(Ho, hi, top, KH, sh)
        for wi in range(W):
            dst = np.uint64((g * W + wi) * C)
            for c in range(uC):
                dxf[dst + c] = 0.0
            wo_lo, wo_hi = tap_range(Wo, wi, left, KW, sw)
            for ho in range(ho_lo, ho_hi + 1):
                i = hi + top - ho * sh
                for wo in range(wo_lo, wo_hi + 1):
                    j = wi + left - wo * sw
                    src = np.uint64(((n * Ho + ho) * Wo + wo) * C)
                    tap = np.uint64((i * KW + j) * C)
                    for c in range(uC):
                        dxf[dst + c] += dyf[src + c] * wf[tap + c]


@njit(parallel=True, cache=True)
def _dw_backward_weight(dy, x, KH, KW, sh, sw, top, left, partial):
    N, H, W, C = x.shape
    _, Ho, Wo, _ = dy.shape
    n_blocks = partial.shape[0]
    rows = N * Ho
    xf = x.reshape(-1)
    dyf = dy.reshape(-1)
    uC = np.uint64(C)
    for b in prange(n_blocks):
        pf = partial[b].reshape(-1)
        pf[:] = 0.0
        for r in range(b * rows // n_blocks, (b + 1) * rows // n_blocks):
            n = r // Ho
            ho = r - n * Ho
            for wo in range(Wo):
                src_dy = np.uint64((r * Wo + wo) * C)
                for i in range(KH):
                    hi = ho * sh + i - top
                    if hi < 0 or hi >= H:
                        continue
                    for j in range(KW):
                        wi = wo * sw + j - left
                        if wi < 0 or wi >= W:
                            continue
                        src_x = np.uint64(((n * H + hi) * W + wi) * C)
                        tap = np.uint64((i * KW + j) * C)
                        for c in range(uC):
                            pf[tap + c] += xf[src_x + c] * dyf[src_dy + c]


#: from this many channels on, a filter other than 3x3 runs the per-pixel loops forward and
#: for the input gradient (a pixel's C channels are then a long enough loop, and only 3x3
#: windows have the register-blocked row paths); the weight gradient always runs on rows
PIXEL_LOOP_CHANNELS = 128


def uses_rows(stride, w_shape):
    """Whether the forward (or stride-1 input gradient) runs on the row kernels."""
    KH, KW, C = w_shape
    return stride[1] == 1 and ((KH, KW) == (3, 3) or C < PIXEL_LOOP_CHANNELS)


def depthwise_conv2d_forward(x, w, stride, pads):
    """Depthwise convolution: one K_h x K_w filter per channel, channels never mix.

    x: (N, H, W, C), w: (K_h, K_w, C) -> y: (N, H_out, W_out, C)

    forward:  y[n, h, w, c] = sum_{i, j} xp[n, h*S_h + i, w*S_w + j, c] * W[i, j, c]
    backward: depthwise_conv2d_backward_input / _backward_weight
    shape:    H_out = floor((H + p_top + p_bottom - K_h) / S_h) + 1, same for W; C stays C
              (224x224x32 with 3x3 "valid" -> 222x222x32).  Weights: K_h*K_w*C.
    """
    dtype = common_dtype(x, w)
    x = np.ascontiguousarray(x, dtype=dtype)
    w = np.ascontiguousarray(w, dtype=dtype)
    KH, KW, C = w.shape
    Ho, Wo = conv_output_hw(x.shape[1:3], (KH, KW), stride, pads, op="depthwise_conv2d")
    y = np.empty((x.shape[0], Ho, Wo, C), dtype=dtype)
    if uses_rows(stride, w.shape):
        return forward_rows(x, w, stride[0], pads[0][0], pads[1][0], y)
    _dw_forward(x, w, stride[0], stride[1], pads[0][0], pads[1][0], y)
    return y


def depthwise_conv2d_backward_input(dy, w, x_shape, stride, pads):
    """Gradient of the depthwise convolution w.r.t. its input.

    forward:  y[n, h, w, c] = sum_{i, j} xp[n, h*S_h + i, w*S_w + j, c] * W[i, j, c]
    backward: dx[n, h', w', c] = sum over taps (i, j) and outputs (h, w) with
              h*S_h + i = h' + p_top and w*S_w + j = w' + p_left of dy[n, h, w, c] * W[i, j, c]
              (the scatter dxp[.., h*S_h + i, w*S_w + j, ..] += dy * W written as a gather)
    shape:    dx: (N, H, W, C)

    With S_h = S_w = 1 this is dx[n, h', w', c] = sum_{i, j} dy[n, h' + p_top - i, w' + p_left - j, c]
    * W[i, j, c]: a stride-1 depthwise convolution of dy with the flipped filter
    W'[i, j] = W[K_h-1-i, K_w-1-j] and paddings K_h-1-p_top, K_w-1-p_left (negative: cropped),
    so it runs on the forward row kernel.
    """
    dtype = common_dtype(dy, w)
    dy = np.ascontiguousarray(dy, dtype=dtype)
    w = np.ascontiguousarray(w, dtype=dtype)
    dx = np.empty(tuple(x_shape), dtype=dtype)
    if tuple(stride) == (1, 1) and uses_rows(stride, w.shape):
        KH, KW, _ = w.shape
        flipped = np.ascontiguousarray(w[::-1, ::-1])
        return forward_rows(dy, flipped, 1, KH - 1 - pads[0][0], KW - 1 - pads[1][0], dx)
    _dw_backward_input(dy, w, stride[0], stride[1], pads[0][0], pads[1][0], dx)
    return dx


def depthwise_conv2d_backward_weight(dy, x, w_shape, stride, pads):
    """Gradient of the depthwise convolution w.r.t. its weights.

    backward: dW[i, j, c] = sum_{n, h, w} xp[n, h*S_h + i, w*S_w + j, c] * dy[n, h, w, c]
              (each thread sums a block of output rows into its own partial dW; then the
              partials are added; the blocks are fixed, not one per thread, so the sum
              rounds the same on any thread count)
    shape:    dW: (K_h, K_w, C)
    """
    dtype = common_dtype(dy, x)
    dy = np.ascontiguousarray(dy, dtype=dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    KH, KW, C = w_shape
    n_blocks = parallel_blocks(dy.shape[0] * dy.shape[1])
    if stride[1] == 1:
        return backward_weight_rows(dy, x, w_shape, stride[0], pads[0][0], pads[1][0], n_blocks)
    partial = np.empty((n_blocks, KH, KW, C), dtype=dtype)
    _dw_backward_weight(dy, x, KH, KW, stride[0], stride[1], pads[0][0], pads[1][0], partial)
    return partial.sum(axis=0)
