"""Differentiable ops on images: one class per op, forward and backward side by side.

Each op class turns Tensors into arrays, calls a kernel from ``tinycnn.kernels.active``
(the fast Numba kernels, or the reference loops when TINYCNN_KERNELS=reference), and
remembers what its backward needs.  The lower-case functions (``conv2d``, ``relu``, ...)
are the public API: they check their inputs, resolve stride and padding, and apply the op.

Layout is NHWC: x has shape (N, H, W, C), the lecture's H x W x C per image.
Weights: conv (K_h, K_w, C_in, C_out), depthwise (K_h, K_w, C), pointwise (C_in, C_out),
dense (in, out), as Keras stores them.
"""

import numpy as np

from .kernels import active as K
from .kernels.shapes import as_pair, conv_output_hw, resolve_padding
from .tensor import Function, Tensor

# ----------------------------------------------------------------------------- input checks


def as_input(value, op, name="x"):
    """Accept a Tensor or a float array; anything else gets an error naming the op."""
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must hold floats (float32 or float64), got dtype {array.dtype}")
    return Tensor(array)


def check_rank(t, rank, op, name, meaning):
    if t.ndim != rank:
        raise ValueError(f"{op}: {name} must have {rank} dimensions {meaning}, got shape {t.shape}")


def check_finite(t, op, name):
    if not np.all(np.isfinite(t.data)):
        raise ValueError(f"{op}: {name} contains NaN or inf")


def check_bias(b, channels, op):
    if b is not None and b.shape != (channels,):
        raise ValueError(f"{op}: bias must have shape ({channels},), got {b.shape}")


class BiasActivation(Function):
    """The fused epilogue of a conv or dense layer: one pass instead of "add bias, then activate".

    forward:  y[..., c] = act(z[..., c] + b[c])   (z, a fresh op output, is overwritten)
    backward: dz = dy * act'(z), computed from the output y alone; db[c] = sum of dz[..., c]
    Only for activations whose derivative can be read off the output: None, relu, relu6, sigmoid.
    """

    @staticmethod
    def forward(ctx, z, b, activation):
        y = K.bias_activation_forward(z, b, activation)
        ctx.save(y=y, activation=activation)
        return y

    @staticmethod
    def backward(ctx, grad):
        return K.bias_activation_backward(grad, ctx.y, ctx.activation)


FUSABLE_ACTIVATIONS = (None, "linear", "relu", "relu6", "sigmoid")


def add_bias_and_activation(y, b, activation):
    """act(y + b) for the fresh output y of a conv or dense op (the epilogue of a layer).

    Fused into one kernel pass where the activation allows (see BiasActivation); SiLU,
    whose backward needs the pre-activation, is applied as a separate op.
    """
    if activation in (None, "linear"):
        return y if b is None else y + b             # nothing to fuse: adding the bias is one pass
    if activation in FUSABLE_ACTIVATIONS:
        return BiasActivation.apply(y, b, activation=activation)
    if activation != "silu":
        raise ValueError(f"unknown activation {activation!r}; expected one of "
                         f"{list(FUSABLE_ACTIVATIONS) + ['silu']}")
    return silu(y if b is None else y + b)


def conv_geometry(x, kernel_hw, stride, padding, op):
    """Resolve stride and padding for an image op and check that the kernel fits."""
    stride = as_pair(stride, "stride", op)
    pads = resolve_padding(padding, x.shape[1:3], kernel_hw, stride, op)
    conv_output_hw(x.shape[1:3], kernel_hw, stride, pads, op)
    return stride, pads


# ----------------------------------------------------------------------------- convolutions


class Conv2d(Function):
    """Standard convolution (see kernels/reference.py: conv2d_forward).

    forward:  y[n, h, w, f] = sum_{i, j, c} xp[n, h*S + i, w*S + j, c] * W[i, j, c, f]
    backward: dx = conv2d_backward_input(dy, W), dW = conv2d_backward_weight(dy, x)
    shape:    H_out = floor((H + p_top + p_bottom - K) / S) + 1
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
    then an activation by name (None, "relu", "relu6", "sigmoid", "silu")."""
    x, w = as_input(x, "conv2d"), as_input(w, "conv2d", "weight")
    b = None if b is None else as_input(b, "conv2d", "bias")
    check_rank(x, 4, "conv2d", "input", "(N, H, W, C)")
    check_rank(w, 4, "conv2d", "weight", "(K_h, K_w, C_in, C_out)")
    if x.shape[3] != w.shape[2]:
        raise ValueError(f"conv2d: input has {x.shape[3]} channels but the weight expects "
                         f"C_in = {w.shape[2]} (weight shape {w.shape})")
    check_bias(b, w.shape[3], "conv2d")
    stride, pads = conv_geometry(x, w.shape[:2], stride, padding, "conv2d")
    return add_bias_and_activation(Conv2d.apply(x, w, stride=stride, pads=pads), b, activation)


