"""Reference twins of the fused kernels: batch norm + activation (kernels/fused.py) and
squeeze-excite's channel scaling (kernels/scale.py).

Plain NumPy, written as what the fused kernel must equal: the reference batch norm, then
the reference activation, one after the other (forward), and the activation's backward,
then batch norm's (backward); the channel scaling as NumPy's broadcast multiply and sum.
They live in a file of their own so that reference.py stays within its length budget;
reference.py exports them under the same names, so the two kernel modules still list the
same kernels.

This module is imported by reference.py at its end (the package always imports
reference.py first), and imports the kernels it composes from it.
"""

import numpy as np

from .reference import (batch_norm_eval_backward, batch_norm_eval_forward, batch_norm_train_backward,
                        batch_norm_train_forward, relu6_backward, relu6_forward, relu_backward,
                        relu_forward, silu_backward, silu_forward)

#: activation name -> (forward, backward from the activation's input)
_ACTIVATIONS = {"relu": (relu_forward, relu_backward), "relu6": (relu6_forward, relu6_backward),
                "silu": (silu_forward, silu_backward)}


def _activation(activation):
    if activation not in _ACTIVATIONS:
        raise ValueError(f"batch_norm_activation: activation must be one of {list(_ACTIVATIONS)}, "
                         f"got {activation!r}")
    return _ACTIVATIONS[activation]


def batch_norm_activation_train_forward(x, gamma, beta, eps, activation):
    """y = act(BN(x)) in training mode (batch statistics); activation "relu", "relu6" or "silu".

    forward:  z = gamma_c * (x - mean_c) / sqrt(var_c + eps) + beta_c  (batch_norm_train_forward)
              y = act(z)
    shape:    y like x (H×W×C per image); returns (y, mean, var, scale) with
              scale_c = gamma_c / sqrt(var_c + eps), all three (C,).
    """
    forward, _ = _activation(activation)
    z, mean, var = batch_norm_train_forward(x, gamma, beta, eps)
    return forward(z), mean, var, gamma / np.sqrt(var + eps)


def batch_norm_activation_train_backward(dy, x, gamma, beta, mean, var, scale, eps, activation):
    """Gradient of y = act(BN(x)) in training mode: the activation's backward, then batch norm's.

    backward: z = gamma_c * x_hat + beta_c, x_hat = (x - mean_c) / sqrt(var_c + eps)
              (the forward's z again, computed as batch_norm_train_forward computes it; the
              fast kernel uses scale = gamma_c / sqrt(var_c + eps) instead, not needed here)
              dz = dy * act'(z)      (relu_backward, relu6_backward or silu_backward)
              dx, dgamma, dbeta = batch_norm_train_backward(dz, ...)
    shape:    (dx like x, dgamma (C,), dbeta (C,))
    """
    _, backward = _activation(activation)
    z = (gamma * ((x - mean) / np.sqrt(var + eps)) + beta).astype(x.dtype)
    return batch_norm_train_backward(backward(dy, z), x, gamma, mean, var, eps)


def batch_norm_activation_eval_forward(x, gamma, beta, running_mean, running_var, eps, activation):
    """y = act(BN(x)) in evaluation mode (running statistics).

    forward:  y = act(gamma_c * (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c)
    shape:    y like x.
    """
    forward, _ = _activation(activation)
    return forward(batch_norm_eval_forward(x, gamma, beta, running_mean, running_var, eps))


def batch_norm_activation_eval_backward(dy, x, gamma, beta, running_mean, running_var, eps, activation):
    """Gradient of y = act(BN(x)) in evaluation mode: the activation's backward, then batch norm's.

    backward: dz = dy * act'(z), z the forward's batch norm output;
              dx, dgamma, dbeta = batch_norm_eval_backward(dz, ...)
    shape:    (dx like x, dgamma (C,), dbeta (C,))
    """
    _, backward = _activation(activation)
    z = batch_norm_eval_forward(x, gamma, beta, running_mean, running_var, eps)
    return batch_norm_eval_backward(backward(dy, z), x, gamma, running_mean, running_var, eps)


def channel_scale_forward(x, s):
    """Scale every channel of every image by its own number (squeeze-excite's gating).

    x: (N, H, W, C), s: (N, C) -> y: (N, H, W, C)

    forward:  y[n, h, w, c] = x[n, h, w, c] * s[n, c]
    backward: channel_scale_backward
    shape:    y like x: H×W×C per image; s holds one number per image and channel.
    """
    return x * s[:, None, None, :]


def channel_scale_backward(dy, x, s):
    """Gradient of y = x * s[n, c] for both inputs.

    backward: dx[n, h, w, c] = dy[n, h, w, c] * s[n, c]
              ds[n, c] = sum_{h, w} dy[n, h, w, c] * x[n, h, w, c]
    shape:    (dx like x (N, H, W, C), ds like s (N, C))
    """
    return dy * s[:, None, None, :], (dy * x).sum(axis=(1, 2))
