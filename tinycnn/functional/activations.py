"""Activations (relu, relu6, sigmoid, tanh, silu), softmax / log-softmax, and the fused epilogue.

``ACTIVATIONS`` is the one table of activation names: every op's ``activation=`` argument,
every layer's, and the activation layers (``nn.ReLU`` ...) look names up here.
"""

from typing import Callable, NamedTuple, Optional

import numpy as np

from ..kernels import active as K
from ..tensor import Function
from .checks import as_input

# ----------------------------------------------------------------------------- elementwise


class ReLUOp(Function):
    """forward: y = max(x, 0).  backward: dx = dy * [x > 0].  shape: unchanged."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return K.relu_forward(x)

    @staticmethod
    def backward(ctx, grad):
        return K.relu_backward(grad, ctx.x)


def relu(x):
    """max(x, 0), elementwise; same shape."""
    return ReLUOp.apply(as_input(x, "relu"))


class ReLU6Op(Function):
    """forward: y = min(max(x, 0), 6).  backward: dx = dy * [0 < x < 6].  shape: unchanged."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return K.relu6_forward(x)

    @staticmethod
    def backward(ctx, grad):
        return K.relu6_backward(grad, ctx.x)


def relu6(x):
    """min(max(x, 0), 6), elementwise (MobileNet); same shape."""
    return ReLU6Op.apply(as_input(x, "relu6"))


class SigmoidOp(Function):
    """forward: y = 1 / (1 + e^-x).  backward: dx = dy * y * (1 - y).  shape: unchanged."""

    @staticmethod
    def forward(ctx, x):
        y = K.sigmoid_forward(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, grad):
        return K.sigmoid_backward(grad, ctx.y)


def sigmoid(x):
    """1 / (1 + e^-x), elementwise, without overflow; same shape."""
    return SigmoidOp.apply(as_input(x, "sigmoid"))


class TanhOp(Function):
    """forward: y = tanh(x).  backward: dx = dy * (1 - y^2), from the output.  shape: unchanged."""

    @staticmethod
    def forward(ctx, x):
        y = K.tanh_forward(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, grad):
        return K.tanh_backward(grad, ctx.y)


def tanh(x):
    """tanh(x), elementwise, in (-1, 1); same shape."""
    return TanhOp.apply(as_input(x, "tanh"))


class SiLUOp(Function):
    """forward: y = x * sigmoid(x) (swish).  backward: dx = dy * (s + x s (1 - s)), s = sigmoid(x).
    shape: unchanged."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return K.silu_forward(x)

    @staticmethod
    def backward(ctx, grad):
        return K.silu_backward(grad, ctx.x)


def silu(x):
    """x * sigmoid(x), elementwise (swish, EfficientNet); same shape."""
    return SiLUOp.apply(as_input(x, "silu"))


swish = silu

# ----------------------------------------------------------------------------- the activation table


class ActivationSpec(NamedTuple):
    function: Optional[Callable]   # the elementwise op; None: the identity
    fusable: bool                  # the fused bias + activation kernel can do it (see BiasActivationOp)


#: Every activation name an op or a layer accepts.  "fusable" ones have a backward that the
#: kernels compute from the output alone, so they run inside the conv / dense epilogue;
#: their names are also the names the kernels know.
ACTIVATIONS = {
    None: ActivationSpec(None, True),
    "linear": ActivationSpec(None, True),
    "relu": ActivationSpec(relu, True),
    "relu6": ActivationSpec(relu6, True),
    "sigmoid": ActivationSpec(sigmoid, True),
    "tanh": ActivationSpec(tanh, True),
    "silu": ActivationSpec(silu, False),
    "swish": ActivationSpec(silu, False),
}

FUSABLE_ACTIVATIONS = tuple(name for name, entry in ACTIVATIONS.items() if entry.fusable)


def check_activation(activation, op):
    """Return ``activation`` if it is a name in ACTIVATIONS, else raise naming the op."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {activation!r}; expected one of {list(ACTIVATIONS)}")
    return activation


def activate(x, activation):
    """The named activation applied to x (None and "linear": x itself)."""
    function = ACTIVATIONS[check_activation(activation, "activate")].function
    return x if function is None else function(x)


class BiasActivationOp(Function):
    """The fused epilogue of a conv or dense layer: one pass instead of "add bias, then activate".

    forward:  y[..., c] = act(z[..., c] + b[c])   (z, a fresh op output, is overwritten)
    backward: dz = dy * act'(z), computed from the output y alone; db[c] = sum of dz[..., c]
    shape:    y like z (N, H_out, W_out, C_out) or (N, units); b (C,)
    Only for the activations marked fusable in ACTIVATIONS (None, linear, relu, relu6, sigmoid, tanh).
    """

    @staticmethod
    def forward(ctx, z, b, activation):
        y = K.bias_activation_forward(z, b, activation)
        ctx.save(y=y, activation=activation)
        return y

    @staticmethod
    def backward(ctx, grad):
        return K.bias_activation_backward(grad, ctx.y, ctx.activation)


def add_bias_and_activation(y, b, activation):
    """act(y + b) for the fresh output y of a conv or dense op (the epilogue of a layer).

    Fused into one kernel pass where the activation allows (see BiasActivationOp); SiLU,
    whose backward needs the pre-activation, is applied as a separate op.
    """
    function, fusable = ACTIVATIONS[check_activation(activation, "add_bias_and_activation")]
    if function is None:
        return y if b is None else y + b             # nothing to fuse: adding the bias is one pass
    if fusable:
        return BiasActivationOp.apply(y, b, activation=activation)
    return function(y if b is None else y + b)

# ----------------------------------------------------------------------------- softmax


class SoftmaxOp(Function):
    """forward: y_k = e^{x_k} / sum_j e^{x_j} along axis.  backward: dx = y * (dy - sum(dy * y)).
    shape: unchanged (e.g. (N, classes))."""

    @staticmethod
    def forward(ctx, x, axis):
        y = np.moveaxis(K.softmax_forward(np.moveaxis(x, axis, -1)), -1, axis)
        ctx.save(y=y, axis=axis)
        return y

    @staticmethod
    def backward(ctx, grad):
        g, y = np.moveaxis(grad, ctx.axis, -1), np.moveaxis(ctx.y, ctx.axis, -1)
        return np.moveaxis(K.softmax_backward(g, y), -1, ctx.axis)


def softmax(x, axis=-1):
    """Probabilities along axis: e^{x_k} / sum_j e^{x_j} (max subtracted first); same shape."""
    return SoftmaxOp.apply(as_input(x, "softmax"), axis=axis)


class LogSoftmaxOp(Function):
    """forward: y_k = x_k - log sum_j e^{x_j}.  backward: dx = dy - e^y * sum(dy).
    shape: unchanged."""

    @staticmethod
    def forward(ctx, x, axis):
        y = np.moveaxis(K.log_softmax_forward(np.moveaxis(x, axis, -1)), -1, axis)
        ctx.save(y=y, axis=axis)
        return y

    @staticmethod
    def backward(ctx, grad):
        g, y = np.moveaxis(grad, ctx.axis, -1), np.moveaxis(ctx.y, ctx.axis, -1)
        return np.moveaxis(K.log_softmax_backward(g, y), -1, ctx.axis)


def log_softmax(x, axis=-1):
    """log softmax along axis, by log-sum-exp (stable for large logits); same shape."""
    return LogSoftmaxOp.apply(as_input(x, "log_softmax"), axis=axis)
