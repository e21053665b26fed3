"""Reference kernels: plain, slow-enough, obviously-correct NumPy versions of every op.

Read these next to the lecture.  Every function takes and returns plain arrays in
NHWC layout (N images, H rows, W columns, C channels: the lecture's H x W x C),
knows nothing about autograd, and states three formulas in its docstring:

* forward:   what the op computes,
* backward:  how the gradient of the loss L flows back (dL/dy is written dy),
* shape:     the output-shape arithmetic.

Conventions used in the formulas:

* ``xp`` is the input zero-padded by ``pads = ((p_top, p_bottom), (p_left, p_right))``,
* ``S = (S_h, S_w)`` is the stride, ``K = (K_h, K_w)`` the kernel size,
* ``H_out = floor((H + p_top + p_bottom - K_h) / S_h) + 1`` (and the same for W).

The convolutions loop over the K_h x K_w kernel taps.  For one tap (i, j) the input
pixels it touches for every output position form a strided slice of ``xp``:

    xp[:, i : i + S_h*(H_out-1) + 1 : S_h, j : j + S_w*(W_out-1) + 1 : S_w, :]

which has shape (N, H_out, W_out, C).  Summing "that slice times the tap's weight"
over all taps is exactly the convolution sum, written without any index tricks.
The fast Numba twins in this package must return the same numbers (tests check it).
"""

import numpy as np

from .shapes import conv_output_hw

# ----------------------------------------------------------------------------- helpers


def pad_hw(x, pads, value=0.0):
    """Pad the H and W axes of an (N, H, W, C) array."""
    (top, bottom), (left, right) = pads
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def unpad_hw(xp, pads):
    """Inverse of pad_hw: cut the padding away again."""
    (top, bottom), (left, right) = pads
    H = xp.shape[1] - top - bottom
    W = xp.shape[2] - left - right
    return xp[:, top:top + H, left:left + W, :]


def tap_slice(i, j, stride, out_hw):
    """Index that picks, for kernel tap (i, j), the input pixel of every output position."""
    (sh, sw), (Ho, Wo) = stride, out_hw
    return (slice(None), slice(i, i + sh * (Ho - 1) + 1, sh), slice(j, j + sw * (Wo - 1) + 1, sw))


# ----------------------------------------------------------------------------- standard conv


def conv2d_forward(x, w, stride, pads):
    """Standard convolution.

    x: (N, H, W, C_in), w: (K_h, K_w, C_in, C_out) -> y: (N, H_out, W_out, C_out)

    forward:  y[n, h, w, f] = sum_{i, j, c} xp[n, h*S_h + i, w*S_w + j, c] * W[i, j, c, f]
    backward: see conv2d_backward_input / conv2d_backward_weight
    shape:    H_out = floor((H + p_top + p_bottom - K_h) / S_h) + 1, same for W;
              C_out = number of filters.  Weights: K_h*K_w*C_in*C_out (3x3x3x32 = 864).
    """
    KH, KW, _, F = w.shape
    out_hw = conv_output_hw(x.shape[1:3], (KH, KW), stride, pads)
    xp = pad_hw(x, pads)
    y = np.zeros((x.shape[0], *out_hw, F), dtype=np.result_type(x, w))
    for i in range(KH):
        for j in range(KW):
            y += xp[tap_slice(i, j, stride, out_hw)] @ w[i, j]      # (N,Ho,Wo,C) @ (C,F)
    return y


def conv2d_backward_input(dy, w, x_shape, stride, pads):
    """Gradient of the standard convolution w.r.t. its input.

    forward:  y[n, h, w, f] = sum_{i, j, c} xp[n, h*S_h + i, w*S_w + j, c] * W[i, j, c, f]
    backward: dxp[n, h*S_h + i, w*S_w + j, c] += sum_f dy[n, h, w, f] * W[i, j, c, f]
              for every tap (i, j); then dx = dxp without its padding.
              (Padded rows the kernel never reaches get zero gradient.)
    shape:    dx has the shape of x: (N, H, W, C_in).
    """
    KH, KW = w.shape[:2]
    out_hw = dy.shape[1:3]
    N, H, W, C = x_shape
    (top, bottom), (left, right) = pads
    dxp = np.zeros((N, H + top + bottom, W + left + right, C), dtype=np.result_type(dy, w))
    for i in range(KH):
        for j in range(KW):
            dxp[tap_slice(i, j, stride, out_hw)] += dy @ w[i, j].T      # (N,Ho,Wo,F) @ (F,C)
    return unpad_hw(dxp, pads)


