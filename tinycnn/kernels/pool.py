"""Fast pooling kernels: max, average and global average pooling (Numba, NHWC).

Same structure as the depthwise convolution: the innermost loop runs over the contiguous
channels (vectorised), the outer loop in parallel over output rows, or over input rows
for a gradient written as a gather.  Offsets into the flattened arrays are unsigned so the
inner loops carry no negative-index check.
"""

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401
from .helpers import tap_range
from .shapes import conv_output_hw


@njit(cache=True)
def _window_count(o, stride, pad, kernel, size):
    """Number of real (non-padding) pixels along one axis in the window of output o."""
    start = o * stride - pad
    stop = start + kernel
    return max(min(stop, size) - max(start, 0), 0)


# ----------------------------------------------------------------------------- max pool


@njit(parallel=True, cache=True)
def _max_forward(x, KH, KW, sh, sw, top, left, y):
    N, H, W, C = x.shape
    _, Ho, Wo, _ = y.shape
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    uC = np.uint64(C)
    for r in prange(N * Ho):
        n = r // Ho
        ho = r - n * Ho
        for wo in range(Wo):
            dst = np.uint64((r * Wo + wo) * C)
            for c in range(uC):
                yf[dst + c] = -np.inf
            for i in range(KH):
                hi = ho * sh + i - top
                if hi < 0 or hi >= H:
                    continue
                for j in range(KW):
                    wi = wo * sw + j - left
                    if wi < 0 or wi >= W:
                        continue
                    src = np.uint64(((n * H + hi) * W + wi) * C)
                    for c in range(uC):
                        v = xf[src + c]
                        b = yf[dst + c]
                        # NaN wins (as np.maximum); otherwise the larger value
                        yf[dst + c] = v if (v > b or v != v) else b


@njit(parallel=True, cache=True)
def _max_backward(dy, x, KH, KW, sh, sw, top, left, rows_per_group, dx):
    N, H, W, C = x.shape
    _, Ho, Wo, _ = dy.shape
    xf = x.reshape(-1)
    dyf = dy.reshape(-1)
    dxf = dx.reshape(-1)
    n_groups = (N * Ho) // rows_per_group
    for g in prange(n_groups):
        best = np.empty(C, dtype=x.dtype)
        taken = np.empty(C, dtype=np.bool_)
        for r in range(g * rows_per_group, (g + 1) * rows_per_group):
            n = r // Ho
            ho = r - n * Ho
            for wo in range(Wo):
                best[:] = -np.inf
                taken[:] = False
                for i in range(KH):          # the window maximum (padding = -inf)
                    hi = ho * sh + i - top
                    if hi < 0 or hi >= H:
                        continue
                    for j in range(KW):
                        wi = wo * sw + j - left
                        if wi < 0 or wi >= W:
                            continue
                        src = ((n * H + hi) * W + wi) * C
                        for c in range(C):
                            v = xf[src + c]
                            if v > best[c] or v != v:
                                best[c] = v
                src_dy = (r * Wo + wo) * C
                for i in range(KH):          # the first tap (row-major) equal to it
                    hi = ho * sh + i - top
                    for j in range(KW):
                        wi = wo * sw + j - left
                        inside = 0 <= hi < H and 0 <= wi < W
                        at = ((n * H + hi) * W + wi) * C
                        for c in range(C):
                            if taken[c]:
                                continue
                            v = xf[at + c] if inside else -np.inf
                            if v == best[c]:
                                taken[c] = True
                                if inside:
                                    dxf[at + c] += dyf[src_dy + c]


def max_pool2d_forward(x, size, stride, pads):
    """Max pooling over K_h x K_w windows; padding counts as -infinity.

    forward:  y[n, h, w, c] = max_{i, j} xp[n, h*S_h + i, w*S_w + j, c]
    backward: max_pool2d_backward
    shape:    H_out = floor((H + p_top + p_bottom - K_h) / S_h) + 1; C unchanged
              (2x2 stride 2 halves 224 -> 112).
    """
    x = np.ascontiguousarray(x)
    Ho, Wo = conv_output_hw(x.shape[1:3], size, stride, pads, op="max_pool2d")
    y = np.empty((x.shape[0], Ho, Wo, x.shape[3]), dtype=x.dtype)
    _max_forward(x, size[0], size[1], stride[0], stride[1], pads[0][0], pads[1][0], y)
    return y


def max_pool2d_backward(dy, x, size, stride, pads):
    """Gradient of max pooling: each window's gradient goes to the position of its maximum.

    forward:  y[n, h, w, c] = max_{i, j} xp[n, h*S_h + i, w*S_w + j, c]
    backward: dx[argmax of the window] += dy[n, h, w, c]; all other positions get 0.
              Ties: the first maximum in row-major order inside the window wins (as PyTorch).
              Windows overlap when S_h < K_h, so rows are then split per image between
              threads; otherwise per output row.
    shape:    dx: (N, H, W, C)
    """
    dtype = np.result_type(dy, x)
    x = np.ascontiguousarray(x, dtype=dtype)
    dy = np.ascontiguousarray(dy, dtype=dtype)
    Ho = dy.shape[1]
    rows_per_group = 1 if stride[0] >= size[0] else Ho
    dx = np.zeros(x.shape, dtype=dtype)
    _max_backward(dy, x, size[0], size[1], stride[0], stride[1], pads[0][0], pads[1][0],
                  rows_per_group, dx)
    return dx


