"""Fast channel scaling (Numba): y = x * s with one scale per image and channel, the gating
step of squeeze-and-excitation (nn.SqueezeExcite), forward and backward.

x (N, H, W, C) is viewed as N images of P = H*W rows of C channels (free in NHWC).  Each
image's rows are split into a fixed number of blocks (helpers.parallel_blocks: from the
shapes only, never from the thread count) and the threads share out the N x blocks pieces.
The backward reads dy and x once: it writes dx = dy * s and adds dy * x into a float64
partial sum per (image, block), which are added at the end, so ds rounds the same whatever
the number of threads.
"""

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401  (sets the threading layer before any parallel kernel)
from .helpers import common_dtype, parallel_blocks


@njit(parallel=True, cache=True)
def _scale_rows(x, s, n_blocks, y):
    """y[n, p, c] = x[n, p, c] * s[n, c]; x and y (N, P, C), block b of image n per piece."""
    N, P, C = x.shape
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    uC = np.uint64(C)
    for piece in prange(N * n_blocks):
        n = piece // n_blocks
        b = piece - n * n_blocks
        scale = s[n]
        for p in range(b * P // n_blocks, (b + 1) * P // n_blocks):
            row = np.uint64((n * P + p) * C)
            for c in range(uC):
                yf[row + c] = xf[row + c] * scale[c]


@njit(parallel=True, cache=True)
def _scale_rows_backward(dy, x, s, dx, partial):
    """dx[n, p, c] = dy[n, p, c] * s[n, c] and partial[n, b, c] = sum over block b of image n
    of dy[n, p, c] * x[n, p, c] (float64), in one pass over dy and x."""
    N, P, C = x.shape
    n_blocks = partial.shape[1]
    xf = x.reshape(-1)
    dyf = dy.reshape(-1)
    dxf = dx.reshape(-1)
    uC = np.uint64(C)
    for piece in prange(N * n_blocks):
        n = piece // n_blocks
        b = piece - n * n_blocks
        scale = s[n]
        acc = partial[n, b]
        acc[:] = 0.0
        for p in range(b * P // n_blocks, (b + 1) * P // n_blocks):
            row = np.uint64((n * P + p) * C)
            for c in range(uC):
                g = dyf[row + c]
                dxf[row + c] = g * scale[c]
                acc[c] += np.float64(g) * np.float64(xf[row + c])


def _as_images(a, dtype):
    """(N, H, W, C) -> a C-contiguous (N, H*W, C) array of ``dtype`` (no copy when it is one)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    N, H, W, C = a.shape
    return a.reshape(N, H * W, C)


def channel_scale_forward(x, s):
    """Scale every channel of every image by its own number (squeeze-excite's gating).

    x: (N, H, W, C), s: (N, C) -> y: (N, H, W, C)

    forward:  y[n, h, w, c] = x[n, h, w, c] * s[n, c]      (the one multiply of x * s, so
              the same bits as NumPy's broadcast x * s[:, None, None, :])
    backward: channel_scale_backward
    shape:    y like x: H×W×C per image; s holds one number per image and channel.
    """
    dtype = common_dtype(x, s)
    x3 = _as_images(x, dtype)
    s = np.ascontiguousarray(s, dtype=dtype)
    y = np.empty_like(x3)
    _scale_rows(x3, s, parallel_blocks(x3.shape[1]), y)
    return y.reshape(x.shape)


def channel_scale_backward(dy, x, s):
    """Gradient of y = x * s[n, c] for both inputs, in one pass over dy and x.

    backward: dx[n, h, w, c] = dy[n, h, w, c] * s[n, c]
              ds[n, c] = sum_{h, w} dy[n, h, w, c] * x[n, h, w, c]
              (accumulated in float64, per fixed block of rows, then rounded to the dtype)
    shape:    (dx like x (N, H, W, C), ds like s (N, C))
    """
    dtype = common_dtype(dy, x, s)
    dy3, x3 = _as_images(dy, dtype), _as_images(x, dtype)
    s = np.ascontiguousarray(s, dtype=dtype)
    N, P, C = x3.shape
    dx = np.empty_like(x3)
    partial = np.empty((N, parallel_blocks(P), C), dtype=np.float64)
    _scale_rows_backward(dy3, x3, s, dx, partial)
    return dx.reshape(x.shape), partial.sum(axis=1).astype(dtype)