def conv2d_backward_weight(dy, x, w_shape, stride, pads):
    """Gradient of the standard convolution w.r.t. its weights.

    backward: dW[i, j, c, f] = sum_{n, h, w} xp[n, h*S_h + i, w*S_w + j, c] * dy[n, h, w, f]
    shape:    dW has the shape of W: (K_h, K_w, C_in, C_out).
    """
    KH, KW, C, F = w_shape
    out_hw = dy.shape[1:3]
    xp = pad_hw(x, pads)
    dw = np.zeros(w_shape, dtype=np.result_type(dy, x))
    dy_rows = dy.reshape(-1, F)
    for i in range(KH):
        for j in range(KW):
            patch_rows = xp[tap_slice(i, j, stride, out_hw)].reshape(-1, C)
            dw[i, j] = patch_rows.T @ dy_rows                            # (C,M) @ (M,F)
    return dw


# ----------------------------------------------------------------------------- depthwise conv


def depthwise_conv2d_forward(x, w, stride, pads):
    """Depthwise convolution: one K_h x K_w filter per channel, channels never mix.

    x: (N, H, W, C), w: (K_h, K_w, C) -> y: (N, H_out, W_out, C)

    forward:  y[n, h, w, c] = sum_{i, j} xp[n, h*S_h + i, w*S_w + j, c] * W[i, j, c]
    shape:    H_out = floor((H + p_top + p_bottom - K_h) / S_h) + 1; C stays C
              (224x224x32 with 3x3 "valid" -> 222x222x32).  Weights: K_h*K_w*C (3x3x3 = 27).
    """
    KH, KW, C = w.shape
    out_hw = conv_output_hw(x.shape[1:3], (KH, KW), stride, pads, op="depthwise_conv2d")
    xp = pad_hw(x, pads)
    y = np.zeros((x.shape[0], *out_hw, C), dtype=np.result_type(x, w))
    for i in range(KH):
        for j in range(KW):
            y += xp[tap_slice(i, j, stride, out_hw)] * w[i, j]           # broadcast over C
    return y


def depthwise_conv2d_backward_input(dy, w, x_shape, stride, pads):
    """Gradient of the depthwise convolution w.r.t. its input.

    backward: dxp[n, h*S_h + i, w*S_w + j, c] += dy[n, h, w, c] * W[i, j, c]; dx = unpad(dxp)
    shape:    dx: (N, H, W, C)
    """
    KH, KW, _ = w.shape
    out_hw = dy.shape[1:3]
    N, H, W, C = x_shape
    (top, bottom), (left, right) = pads
    dxp = np.zeros((N, H + top + bottom, W + left + right, C), dtype=np.result_type(dy, w))
    for i in range(KH):
        for j in range(KW):
            dxp[tap_slice(i, j, stride, out_hw)] += dy * w[i, j]
    return unpad_hw(dxp, pads)


def depthwise_conv2d_backward_weight(dy, x, w_shape, stride, pads):
    """Gradient of the depthwise convolution w.r.t. its weights.

    backward: dW[i, j, c] = sum_{n, h, w} xp[n, h*S_h + i, w*S_w + j, c] * dy[n, h, w, c]
    shape:    dW: (K_h, K_w, C)
    """
    KH, KW, C = w_shape
    out_hw = dy.shape[1:3]
    xp = pad_hw(x, pads)
    dw = np.zeros(w_shape, dtype=np.result_type(dy, x))
    for i in range(KH):
        for j in range(KW):
            dw[i, j] = (xp[tap_slice(i, j, stride, out_hw)] * dy).sum(axis=(0, 1, 2))
    return dw


# ----------------------------------------------------------------------------- pointwise conv


def pointwise_conv2d_forward(x, w):
    """Pointwise (1x1) convolution: a Dense layer applied at every pixel.

    x: (N, H, W, C_in), w: (C_in, C_out) -> y: (N, H, W, C_out)

    forward:  y[n, h, w, f] = sum_c x[n, h, w, c] * W[c, f]
    shape:    H and W unchanged; C_in -> C_out.  Weights: C_in*C_out.
    """
    return x @ w


