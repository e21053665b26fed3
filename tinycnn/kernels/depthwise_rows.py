"""Fast depthwise convolution along image rows: the kernels for a stride of 1 across W.

Notation: x is H x W x C (NHWC, batch N), the filter K_h x K_w x C, output H_out x W_out x C.

    forward:  y[n, h, w, c] = sum_{i, j} xp[n, h*S_h + i, w + j, c] * W[i, j, c]      (S_w = 1)
    backward: dW[i, j, c]  = sum_{n, h, w} xp[n, h*S_h + i, w + j, c] * dy[n, h, w, c]
    shape:    H_out = floor((H + p_top + p_bottom - K_h) / S_h) + 1,
              W_out = W + p_left + p_right - K_w + 1;  C stays C

Why rows: with S_w = 1, the outputs w, w+1, ... of one row read the inputs w + j, w + 1 + j, ...
of tap j, so in NHWC the (w, c) values of a run of pixels are ONE contiguous stretch of memory,
for the input as for the output.  A loop over a pixel's C channels is short (C = 16 is a
single AVX-512 vector, too short for the compiler's vector loop, which then runs scalar);
a loop over the stretch of seg pixels x C channels is long and vectorises.  The weight of
lane q is W[i, j, q mod C]: ``tiled_weights`` repeats each tap's C weights seg times, so it
is a contiguous stretch too.

Register blocking: adding one tap at a time loads and stores y once per tap (9 times for 3x3).
Instead, where all 3x3 taps fall inside the image, one statement adds all nine products

    y[q] = x0[q]*W0[q] + x1[q]*W1[q] + ... + x8[q]*W8[q]

so the running sum stays in a vector register across the taps and y is stored once.  Pixels
near the image border (some taps outside) take the tap-by-tap path; 3-wide rows of other
kernels add a kernel row (three taps) per statement.  Each output row is cut into segments
of seg pixels so the segment of y and the tiled weights stay in the L1 cache.

Offsets are unsigned (``np.uint64``) so the inner loops have no negative-index check and
vectorise; every offset added to one is itself ``np.uint64`` (Numba turns int64 + uint64
into a float).
"""

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401

#: floats per row segment (seg = SEGMENT // C pixels, at least 1)
SEGMENT = 512


