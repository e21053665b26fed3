"""Convolutions: standard, depthwise and pointwise (1x1), each with an optional fused
bias + activation epilogue.  Layout NHWC; weights as Keras stores them."""

from ..kernels import active as K
from ..tensor import Function
from .activations import add_bias_and_activation, check_activation
from .checks import WeightLayout, conv_geometry, weighted_inputs

CONV2D_WEIGHT = WeightLayout("(K_h, K_w, C_in, C_out)", 4, in_axis=2, out_axis=3,
                             mismatch="expects C_in =", image_input=True)
DEPTHWISE_WEIGHT = WeightLayout("(K_h, K_w, C)", 3, in_axis=2, out_axis=2,
                                mismatch="has", image_input=True)
POINTWISE_WEIGHT = WeightLayout("(C_in, C_out)", 2, in_axis=0, out_axis=1,
                                mismatch="expects C_in =", image_input=True)

# ----------------------------------------------------------------------------- standard


class Conv2DOp(Function):
    """Standard convolution (see kernels/reference.py: conv2d_forward).

    forward:  y[n, h, w, f] = sum_{i, j, c} xp[n, h*S + i, w*S + j, c] * W[i, j, c, f]
    backward: dx = conv2d_backward_input(dy, W), dW = conv2d_backward_weight(dy, x)
    shape:    H x W x C_in -> H_out x W_out x C_out, H_out = floor((H + p_top + p_bottom - K) / S) + 1
    """

    @staticmethod
    def forward(ctx, x, w, stride, pads):
        ctx.save(x=x, w=w, stride=stride, pads=pads)
        return K.conv2d_forward(x, w, stride, pads)

    @staticmethod
    def backward(ctx, grad):
        need_x, need_w = ctx.needs_grad
        dx = K.conv2d_backward_input(grad, ctx.w, ctx.x.shape, ctx.stride, ctx.pads) if need_x else None
        dw = K.conv2d_backward_weight(grad, ctx.x, ctx.w.shape, ctx.stride, ctx.pads) if need_w else None
        return dx, dw


def conv2d(x, w, b=None, stride=1, padding="valid", activation=None):
    """Standard 2-D convolution of x (N, H, W, C_in) with w (K_h, K_w, C_in, C_out), plus bias b (C_out,),
    then an activation by name (a key of ``ACTIVATIONS``: None, "relu", "relu6", "sigmoid", "tanh", "silu", ...)."""
    x, w, b = weighted_inputs(x, w, b, "conv2d", CONV2D_WEIGHT)
    check_activation(activation, "conv2d")
    stride, pads = conv_geometry(x, w.shape[:2], stride, padding, "conv2d", w.shape[3])
    return add_bias_and_activation(Conv2DOp.apply(x, w, stride=stride, pads=pads), b, activation)

# ----------------------------------------------------------------------------- depthwise


class DepthwiseConv2DOp(Function):
    """Depthwise convolution: each channel has its own K_h x K_w filter.

    forward:  y[n, h, w, c] = sum_{i, j} xp[n, h*S + i, w*S + j, c] * W[i, j, c]
    backward: dx = depthwise_conv2d_backward_input(dy, W), dW = ..._backward_weight(dy, x)
    shape:    H x W x C -> H_out x W_out x C, H_out = floor((H + p_top + p_bottom - K) / S) + 1
    """

    @staticmethod
    def forward(ctx, x, w, stride, pads):
        ctx.save(x=x, w=w, stride=stride, pads=pads)
        return K.depthwise_conv2d_forward(x, w, stride, pads)

    @staticmethod
    def backward(ctx, grad):
        need_x, need_w = ctx.needs_grad
        dx = K.depthwise_conv2d_backward_input(grad, ctx.w, ctx.x.shape, ctx.stride, ctx.pads) if need_x else None
        dw = K.depthwise_conv2d_backward_weight(grad, ctx.x, ctx.w.shape, ctx.stride, ctx.pads) if need_w else None
        return dx, dw


def depthwise_conv2d(x, w, b=None, stride=1, padding="valid", activation=None):
    """Depthwise convolution of x (N, H, W, C) with w (K_h, K_w, C), plus bias b (C,), then an activation."""
    x, w, b = weighted_inputs(x, w, b, "depthwise_conv2d", DEPTHWISE_WEIGHT)
    check_activation(activation, "depthwise_conv2d")
    stride, pads = conv_geometry(x, w.shape[:2], stride, padding, "depthwise_conv2d", w.shape[2])
    return add_bias_and_activation(DepthwiseConv2DOp.apply(x, w, stride=stride, pads=pads), b, activation)

# ----------------------------------------------------------------------------- pointwise


class PointwiseConv2DOp(Function):
    """Pointwise (1x1) convolution: a matrix product at every pixel.

    forward:  y[n, h, w, f] = sum_c x[n, h, w, c] * W[c, f]
    backward: dx = dy W^T,  dW = X^T dY (X, dY: all pixels as rows)
    shape:    H x W x C_in -> H x W x C_out
    """

    @staticmethod
    def forward(ctx, x, w):
        ctx.save(x=x, w=w)
        return K.pointwise_conv2d_forward(x, w)

    @staticmethod
    def backward(ctx, grad):
        need_x, need_w = ctx.needs_grad
        dx = K.pointwise_conv2d_backward_input(grad, ctx.w) if need_x else None
        dw = K.pointwise_conv2d_backward_weight(grad, ctx.x) if need_w else None
        return dx, dw


def pointwise_conv2d(x, w, b=None, activation=None):
    """1x1 convolution of x (N, H, W, C_in) with w (C_in, C_out), plus bias b (C_out,), then an activation."""
    x, w, b = weighted_inputs(x, w, b, "pointwise_conv2d", POINTWISE_WEIGHT)
    check_activation(activation, "pointwise_conv2d")
    return add_bias_and_activation(PointwiseConv2DOp.apply(x, w), b, activation)
