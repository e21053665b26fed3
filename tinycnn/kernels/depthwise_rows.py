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

Several rows at once: output rows h and h+1 (stride 1) share input rows h+1 and h+2.  The
four-row statement loads six input rows and the nine weights once for four outputs (6*3 + 9
loads instead of 4 * 18), which matters because these loops are bound by loads from the
cache, not by arithmetic.  The weight gradient does the same along H: one statement adds the
products of four output rows to a tap's partial sum, so the partial is loaded and stored
once per four rows, and a segment's x and dy stay in L1 across all the taps.

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
def _tap_span(j, left, lo, hi, W):
    """(shift, a, b) for tap j of a kernel row: output pixels w in [a, b) of [lo, hi) read the
    input pixel w + shift inside the image (a >= b: none does)."""
    shift = j - left                           # output pixel w reads input pixel w + shift
    return shift, max(lo, -shift), min(hi, W - shift)


@njit(inline="always")
def _taps_one_by_one(yf, xf, wf, y_row, x_row, tap0, lo, hi, KW, left, W, C, L):
    """y[pixels lo..hi) += the K_w taps of one kernel row, each clipped to the image."""
    for j in range(KW):
        shift, a, b = _tap_span(j, left, lo, hi, W)
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


@njit(inline="always")
def _nine_taps_two_rows(yf, xf, wf, dst, src, count, C, WC, WoC, L):
    """Two output rows (WoC apart) of 3x3 windows at once: input rows 1 and 2 serve both,
    so each loaded x and weight is used twice; each row's sum in the order of _nine_taps."""
    c1, c2, r1, r2, r3 = np.uint64(C), np.uint64(2 * C), np.uint64(WC), np.uint64(2 * WC), np.uint64(3 * WC)
    t1, t2, t3, t4 = np.uint64(L), np.uint64(2 * L), np.uint64(3 * L), np.uint64(4 * L)
    t5, t6, t7, t8 = np.uint64(5 * L), np.uint64(6 * L), np.uint64(7 * L), np.uint64(8 * L)
    below = np.uint64(WoC)
    for q in range(np.uint64(count)):
        w0, w1, w2 = wf[q], wf[t1 + q], wf[t2 + q]
        w3, w4, w5 = wf[t3 + q], wf[t4 + q], wf[t5 + q]
        w6, w7, w8 = wf[t6 + q], wf[t7 + q], wf[t8 + q]
        m0, m1, m2 = xf[src + r1 + q], xf[src + r1 + c1 + q], xf[src + r1 + c2 + q]
        n0, n1, n2 = xf[src + r2 + q], xf[src + r2 + c1 + q], xf[src + r2 + c2 + q]
        yf[dst + q] = (xf[src + q] * w0 + xf[src + c1 + q] * w1 + xf[src + c2 + q] * w2
                       + m0 * w3 + m1 * w4 + m2 * w5 + n0 * w6 + n1 * w7 + n2 * w8)
        yf[dst + below + q] = (m0 * w0 + m1 * w1 + m2 * w2 + n0 * w3 + n1 * w4 + n2 * w5
                               + xf[src + r3 + q] * w6 + xf[src + r3 + c1 + q] * w7
                               + xf[src + r3 + c2 + q] * w8)


@njit(inline="always")
def _nine_taps_four_rows(yf, xf, wf, dst, src, count, C, WC, WoC, L):
    """Four output rows (WoC apart) of 3x3 windows at once from six input rows: each weight
    loaded serves four rows, each x up to three; each row's sum in the order of _nine_taps."""
    c1, c2, r1, r2, r3 = np.uint64(C), np.uint64(2 * C), np.uint64(WC), np.uint64(2 * WC), np.uint64(3 * WC)
    r4, r5, o1, o2, o3 = np.uint64(4 * WC), np.uint64(5 * WC), np.uint64(WoC), np.uint64(2 * WoC), np.uint64(3 * WoC)
    t1, t2, t3, t4 = np.uint64(L), np.uint64(2 * L), np.uint64(3 * L), np.uint64(4 * L)
    t5, t6, t7, t8 = np.uint64(5 * L), np.uint64(6 * L), np.uint64(7 * L), np.uint64(8 * L)
    for q in range(np.uint64(count)):
        w0, w1, w2 = wf[q], wf[t1 + q], wf[t2 + q]
        w3, w4, w5 = wf[t3 + q], wf[t4 + q], wf[t5 + q]
        w6, w7, w8 = wf[t6 + q], wf[t7 + q], wf[t8 + q]
        x0, x1, x2 = xf[src + q], xf[src + c1 + q], xf[src + c2 + q]
        m0, m1, m2 = xf[src + r1 + q], xf[src + r1 + c1 + q], xf[src + r1 + c2 + q]
        n0, n1, n2 = xf[src + r2 + q], xf[src + r2 + c1 + q], xf[src + r2 + c2 + q]
        yf[dst + q] = x0 * w0 + x1 * w1 + x2 * w2 + m0 * w3 + m1 * w4 + m2 * w5 + n0 * w6 + n1 * w7 + n2 * w8
        x0, x1, x2 = xf[src + r3 + q], xf[src + r3 + c1 + q], xf[src + r3 + c2 + q]
        yf[dst + o1 + q] = m0 * w0 + m1 * w1 + m2 * w2 + n0 * w3 + n1 * w4 + n2 * w5 + x0 * w6 + x1 * w7 + x2 * w8
        m0, m1, m2 = xf[src + r4 + q], xf[src + r4 + c1 + q], xf[src + r4 + c2 + q]
        yf[dst + o2 + q] = n0 * w0 + n1 * w1 + n2 * w2 + x0 * w3 + x1 * w4 + x2 * w5 + m0 * w6 + m1 * w7 + m2 * w8
        n0, n1, n2 = xf[src + r5 + q], xf[src + r5 + c1 + q], xf[src + r5 + c2 + q]
        yf[dst + o3 + q] = x0 * w0 + x1 * w1 + x2 * w2 + m0 * w3 + m1 * w4 + m2 * w5 + n0 * w6 + n1 * w7 + n2 * w8