def pointwise_conv2d_backward_input(dy, w):
    """backward: dx[n, h, w, c] = sum_f dy[n, h, w, f] * W[c, f]   (dx = dy W^T); shape of x."""
    return dy @ w.T


def pointwise_conv2d_backward_weight(dy, x):
    """backward: dW[c, f] = sum_{n, h, w} x[n, h, w, c] * dy[n, h, w, f]  (X^T dY); shape (C_in, C_out)."""
    return x.reshape(-1, x.shape[-1]).T @ dy.reshape(-1, dy.shape[-1])


# ----------------------------------------------------------------------------- pooling


def max_pool2d_forward(x, size, stride, pads):
    """Max pooling over K_h x K_w windows; padding counts as -infinity.

    forward:  y[n, h, w, c] = max_{i, j} xp[n, h*S_h + i, w*S_w + j, c]
    shape:    H_out = floor((H + p_top + p_bottom - K_h) / S_h) + 1; C unchanged
              (2x2 stride 2 halves 224 -> 112).
    """
    out_hw = conv_output_hw(x.shape[1:3], size, stride, pads, op="max_pool2d")
    xp = pad_hw(x, pads, value=-np.inf)
    y = np.full((x.shape[0], *out_hw, x.shape[3]), -np.inf, dtype=x.dtype)
    for i in range(size[0]):
        for j in range(size[1]):
            y = np.maximum(y, xp[tap_slice(i, j, stride, out_hw)])
    return y


def max_pool2d_backward(dy, x, size, stride, pads):
    """Gradient of max pooling: each window's gradient goes to the position of its maximum.

    backward: dx[argmax of the window] += dy[n, h, w, c]; all other positions get 0.
              Ties: the first maximum in row-major order inside the window wins (as PyTorch).
    shape:    dx: (N, H, W, C)
    """
    y = max_pool2d_forward(x, size, stride, pads)
    out_hw = y.shape[1:3]
    xp = pad_hw(x, pads, value=-np.inf)
    dxp = np.zeros(xp.shape, dtype=np.result_type(dy, x))
    already_taken = np.zeros(y.shape, dtype=bool)
    for i in range(size[0]):
        for j in range(size[1]):
            window = tap_slice(i, j, stride, out_hw)
            is_first_max = (xp[window] == y) & ~already_taken
            dxp[window] += np.where(is_first_max, dy, 0.0)
            already_taken |= is_first_max
    return unpad_hw(dxp, pads)


def _avg_pool_counts(x_shape, size, stride, pads, out_hw):
    """How many real (non-padding) pixels each pooling window covers: (1, H_out, W_out, 1)."""
    ones = pad_hw(np.ones((1, x_shape[1], x_shape[2], 1)), pads)
    counts = np.zeros((1, *out_hw, 1))
    for i in range(size[0]):
        for j in range(size[1]):
            counts += ones[tap_slice(i, j, stride, out_hw)]
    return counts


def avg_pool2d_forward(x, size, stride, pads):
    """Average pooling; padded pixels are left out of the average (Keras "same").

    forward:  y[n, h, w, c] = (1 / count[h, w]) * sum_{i, j} xp[n, h*S_h + i, w*S_w + j, c]
              where count[h, w] is the number of real pixels in the window
    shape:    H_out = floor((H + p_top + p_bottom - K_h) / S_h) + 1; C unchanged
    """
    out_hw = conv_output_hw(x.shape[1:3], size, stride, pads, op="avg_pool2d")
    xp = pad_hw(x, pads)
    total = np.zeros((x.shape[0], *out_hw, x.shape[3]), dtype=x.dtype)
    for i in range(size[0]):
        for j in range(size[1]):
            total += xp[tap_slice(i, j, stride, out_hw)]
    return (total / _avg_pool_counts(x.shape, size, stride, pads, out_hw)).astype(x.dtype)