class DepthwiseConv2d(Function):
    """Depthwise convolution: each channel has its own K_h x K_w filter.

    forward:  y[n, h, w, c] = sum_{i, j} xp[n, h*S + i, w*S + j, c] * W[i, j, c]
    backward: dx = depthwise_conv2d_backward_input(dy, W), dW = ..._backward_weight(dy, x)
    shape:    H_out = floor((H + p_top + p_bottom - K) / S) + 1, C unchanged
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
    x, w = as_input(x, "depthwise_conv2d"), as_input(w, "depthwise_conv2d", "weight")
    b = None if b is None else as_input(b, "depthwise_conv2d", "bias")
    check_rank(x, 4, "depthwise_conv2d", "input", "(N, H, W, C)")
    check_rank(w, 3, "depthwise_conv2d", "weight", "(K_h, K_w, C)")
    if x.shape[3] != w.shape[2]:
        raise ValueError(f"depthwise_conv2d: input has {x.shape[3]} channels but the weight has "
                         f"{w.shape[2]} (weight shape {w.shape})")
    check_bias(b, w.shape[2], "depthwise_conv2d")
    stride, pads = conv_geometry(x, w.shape[:2], stride, padding, "depthwise_conv2d")
    return add_bias_and_activation(DepthwiseConv2d.apply(x, w, stride=stride, pads=pads), b, activation)


class PointwiseConv2d(Function):
    """Pointwise (1x1) convolution: a matrix product at every pixel.

    forward:  y[n, h, w, f] = sum_c x[n, h, w, c] * W[c, f]
    backward: dx = dy W^T,  dW = X^T dY (X, dY: all pixels as rows)
    shape:    (N, H, W, C_in) -> (N, H, W, C_out)
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
    x, w = as_input(x, "pointwise_conv2d"), as_input(w, "pointwise_conv2d", "weight")
    b = None if b is None else as_input(b, "pointwise_conv2d", "bias")
    check_rank(x, 4, "pointwise_conv2d", "input", "(N, H, W, C)")
    check_rank(w, 2, "pointwise_conv2d", "weight", "(C_in, C_out)")
    if x.shape[3] != w.shape[0]:
        raise ValueError(f"pointwise_conv2d: input has {x.shape[3]} channels but the weight expects "
                         f"C_in = {w.shape[0]} (weight shape {w.shape})")
    check_bias(b, w.shape[1], "pointwise_conv2d")
    return add_bias_and_activation(PointwiseConv2d.apply(x, w), b, activation)


# ----------------------------------------------------------------------------- pooling


class MaxPool2d(Function):
    """Max pooling (see kernels/reference.py: max_pool2d_forward).

    forward:  y[n, h, w, c] = max_{i, j} xp[n, h*S + i, w*S + j, c]   (padding = -inf)
    backward: dx[the window's first argmax] += dy[n, h, w, c]; every other pixel gets 0
    shape:    H_out = floor((H + p_top + p_bottom - K) / S) + 1, C unchanged
    """

    @staticmethod
    def forward(ctx, x, size, stride, pads):
        ctx.save(x=x, size=size, stride=stride, pads=pads)
        return K.max_pool2d_forward(x, size, stride, pads)

    @staticmethod
    def backward(ctx, grad):
        return K.max_pool2d_backward(grad, ctx.x, ctx.size, ctx.stride, ctx.pads)


class AvgPool2d(Function):
    """Average pooling; padded pixels are left out of the count (Keras "same").

    forward:  y[n, h, w, c] = (1 / count[h, w]) * sum_{i, j} xp[n, h*S + i, w*S + j, c]
    backward: every real pixel of the window gets dy[n, h, w, c] / count[h, w]
    shape:    H_out = floor((H + p_top + p_bottom - K) / S) + 1, C unchanged
    """

    @staticmethod
    def forward(ctx, x, size, stride, pads):
        ctx.save(shape=x.shape, size=size, stride=stride, pads=pads)
        return K.avg_pool2d_forward(x, size, stride, pads)

    @staticmethod
    def backward(ctx, grad):
        return K.avg_pool2d_backward(grad, ctx.shape, ctx.size, ctx.stride, ctx.pads)