@njit(inline="always")
def _forward_rows_segment(xf, wf, yf, n, h0, s0, s1, y_row, rows, H, W, C, Wo, left, L):
    """Output pixels s0..s1 of ``rows`` (2 or 4) rows (3x3, stride 1, all windows inside
    the image's rows): the border pixels of each row tap by tap, the rest all rows at once."""
    a = max(s0, left)
    b = max(a, min(s1, W + left - 2))
    for k in range(rows):
        row = y_row + k * Wo * C
        _zero(yf, row + s0 * C, (a - s0) * C)
        _zero(yf, row + b * C, (s1 - b) * C)
        for i in range(3):
            x_row = (n * H + h0 + k + i) * W * C
            _taps_one_by_one(yf, xf, wf, row, x_row, i * 3 * L, s0, a, 3, left, W, C, L)
            _taps_one_by_one(yf, xf, wf, row, x_row, i * 3 * L, b, s1, 3, left, W, C, L)
    if a >= b:
        return
    src, dst = np.uint64(((n * H + h0) * W + a - left) * C), np.uint64(y_row + a * C)
    if rows == 4:
        _nine_taps_four_rows(yf, xf, wf, dst, src, (b - a) * C, C, W * C, Wo * C, L)
    else:
        _nine_taps_two_rows(yf, xf, wf, dst, src, (b - a) * C, C, W * C, Wo * C, L)


@njit(inline="always")
def _rows_at_once(r, rows_left, Ho, sh, top, H, KH, KW):
    """How many output rows from r on run at once: 4 or 2 rows of one image whose 3x3
    windows (stride 1) lie inside the image, else 1."""
    ho = r % Ho
    h0 = ho * sh - top
    for rows in (4, 2):
        if (KH == 3 and KW == 3 and sh == 1 and rows <= rows_left and ho + rows <= Ho
                and h0 >= 0 and h0 + rows + 2 <= H):
            return rows
    return 1


@njit(parallel=True, cache=True)
def _rows_forward(x, wt, sh, top, left, y):
    """Each image's output rows in groups of four (four, two or one at once, _rows_at_once);
    the groups start after the ``top`` rows whose windows reach above the image, so that the
    first group of four lies inside."""
    N, H, W, C = x.shape
    _, Ho, Wo, _ = y.shape
    KH, KW, L = wt.shape
    seg = L // C
    xf, wf, yf = x.reshape(-1), wt.reshape(-1), y.reshape(-1)
    shift = min(max(top, 0), Ho) % 4                  # group g of an image: rows 4g-shift..4g+4-shift
    groups = (Ho + shift + 3) // 4
    for p in prange(N * groups):
        n, g = p // groups, p % groups
        r, end = n * Ho + max(0, 4 * g - shift), n * Ho + min(Ho, 4 * g + 4 - shift)
        while r < end:
            rows = _rows_at_once(r, end - r, Ho, sh, top, H, KH, KW)
            n = r // Ho
            h0 = (r - n * Ho) * sh - top
            for s0 in range(0, Wo, seg):
                s1 = min(Wo, s0 + seg)
                if rows > 1:
                    _forward_rows_segment(xf, wf, yf, n, h0, s0, s1, r * Wo * C, rows, H, W, C, Wo, left, L)
                else:
                    _forward_segment(xf, wf, yf, n, h0, s0, s1, r * Wo * C, H, W, C, KH, KW, left, L)
            r += rows


def forward_rows(x, w, sh, top, left, y, segment=SEGMENT):
    """y (N, H_out, W_out, C) = the depthwise convolution with S_w = 1 (module docstring);
    x, w, y C-contiguous of one dtype; ``top``/``left`` may be negative (cropping)."""
    _rows_forward(x, tiled_weights(w, segment_pixels(w.shape[2], segment)), sh, top, left, y)
    return y