def avg_pool2d_backward(dy, x_shape, size, stride, pads):
    """Gradient of average pooling: every pixel of a window gets dy / count.

    backward: dxp[n, h*S_h + i, w*S_w + j, c] += dy[n, h, w, c] / count[h, w]; dx = unpad(dxp)
    shape:    dx: (N, H, W, C)
    """
    out_hw = dy.shape[1:3]
    (top, bottom), (left, right) = pads
    N, H, W, C = x_shape
    share = (dy / _avg_pool_counts(x_shape, size, stride, pads, out_hw)).astype(dy.dtype)
    dxp = np.zeros((N, H + top + bottom, W + left + right, C), dtype=dy.dtype)
    for i in range(size[0]):
        for j in range(size[1]):
            dxp[tap_slice(i, j, stride, out_hw)] += share
    return unpad_hw(dxp, pads)


def global_avg_pool2d_forward(x):
    """Global average pooling (GAP): one number per channel, "is the feature present?".

    forward:  y[n, c] = (1 / (H*W)) * sum_{h, w} x[n, h, w, c]
    shape:    (N, H, W, C) -> (N, C)   (7x7x1024 -> 1024)
    """
    return x.mean(axis=(1, 2))


def global_avg_pool2d_backward(dy, x_shape):
    """backward: dx[n, h, w, c] = dy[n, c] / (H*W) for every (h, w); shape (N, H, W, C)."""
    N, H, W, C = x_shape
    return np.broadcast_to((dy / (H * W))[:, None, None, :], x_shape).copy()


# ----------------------------------------------------------------------------- activations


def relu_forward(x):
    """forward: y = max(x, 0); shape unchanged."""
    return np.maximum(x, 0).astype(x.dtype)


def relu_backward(dy, x):
    """backward: dx = dy * [x > 0]   (the gradient at exactly 0 is taken as 0, as PyTorch)."""
    return dy * (x > 0)


def relu6_forward(x):
    """forward: y = min(max(x, 0), 6)  (MobileNet's activation); shape unchanged."""
    return np.clip(x, 0, 6).astype(x.dtype)


def relu6_backward(dy, x):
    """backward: dx = dy * [0 < x < 6]."""
    return dy * ((x > 0) & (x < 6))


def sigmoid_forward(x):
    """forward: y = 1 / (1 + exp(-x)), computed without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def sigmoid_backward(dy, y):
    """backward (from the output y): dx = dy * y * (1 - y)."""
    return dy * y * (1 - y)


def tanh_forward(x):
    """forward: y = tanh(x) = (e^x - e^-x) / (e^x + e^-x), in (-1, 1); shape unchanged."""
    return np.tanh(x).astype(x.dtype)


def tanh_backward(dy, y):
    """backward (from the output y): dx = dy * (1 - y^2)."""
    return dy * (1 - y * y)


def silu_forward(x):
    """SiLU / swish (EfficientNet's activation). forward: y = x * sigmoid(x)."""
    return (x * sigmoid_forward(x)).astype(x.dtype)


def silu_backward(dy, x):
    """backward: dx = dy * (s + x * s * (1 - s)) with s = sigmoid(x)."""
    s = sigmoid_forward(x)
    return dy * (s + x * s * (1 - s))


def bias_activation_forward(y, b, activation=None):
    """Bias then activation, written into y (the epilogue of a conv or dense layer).

    forward:  y[..., c] <- act(y[..., c] + b[c]); act is None / "linear", "relu", "relu6",
              "sigmoid", "tanh" or "silu"; b may be None
    backward: see bias_activation_backward
    shape:    unchanged; y is overwritten and returned
    """
    z = y if b is None else y + b
    y[...] = {None: lambda v: v, "linear": lambda v: v, "relu": relu_forward, "relu6": relu6_forward,
              "sigmoid": sigmoid_forward, "tanh": tanh_forward, "silu": silu_forward}[activation](z)
    return y


def bias_activation_backward(dy, out, activation=None):
    """Gradient of bias_activation_forward from its output alone; returns (dz, db).

    backward: dz = dy * act'(z), written with the output: relu [out > 0], relu6 [0 < out < 6],
              sigmoid out * (1 - out), tanh 1 - out^2, None 1 (silu cannot be: its
              derivative needs z);
              db[c] = sum over every other axis of dz[..., c]
    """
    derivative = {None: lambda o: 1, "linear": lambda o: 1, "relu": lambda o: o > 0,
                  "relu6": lambda o: (o > 0) & (o < 6), "sigmoid": lambda o: o * (1 - o),
                  "tanh": lambda o: 1 - o * o}
    if activation not in derivative:
        raise ValueError(f"bias_activation_backward: {activation!r} needs the pre-activation")
    dz = (dy * derivative[activation](out)).astype(np.result_type(dy, out))
    return dz, dz.reshape(-1, dz.shape[-1]).sum(axis=0)


# ----------------------------------------------------------------------------- batch norm


def batch_norm_train_forward(x, gamma, beta, eps):
    """Batch norm in training mode: normalise with the statistics of this batch.

    x: (N, H, W, C) or (N, C); statistics per channel c over every other axis (M values).

    forward:  mean_c = (1/M) sum x,  var_c = (1/M) sum (x - mean_c)^2   (biased)
              x_hat = (x - mean_c) / sqrt(var_c + eps),   y = gamma_c * x_hat + beta_c
    shape:    y like x; returns (y, mean, var) so backward and the running averages can use them.
    """
    axes = tuple(range(x.ndim - 1))
    mean = x.mean(axis=axes)
    var = ((x - mean) ** 2).mean(axis=axes)
    x_hat = (x - mean) / np.sqrt(var + eps)
    return (gamma * x_hat + beta).astype(x.dtype), mean, var


def batch_norm_train_backward(dy, x, gamma, mean, var, eps):
    """Gradient of training-mode batch norm (the batch statistics depend on x too).

    backward: dbeta_c  = sum dy
              dgamma_c = sum dy * x_hat
              dx = (gamma_c / sqrt(var_c + eps)) * (dy - dbeta_c / M - x_hat * dgamma_c / M)
    shape:    (dx like x, dgamma (C,), dbeta (C,))
    """
    axes = tuple(range(x.ndim - 1))
    M = x.size // x.shape[-1]
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * x_hat).sum(axis=axes)
    dx = gamma * inv_std * (dy - dbeta / M - x_hat * dgamma / M)
    return dx.astype(dy.dtype), dgamma, dbeta