# ----------------------------------------------------------------------------- average pool


@njit(parallel=True, cache=True)
def _avg_forward(x, KH, KW, sh, sw, top, left, y):
    N, H, W, C = x.shape
    _, Ho, Wo, _ = y.shape
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    uC = np.uint64(C)
    for r in prange(N * Ho):
        n = r // Ho
        ho = r - n * Ho
        count_h = _window_count(ho, sh, top, KH, H)
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
                    for c in range(uC):
                        yf[dst + c] += xf[src + c]
            count = count_h * _window_count(wo, sw, left, KW, W)
            inv = 1.0 / count if count > 0 else np.nan     # a window of padding only: 0/0
            for c in range(uC):
                yf[dst + c] = yf[dst + c] * inv


@njit(parallel=True, cache=True)
def _avg_backward(dy, KH, KW, sh, sw, top, left, dx):
    N, H, W, C = dx.shape
    _, Ho, Wo, _ = dy.shape
    dyf = dy.reshape(-1)
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
                count_h = _window_count(ho, sh, top, KH, H)
                for wo in range(wo_lo, wo_hi + 1):
                    share = 1.0 / (count_h * _window_count(wo, sw, left, KW, W))  # count >= 1 here
                    src = np.uint64(((n * Ho + ho) * Wo + wo) * C)
                    for c in range(uC):
                        dxf[dst + c] += dyf[src + c] * share


def avg_pool2d_forward(x, size, stride, pads):
    """Average pooling; padded pixels are left out of the average (Keras "same").

    forward:  y[n, h, w, c] = (1 / count[h, w]) * sum_{i, j} xp[n, h*S_h + i, w*S_w + j, c]
              where count[h, w] is the number of real pixels in the window
    backward: avg_pool2d_backward
    shape:    H_out = floor((H + p_top + p_bottom - K_h) / S_h) + 1; C unchanged
    """
    x = np.ascontiguousarray(x)
    Ho, Wo = conv_output_hw(x.shape[1:3], size, stride, pads, op="avg_pool2d")
    y = np.empty((x.shape[0], Ho, Wo, x.shape[3]), dtype=x.dtype)
    _avg_forward(x, size[0], size[1], stride[0], stride[1], pads[0][0], pads[1][0], y)
    return y


def avg_pool2d_backward(dy, x_shape, size, stride, pads):
    """Gradient of average pooling: every pixel of a window gets dy / count.

    backward: dxp[n, h*S_h + i, w*S_w + j, c] += dy[n, h, w, c] / count[h, w]; dx = unpad(dxp)
              (computed as a gather: each input pixel sums the shares of the windows covering it)
    shape:    dx: (N, H, W, C)
    """
    dy = np.ascontiguousarray(dy)
    dx = np.empty(tuple(x_shape), dtype=dy.dtype)
    _avg_backward(dy, size[0], size[1], stride[0], stride[1], pads[0][0], pads[1][0], dx)
    return dx


# ----------------------------------------------------------------------------- global average pool


@njit(parallel=True, cache=True)
def _gap_forward(x, y):
    N, H, W, C = x.shape
    xf = x.reshape(-1)
    uC = np.uint64(C)
    HW = H * W
    for n in prange(N):
        acc = np.zeros(C, dtype=np.float64)
        for p in range(HW):
            src = np.uint64((n * HW + p) * C)
            for c in range(uC):
                acc[c] += xf[src + c]
        for c in range(C):
            y[n, c] = acc[c] / HW


@njit(parallel=True, cache=True)
def _gap_backward(dy, HW, dx):
    N, C = dy.shape
    dxf = dx.reshape(-1)
    uC = np.uint64(C)
    for n in prange(N):
        share = dy[n] / HW
        for p in range(HW):
            dst = np.uint64((n * HW + p) * C)
            for c in range(uC):
                dxf[dst + c] = share[c]


def global_avg_pool2d_forward(x):
    """Global average pooling (GAP): one number per channel, "is the feature present?".

    forward:  y[n, c] = (1 / (H*W)) * sum_{h, w} x[n, h, w, c]   (summed in float64)
    backward: global_avg_pool2d_backward
    shape:    (N, H, W, C) -> (N, C)   (7x7x1024 -> 1024)
    """
    x = np.ascontiguousarray(x)
    y = np.empty((x.shape[0], x.shape[3]), dtype=x.dtype)
    _gap_forward(x, y)
    return y


def global_avg_pool2d_backward(dy, x_shape):
    """Gradient of GAP.

    backward: dx[n, h, w, c] = dy[n, c] / (H*W) for every (h, w)
    shape:    (N, C) -> (N, H, W, C)
    """
    dy = np.ascontiguousarray(dy)
    N, H, W, C = x_shape
    dx = np.empty((N, H, W, C), dtype=dy.dtype)
    _gap_backward(dy, H * W, dx)
    return dx
