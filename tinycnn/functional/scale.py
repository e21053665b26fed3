"""Channel scaling: y = x * s with one number per image and channel, as one op.

``channel_scale(x, s)`` returns what ``x * s.reshape(N, 1, 1, C)`` returns, bit for bit (one
multiply per value), and its backward gives dx and ds in one pass over dy and x instead of
two full-size products and a second pass that sums one of them over H and W (see
kernels/scale.py).  nn.SqueezeExcite gates its input with it.
"""

from ..kernels import active as K
from ..tensor import Function
from .checks import as_input, check_rank


class ChannelScaleOp(Function):
    """y = x scaled channel by channel, image by image.

    forward:  y[n, h, w, c] = x[n, h, w, c] * s[n, c]
    backward: dx[n, h, w, c] = dy[n, h, w, c] * s[n, c];  ds[n, c] = sum_{h, w} dy * x
    shape:    x (N, H, W, C), s (N, C) -> y like x (H x W x C per image)
    """

    @staticmethod
    def forward(ctx, x, s):
        ctx.save(x=x, s=s)
        return K.channel_scale_forward(x, s)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_grad[1]:                   # only dx = dy * s: the forward kernel on dy
            return K.channel_scale_forward(grad, ctx.s), None
        return K.channel_scale_backward(grad, ctx.x, ctx.s)


def channel_scale(x, s):
    """x * s with x (N, H, W, C) and s (N, C): channel c of image n times s[n, c]."""
    op = "channel_scale"
    x, s = as_input(x, op), as_input(s, op, "s")
    check_rank(x, 4, op, "input", "(N, H, W, C)")
    expected = (x.shape[0], x.shape[3])
    if s.shape != expected:
        raise ValueError(f"{op}: s must have shape (N, C) = {expected} for an input of shape "
                         f"{x.shape}, got {s.shape}")
    return ChannelScaleOp.apply(x, s)
