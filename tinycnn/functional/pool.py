"""Pooling: max and average over K_h x K_w windows, and global average pooling."""

from ..kernels import active as K
from ..kernels.shapes import as_pair
from ..tensor import Function
from .checks import as_input, check_rank, conv_geometry


def pool_arguments(x, size, stride, padding, op):
    """The input check of the window pools: x (N, H, W, C), window size, stride (default: the
    size) and padding of at most half the window, so that no window holds padding only."""
    x = as_input(x, op)
    check_rank(x, 4, op, "input", "(N, H, W, C)")
    size = as_pair(size, "size", op)
    stride, pads = conv_geometry(x, size, size if stride is None else stride, padding, op, x.shape[3])
    for axis, (before, after) in enumerate(pads):
        if max(before, after) > size[axis] // 2:
            raise ValueError(f"{op}: padding {pads} is more than half the window {size}, "
                             "so a window could hold padding only")
    return x, size, stride, pads


class MaxPool2DOp(Function):
    """Max pooling (see kernels/reference.py: max_pool2d_forward).

    forward:  y[n, h, w, c] = max_{i, j} xp[n, h*S + i, w*S + j, c]   (padding = -inf)
    backward: dx[the window's first argmax] += dy[n, h, w, c]; every other pixel gets 0
    shape:    H x W x C -> H_out x W_out x C, H_out = floor((H + p_top + p_bottom - K) / S) + 1
    """

    @staticmethod
    def forward(ctx, x, size, stride, pads):
        ctx.save(x=x, size=size, stride=stride, pads=pads)
        return K.max_pool2d_forward(x, size, stride, pads)

    @staticmethod
    def backward(ctx, grad):
        return K.max_pool2d_backward(grad, ctx.x, ctx.size, ctx.stride, ctx.pads)


def max_pool2d(x, size=2, stride=None, padding="valid"):
    """Max pooling; stride defaults to the window size (2x2 halves H and W)."""
    x, size, stride, pads = pool_arguments(x, size, stride, padding, "max_pool2d")
    return MaxPool2DOp.apply(x, size=size, stride=stride, pads=pads)


class AvgPool2DOp(Function):
    """Average pooling; padded pixels are left out of the count (Keras "same").

    forward:  y[n, h, w, c] = (1 / count[h, w]) * sum_{i, j} xp[n, h*S + i, w*S + j, c]
    backward: every real pixel of the window gets dy[n, h, w, c] / count[h, w]
    shape:    H x W x C -> H_out x W_out x C, H_out = floor((H + p_top + p_bottom - K) / S) + 1
    """

    @staticmethod
    def forward(ctx, x, size, stride, pads):
        ctx.save(shape=x.shape, size=size, stride=stride, pads=pads)
        return K.avg_pool2d_forward(x, size, stride, pads)

    @staticmethod
    def backward(ctx, grad):
        return K.avg_pool2d_backward(grad, ctx.shape, ctx.size, ctx.stride, ctx.pads)


def avg_pool2d(x, size=2, stride=None, padding="valid"):
    """Average pooling; stride defaults to the window size."""
    x, size, stride, pads = pool_arguments(x, size, stride, padding, "avg_pool2d")
    return AvgPool2DOp.apply(x, size=size, stride=stride, pads=pads)


class GlobalAvgPool2DOp(Function):
    """forward: y[n, c] = mean_{h, w} x[n, h, w, c].  backward: dx = dy / (H W) everywhere.
    shape: H x W x C -> C, i.e. (N, H, W, C) -> (N, C)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(shape=x.shape)
        return K.global_avg_pool2d_forward(x)

    @staticmethod
    def backward(ctx, grad):
        return K.global_avg_pool2d_backward(grad, ctx.shape)


def global_avg_pool2d(x):
    """Global average pooling (GAP): (N, H, W, C) -> (N, C)."""
    x = as_input(x, "global_avg_pool2d")
    check_rank(x, 4, "global_avg_pool2d", "input", "(N, H, W, C)")
    return GlobalAvgPool2DOp.apply(x)