def batch_norm_eval_forward(x, gamma, beta, running_mean, running_var, eps):
    """Batch norm in evaluation mode: a fixed per-channel affine map.

    forward:  y = gamma_c * (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c
    """
    return (gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta).astype(x.dtype)


def batch_norm_eval_backward(dy, x, gamma, running_mean, running_var, eps):
    """backward: dx = dy * gamma_c / sqrt(rv_c + eps); dgamma_c = sum dy * x_hat; dbeta_c = sum dy."""
    axes = tuple(range(x.ndim - 1))
    inv_std = 1 / np.sqrt(running_var + eps)
    x_hat = (x - running_mean) * inv_std
    return (dy * gamma * inv_std).astype(dy.dtype), (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)


def batch_norm_update_running(running_mean, running_var, mean, var, count, momentum):
    """Update the running statistics in place (Keras convention for momentum, e.g. 0.99):

        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var  = momentum * running_var  + (1 - momentum) * var * count / (count - 1)

    ``count`` is the number of values each batch statistic averaged (N*H*W).  The variance is
    Bessel-corrected (unbiased) before averaging, as PyTorch does.
    """
    unbiased = var * count / max(count - 1, 1)
    running_mean *= momentum
    running_mean += (1 - momentum) * mean
    running_var *= momentum
    running_var += (1 - momentum) * unbiased


# ----------------------------------------------------------------------------- softmax


def softmax_forward(x):
    """forward: y_k = exp(x_k - max x) / sum_j exp(x_j - max x) over the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(dy, y):
    """backward: dx_k = y_k * (dy_k - sum_j dy_j * y_j)."""
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def log_softmax_forward(x):
    """forward: y_k = x_k - max x - log sum_j exp(x_j - max x)   (log-sum-exp, stable)."""
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def log_softmax_backward(dy, y):
    """backward (from the output y = log softmax): dx_k = dy_k - exp(y_k) * sum_j dy_j."""
    return dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- batch norm + activation
# The fused batch norm + activation twins compose the kernels above; they live in
# reference_fused.py (this file's length budget) and are exported here under their names,
# with the channel scaling of squeeze-excite.

from .reference_fused import (  # noqa: E402,F401
    batch_norm_activation_eval_backward,
    batch_norm_activation_eval_forward,
    batch_norm_activation_train_backward,
    batch_norm_activation_train_forward,
    channel_scale_backward,
    channel_scale_forward,
)