# ----------------------------------------------------------------------------- weights


#: output rows whose products a weight-gradient statement adds at once
GRAD_ROWS = 4


@njit(inline="always")
def _four_rows(pf, xf, dyf, tap, g, src, count, x_step, dy_step):
    """pf[tap + q] += x * dy of four rows at once (x rows x_step apart, dy rows dy_step)."""
    e1, e2, e3 = np.uint64(dy_step), np.uint64(2 * dy_step), np.uint64(3 * dy_step)
    s1, s2, s3 = np.uint64(x_step), np.uint64(2 * x_step), np.uint64(3 * x_step)
    for q in range(count):
        pf[tap + q] += (xf[src + q] * dyf[g + q] + xf[src + s1 + q] * dyf[g + e1 + q]
                        + xf[src + s2 + q] * dyf[g + e2 + q] + xf[src + s3 + q] * dyf[g + e3 + q])


@njit(inline="always")
def _grad_taps(pf, xf, dyf, dy_at, x_row, tap0, lo, hi, KW, left, W, C, L, four, x_step, dy_step):
    """Partial dW of one kernel row += x * dy over output pixels lo..hi, each tap clipped;
    ``four``: of four output rows at once (x rows x_step apart, dy rows dy_step apart)."""
    for j in range(KW):
        shift, a, b = _tap_span(j, left, lo, hi, W)
        if a >= b:
            continue
        g = np.uint64(dy_at + a * C)
        src = np.uint64(x_row + (a + shift) * C)
        tap = np.uint64(tap0 + j * L)
        count = np.uint64((b - a) * C)
        if four:
            _four_rows(pf, xf, dyf, tap, g, src, count, x_step, dy_step)
            continue
        for q in range(count):
            pf[tap + q] += xf[src + q] * dyf[g + q]


@njit(inline="always")
def _grad_row_group(pf, xf, dyf, r, rows_here, n, h0, sh, H, W, C, Wo, KH, KW, left, L):
    """Partial dW += the products of output rows r..r+rows_here of image n (row r's window
    from input row h0), segment by segment (its x and dy stay in L1 across the taps): kernel
    rows with all GRAD_ROWS input rows inside at once, else row by row."""
    seg = L // C
    for s0 in range(0, Wo, seg):
        s1 = min(Wo, s0 + seg)
        for i in range(KH):
            if rows_here == GRAD_ROWS and h0 + i >= 0 and h0 + i + (GRAD_ROWS - 1) * sh < H:
                x_row = (n * H + h0 + i) * W * C
                _grad_taps(pf, xf, dyf, r * Wo * C, x_row, i * KW * L, s0, s1,
                           KW, left, W, C, L, True, sh * W * C, Wo * C)
                continue
            for k in range(rows_here):
                if h0 + i + k * sh < 0 or h0 + i + k * sh >= H:
                    continue
                x_row = (n * H + h0 + i + k * sh) * W * C
                _grad_taps(pf, xf, dyf, (r + k) * Wo * C, x_row, i * KW * L, s0, s1,
                           KW, left, W, C, L, False, 0, 0)


@njit(parallel=True, cache=True)
def _rows_backward_weight(dy, x, KH, KW, sh, top, left, tiles):
    """tiles[block] (K_h, K_w, seg*C): block's sum of x * dy, lane q for channel q mod C;
    a block's rows in groups of GRAD_ROWS of one image (fewer at the block's or image's end)."""
    N, H, W, C = x.shape
    _, Ho, Wo, _ = dy.shape
    n_blocks, L = tiles.shape[0], tiles.shape[3]
    rows = N * Ho
    xf, dyf = x.reshape(-1), dy.reshape(-1)
    for blk in prange(n_blocks):
        pf = tiles[blk].reshape(-1)
        pf[:] = 0.0
        r, end = blk * rows // n_blocks, (blk + 1) * rows // n_blocks
        while r < end:
            n = r // Ho
            rows_here = min(GRAD_ROWS, end - r, (n + 1) * Ho - r)
            h0 = (r - n * Ho) * sh - top
            _grad_row_group(pf, xf, dyf, r, rows_here, n, h0, sh, H, W, C, Wo, KH, KW, left, L)
            r += rows_here


def backward_weight_rows(dy, x, w_shape, sh, top, left, n_blocks, segment=SEGMENT):
    """dW (K_h, K_w, C) with S_w = 1: ``n_blocks`` partial sums of tiled lanes, then each
    tap's seg lanes of one channel added (the same blocks on any thread count)."""
    KH, KW, C = w_shape
    seg = segment_pixels(C, segment)
    tiles = np.empty((n_blocks, KH, KW, seg * C), dtype=x.dtype)
    _rows_backward_weight(dy, x, KH, KW, sh, top, left, tiles)
    return tiles.sum(axis=0).reshape(KH, KW, seg, C).sum(axis=2)