def pool_arguments(x, size, stride, padding, op):
    x = as_input(x, op)
    check_rank(x, 4, op, "input", "(N, H, W, C)")
    size = as_pair(size, "size", op)
    stride, pads = conv_geometry(x, size, size if stride is None else stride, padding, op)
    for axis, (before, after) in enumerate(pads):
        if max(before, after) > size[axis] // 2:
            raise ValueError(f"{op}: padding {pads} is more than half the window {size}, "
                             "so a window could hold padding only")
    return x, size, stride, pads


def max_pool2d(x, size=2, stride=None, padding="valid"):
    """Max pooling; stride defaults to the window size (2x2 halves H and W)."""
    x, size, stride, pads = pool_arguments(x, size, stride, padding, "max_pool2d")
    return MaxPool2d.apply(x, size=size, stride=stride, pads=pads)


def avg_pool2d(x, size=2, stride=None, padding="valid"):
    """Average pooling; stride defaults to the window size."""
    x, size, stride, pads = pool_arguments(x, size, stride, padding, "avg_pool2d")
    return AvgPool2d.apply(x, size=size, stride=stride, pads=pads)


class GlobalAvgPool2d(Function):
    """forward: y[n, c] = mean_{h, w} x[n, h, w, c].  backward: dx = dy / (H W) everywhere.
    shape: (N, H, W, C) -> (N, C)."""

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
    return GlobalAvgPool2d.apply(x)


# ----------------------------------------------------------------------------- activations


class ReLU(Function):
    """forward: y = max(x, 0).  backward: dx = dy * [x > 0]."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return K.relu_forward(x)

    @staticmethod
    def backward(ctx, grad):
        return K.relu_backward(grad, ctx.x)


class ReLU6(Function):
    """forward: y = min(max(x, 0), 6).  backward: dx = dy * [0 < x < 6]."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return K.relu6_forward(x)

    @staticmethod
    def backward(ctx, grad):
        return K.relu6_backward(grad, ctx.x)


class Sigmoid(Function):
    """forward: y = 1 / (1 + e^-x).  backward: dx = dy * y * (1 - y)."""

    @staticmethod
    def forward(ctx, x):
        y = K.sigmoid_forward(x)
        ctx.save(y=y)
        return y

    @staticmethod
    def backward(ctx, grad):
        return K.sigmoid_backward(grad, ctx.y)