def segment_pixels(C, segment=SEGMENT):
    """How many pixels of a row one segment holds: about ``segment`` floats."""
    return max(1, segment // C)


def tiled_weights(w, seg):
    """(K_h, K_w, C) -> (K_h, K_w, seg*C): each tap's C weights repeated for seg pixels."""
    KH, KW, C = w.shape
    return np.ascontiguousarray(np.broadcast_to(w[:, :, None, :], (KH, KW, seg, C))).reshape(KH, KW, seg * C)


@njit(inline="always")
def _taps_one_by_one(yf, xf, wf, y_row, x_row, tap0, lo, hi, KW, left, W, C, L):
    """y[pixels lo..hi) += the K_w taps of one kernel row, each clipped to the image."""
    for j in range(KW):
        shift = j - left                       # output pixel w reads input pixel w + shift
        a = max(lo, -shift)
        b = min(hi, W - shift)
        if a >= b:
            continue
        dst = np.uint64(y_row + a * C)
        src = np.uint64(x_row + (a + shift) * C)
        tap = np.uint64(tap0 + j * L)
        for q in range(np.uint64((b - a) * C)):
            yf[dst + q] += xf[src + q] * wf[tap + q]


@njit(inline="always")
def _nine_taps(yf, xf, wf, dst, src, count, C, WC, L):
    """y[dst + q] = all nine taps of a 3x3 window (rows WC apart, pixels C apart) at once."""
    c1, c2, r1, r2 = np.uint64(C), np.uint64(2 * C), np.uint64(WC), np.uint64(2 * WC)
    t1, t2, t3, t4 = np.uint64(L), np.uint64(2 * L), np.uint64(3 * L), np.uint64(4 * L)
    t5, t6, t7, t8 = np.uint64(5 * L), np.uint64(6 * L), np.uint64(7 * L), np.uint64(8 * L)
    for q in range(np.uint64(count)):
        yf[dst + q] = (xf[src + q] * wf[q] + xf[src + c1 + q] * wf[t1 + q]
                       + xf[src + c2 + q] * wf[t2 + q] + xf[src + r1 + q] * wf[t3 + q]
                       + xf[src + r1 + c1 + q] * wf[t4 + q] + xf[src + r1 + c2 + q] * wf[t5 + q]
                       + xf[src + r2 + q] * wf[t6 + q] + xf[src + r2 + c1 + q] * wf[t7 + q]
                       + xf[src + r2 + c2 + q] * wf[t8 + q])


@njit(inline="always")
def _three_taps(yf, xf, wf, dst, src, tap, count, C, L):
    """y[dst + q] += the three taps of one kernel row of width 3 at once."""
    c1, c2, l1, l2 = np.uint64(C), np.uint64(2 * C), np.uint64(L), np.uint64(2 * L)
    t = np.uint64(tap)
    for q in range(np.uint64(count)):
        yf[dst + q] += xf[src + q] * wf[t + q] + xf[src + c1 + q] * wf[t + l1 + q] + xf[src + c2 + q] * wf[t + l2 + q]


@njit(inline="always")
def _zero(yf, start, count):
    s = np.uint64(start)
    for q in range(np.uint64(count)):
        yf[s + q] = 0.0


@njit(inline="always")
def _forward_segment(xf, wf, yf, n, h0, s0, s1, y_row, H, W, C, KH, KW, left, L):
    """Output pixels s0..s1 of one row, whose window starts at input row h0."""
    a = max(s0, left)                                  # [a, b): every tap of a row inside
    b = max(a, min(s1, W + left - KW + 1))
    if KH == 3 and KW == 3 and h0 >= 0 and h0 + 3 <= H and a < b:
        _zero(yf, y_row + s0 * C, (a - s0) * C)
        _zero(yf, y_row + b * C, (s1 - b) * C)
        for i in range(3):
            x_row = (n * H + h0 + i) * W * C
            _taps_one_by_one(yf, xf, wf, y_row, x_row, i * 3 * L, s0, a, KW, left, W, C, L)
            _taps_one_by_one(yf, xf, wf, y_row, x_row, i * 3 * L, b, s1, KW, left, W, C, L)
        src = np.uint64(((n * H + h0) * W + a - left) * C)
        _nine_taps(yf, xf, wf, np.uint64(y_row + a * C), src, (b - a) * C, C, W * C, L)
        return
    _zero(yf, y_row + s0 * C, (s1 - s0) * C)
    for i in range(KH):
        if h0 + i < 0 or h0 + i >= H:
            continue
        x_row = (n * H + h0 + i) * W * C
        if KW == 3 and a < b:
            _taps_one_by_one(yf, xf, wf, y_row, x_row, i * 3 * L, s0, a, KW, left, W, C, L)
            _taps_one_by_one(yf, xf, wf, y_row, x_row, i * 3 * L, b, s1, KW, left, W, C, L)
            src = np.uint64(x_row + (a - left) * C)
            _three_taps(yf, xf, wf, np.uint64(y_row + a * C), src, i * 3 * L, (b - a) * C, C, L)
        else:
            _taps_one_by_one(yf, xf, wf, y_row, x_row, i * KW * L, s0, s1, KW, left, W, C, L)


@njit(parallel=True, cache=True)
def _rows_forward(x, wt, sh, top, left, y):
    N, H, W, C = x.shape
    _, Ho, Wo, _ = y.shape
    KH, KW, L = wt.shape
    seg = L // C
    xf, wf, yf = x.reshape(-1), wt.reshape(-1), y.reshape(-1)
    for r in prange(N * Ho):
        n = r // Ho
        h0 = (r - n * Ho) * sh - top
        for s0 in range(0, Wo, seg):
            y_row = r * Wo * C
            _forward_segment(xf, wf, yf, n, h0, s0, min(Wo, s0 + seg), y_row, H, W, C, KH, KW, left, L)


def forward_rows(x, w, sh, top, left, y, segment=SEGMENT):
    """y (N, H_out, W_out, C) = the depthwise convolution with S_w = 1 (module docstring);
    x, w, y C-contiguous of one dtype; ``top``/``left`` may be negative (cropping)."""
    _rows_forward(x, tiled_weights(w, segment_pixels(w.shape[2], segment)), sh, top, left, y)
    return y


# ----------------------------------------------------------------------------- weights


@njit(inline="always")
def _grad_taps(pf, xf, dyf, dy_at, x_row, tap0, lo, hi, KW, left, W, C, L):
    """Partial dW of one kernel row += x * dy over output pixels lo..hi, each tap clipped."""
    for j in range(KW):
        shift = j - left
        a = max(lo, -shift)
        b = min(hi, W - shift)
        if a >= b:
            continue
        g = np.uint64(dy_at + a * C)
        src = np.uint64(x_row + (a + shift) * C)
        tap = np.uint64(tap0 + j * L)
        for q in range(np.uint64((b - a) * C)):
            pf[tap + q] += xf[src + q] * dyf[g + q]


@njit(parallel=True, cache=True)
def _rows_backward_weight(dy, x, KH, KW, sh, top, left, tiles):
    """tiles[block] (K_h, K_w, seg*C): block's sum of x * dy, lane q for channel q mod C."""
    N, H, W, C = x.shape
    _, Ho, Wo, _ = dy.shape
    n_blocks, L = tiles.shape[0], tiles.shape[3]
    seg, rows = L // C, N * Ho
    xf, dyf = x.reshape(-1), dy.reshape(-1)
    for blk in prange(n_blocks):
        pf = tiles[blk].reshape(-1)
        pf[:] = 0.0
        for r in range(blk * rows // n_blocks, (blk + 1) * rows // n_blocks):
            n = r // Ho
            h0 = (r - n * Ho) * sh - top
            for i in range(KH):
                if h0 + i < 0 or h0 + i >= H:
                    continue
                x_row = (n * H + h0 + i) * W * C
                for s0 in range(0, Wo, seg):
                    _grad_taps(pf, xf, dyf, r * Wo * C, x_row, i * KW * L, s0, min(Wo, s0 + seg),
                               KW, left, W, C, L)


def backward_weight_rows(dy, x, w_shape, sh, top, left, n_blocks, segment=SEGMENT):
    """dW (K_h, K_w, C) with S_w = 1: ``n_blocks`` partial sums of tiled lanes, then each
    tap's seg lanes of one channel added (the same blocks on any thread count)."""
    KH, KW, C = w_shape
    seg = segment_pixels(C, segment)
    tiles = np.empty((n_blocks, KH, KW, seg * C), dtype=x.dtype)
    _rows_backward_weight(dy, x, KH, KW, sh, top, left, tiles)
    return tiles.sum(axis=0).reshape(KH, KW, seg, C).sum(axis=2)