class SiLU(Function):
    """forward: y = x * sigmoid(x) (swish).  backward: dx = dy * (s + x s (1 - s))."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return K.silu_forward(x)

    @staticmethod
    def backward(ctx, grad):
        return K.silu_backward(grad, ctx.x)


def relu(x):
    """max(x, 0), elementwise; same shape."""
    return ReLU.apply(as_input(x, "relu"))


def relu6(x):
    """min(max(x, 0), 6), elementwise (MobileNet); same shape."""
    return ReLU6.apply(as_input(x, "relu6"))


def sigmoid(x):
    """1 / (1 + e^-x), elementwise, without overflow; same shape."""
    return Sigmoid.apply(as_input(x, "sigmoid"))


def silu(x):
    """x * sigmoid(x), elementwise (swish, EfficientNet); same shape."""
    return SiLU.apply(as_input(x, "silu"))


swish = silu


class Softmax(Function):
    """forward: y_k = e^{x_k} / sum_j e^{x_j} along axis.  backward: dx = y * (dy - sum(dy * y))."""

    @staticmethod
    def forward(ctx, x, axis):
        y = np.moveaxis(K.softmax_forward(np.moveaxis(x, axis, -1)), -1, axis)
        ctx.save(y=y, axis=axis)
        return y

    @staticmethod
    def backward(ctx, grad):
        g, y = np.moveaxis(grad, ctx.axis, -1), np.moveaxis(ctx.y, ctx.axis, -1)
        return np.moveaxis(K.softmax_backward(g, y), -1, ctx.axis)


class LogSoftmax(Function):
    """forward: y_k = x_k - log sum_j e^{x_j}.  backward: dx = dy - e^y * sum(dy)."""

    @staticmethod
    def forward(ctx, x, axis):
        y = np.moveaxis(K.log_softmax_forward(np.moveaxis(x, axis, -1)), -1, axis)
        ctx.save(y=y, axis=axis)
        return y

    @staticmethod
    def backward(ctx, grad):
        g, y = np.moveaxis(grad, ctx.axis, -1), np.moveaxis(ctx.y, ctx.axis, -1)
        return np.moveaxis(K.log_softmax_backward(g, y), -1, ctx.axis)


def softmax(x, axis=-1):
    """Probabilities along axis: e^{x_k} / sum_j e^{x_j} (max subtracted first); same shape."""
    return Softmax.apply(as_input(x, "softmax"), axis=axis)


def log_softmax(x, axis=-1):
    """log softmax along axis, by log-sum-exp (stable for large logits); same shape."""
    return LogSoftmax.apply(as_input(x, "log_softmax"), axis=axis)


# ----------------------------------------------------------------------------- dense, dropout


def linear(x, w, b=None, activation=None):
    """Dense layer: y = act(x W + b) with x (N, in), W (in, out), b (out,)."""
    x, w = as_input(x, "linear"), as_input(w, "linear", "weight")
    check_rank(w, 2, "linear", "weight", "(in, out)")
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"linear: input has {x.shape[-1]} features but the weight expects "
                         f"{w.shape[0]} (weight shape {w.shape})")
    b = None if b is None else as_input(b, "linear", "bias")
    check_bias(b, w.shape[1], "linear")
    return add_bias_and_activation(x @ w, b, activation)


def dropout(x, rate, training, rng=None):
    """Inverted dropout: in training, zero each entry with probability rate and scale the
    survivors by 1 / (1 - rate), so evaluation (identity) needs no rescaling.

    forward:  y = x * m / (1 - rate), m ~ Bernoulli(1 - rate)
    backward: dx = dy * m / (1 - rate)
    """
    x = as_input(x, "dropout")
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if not training or rate == 0:
        return x
    rng = np.random.default_rng() if rng is None else rng
    keep = (rng.random(x.shape) >= rate).astype(x.dtype) / x.dtype.type(1 - rate)
    return x * keep


# ----------------------------------------------------------------------------- batch norm


class BatchNormTrain(Function):
    """Batch norm with this batch's statistics; updates the running averages in place.

    forward:  y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta
    backward: see kernels/reference.py: batch_norm_train_backward
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, momentum, eps):
        y, mean, var = K.batch_norm_train_forward(x, gamma, beta, eps)
        K.batch_norm_update_running(running_mean, running_var, mean, var, x.size // x.shape[-1], momentum)
        ctx.save(x=x, gamma=gamma, mean=mean, var=var, eps=eps)
        return y

    @staticmethod
    def backward(ctx, grad):
        dx, dgamma, dbeta = K.batch_norm_train_backward(grad, ctx.x, ctx.gamma, ctx.mean, ctx.var, ctx.eps)
        return dx, dgamma, dbeta


class BatchNormEval(Function):
    """Batch norm with the running statistics (a fixed per-channel affine map).

    forward:  y = gamma * (x - mu) / sqrt(var + eps) + beta
    backward: dx = dy * gamma / sqrt(var + eps); dgamma = sum dy * x_hat; dbeta = sum dy
    shape:    y like x; gamma, beta, mu, var have shape (C,)
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, eps):
        ctx.save(x=x, gamma=gamma, mean=running_mean, var=running_var, eps=eps)
        return K.batch_norm_eval_forward(x, gamma, beta, running_mean, running_var, eps)

    @staticmethod
    def backward(ctx, grad):
        return K.batch_norm_eval_backward(grad, ctx.x, ctx.gamma, ctx.mean, ctx.var, ctx.eps)


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.99, eps=1e-3):
    """Batch normalisation over the last (channel) axis.

    In training, normalise with the batch's mean/variance and update the running
    statistics in place (Keras momentum: running = momentum * running + (1 - momentum) * batch);
    in evaluation, use the running statistics.  Defaults follow Keras (0.99, 1e-3).
    """
    x = as_input(x, "batch_norm")
    gamma, beta = as_input(gamma, "batch_norm", "gamma"), as_input(beta, "batch_norm", "beta")
    C = x.shape[-1]
    for name, value in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                        ("running_var", running_var)):
        if np.shape(value) != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},) for an input with {C} "
                             f"channels, got {np.shape(value)}")
    if training:
        if x.size // C < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel, "
                             f"got input shape {x.shape}")
        return BatchNormTrain.apply(x, gamma, beta, running_mean=running_mean, running_var=running_var,
                                    momentum=momentum, eps=eps)
    return BatchNormEval.apply(x, gamma, beta, running_mean=running_mean, running_var=running_var, eps=eps)


# ----------------------------------------------------------------------------- losses


class CrossEntropy(Function):
    """Mean (optionally class-weighted) cross-entropy from logits.

    forward:  loss = -sum_i w_{y_i} log softmax(x_i)_{y_i} / sum_i w_{y_i}
    backward: dx_i = (softmax(x_i) - onehot(y_i)) * w_{y_i} / sum_i w_{y_i}
    """

    @staticmethod
    def forward(ctx, logits, labels, class_weight):
        log_p = K.log_softmax_forward(logits)
        rows = np.arange(len(labels))
        sample_weight = np.ones(len(labels), logits.dtype) if class_weight is None else class_weight[labels]
        total = sample_weight.sum()
        ctx.save(log_p=log_p, labels=labels, rows=rows, scale=sample_weight / total)
        return np.asarray(-(sample_weight * log_p[rows, labels]).sum() / total, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        d = np.exp(ctx.log_p)
        d[ctx.rows, ctx.labels] -= 1
        return grad * d * ctx.scale[:, None].astype(d.dtype), None, None


def cross_entropy(logits, labels, weight=None):
    """Cross-entropy of integer labels (N,) given logits (N, classes); weight: per-class weights."""
    logits = as_input(logits, "cross_entropy", "logits")
    check_rank(logits, 2, "cross_entropy", "logits", "(N, classes)")
    check_finite(logits, "cross_entropy", "logits")
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.shape != (logits.shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: labels must be integers of shape ({logits.shape[0]},), "
                         f"got {labels.dtype} of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"cross_entropy: labels must be in [0, {logits.shape[1] - 1}], "
                         f"got values from {labels.min()} to {labels.max()}")
    if weight is not None:
        weight = np.asarray(weight, dtype=logits.dtype)
        if weight.shape != (logits.shape[1],):
            raise ValueError(f"cross_entropy: weight must have shape ({logits.shape[1]},), got {weight.shape}")
    return CrossEntropy.apply(logits, labels=labels, class_weight=weight)


def softplus_array(x):
    """log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


class BinaryCrossEntropyWithLogits(Function):
    """Mean binary cross-entropy from logits x and targets t in [0, 1], positives weighted by p.

    forward:  l = (1 - t) * x + (1 + (p - 1) * t) * softplus(-x)     (stable for |x| = 1000)
              which equals -[p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))]
    backward: dl/dx = (1 - t) - (1 + (p - 1) * t) * sigmoid(-x), divided by N for the mean
    """

    @staticmethod
    def forward(ctx, x, t, pos_weight):
        weight = 1 + (pos_weight - 1) * t
        loss = (1 - t) * x + weight * softplus_array(-x)
        ctx.save(x=x, t=t, weight=weight)
        return np.asarray(loss.mean(), dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        sig_neg = K.sigmoid_forward(-ctx.x)
        return grad * ((1 - ctx.t) - ctx.weight * sig_neg) / ctx.x.size, None


def binary_cross_entropy_with_logits(logits, targets, pos_weight=None):
    """Binary cross-entropy for single-logit models; pos_weight > 1 up-weights positives."""
    logits = as_input(logits, "binary_cross_entropy_with_logits", "logits")
    check_finite(logits, "binary_cross_entropy_with_logits", "logits")
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if targets.shape != logits.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: targets must have the logits' shape "
                         f"{logits.shape}, got {targets.shape}")
    targets = targets.astype(logits.dtype)
    if not np.all(np.isfinite(targets)) or targets.min(initial=0) < 0 or targets.max(initial=1) > 1:
        raise ValueError("binary_cross_entropy_with_logits: targets must be finite values in [0, 1]")
    pos_weight = 1.0 if pos_weight is None else float(pos_weight)
    if not np.isfinite(pos_weight) or pos_weight <= 0:
        raise ValueError(f"binary_cross_entropy_with_logits: pos_weight must be > 0, got {pos_weight}")
    return BinaryCrossEntropyWithLogits.apply(logits, targets, pos_weight=pos_weight)
