"""Batch normalisation over the last (channel) axis: training mode (batch statistics) and
evaluation mode (running statistics)."""

import numpy as np

from ..kernels import active as K
from ..kernels.arguments import as_real
from ..tensor import Function
from .checks import as_input


class BatchNormTrainOp(Function):
    """Batch norm with this batch's statistics; updates the running averages in place.

    forward:  y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta   (mean_B, var_B per channel)
    backward: see kernels/reference.py: batch_norm_train_backward
    shape:    y like x (H x W x C per image); gamma, beta, the running statistics (C,)
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


class BatchNormEvalOp(Function):
    """Batch norm with the running statistics (a fixed per-channel affine map).

    forward:  y = gamma * (x - mu) / sqrt(var + eps) + beta
    backward: dx = dy * gamma / sqrt(var + eps); dgamma = sum dy * x_hat; dbeta = sum dy
    shape:    y like x; gamma, beta, mu, var have shape (C,)
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, eps):
        # copies: the running statistics are plain arrays (buffers) that training and
        # load_state_dict change in place, and no version counter watches them
        ctx.save(x=x, gamma=gamma, mean=running_mean.copy(), var=running_var.copy(), eps=eps)
        return K.batch_norm_eval_forward(x, gamma, beta, running_mean, running_var, eps)

    @staticmethod
    def backward(ctx, grad):
        return K.batch_norm_eval_backward(grad, ctx.x, ctx.gamma, ctx.mean, ctx.var, ctx.eps)


def check_channel_vectors(x, training, op="batch_norm", **vectors):
    """The input check of batch_norm (and of ``op``): every per-channel vector has shape (C,),
    and training has more than one value per channel to take statistics over."""
    C = x.shape[-1]
    for name, value in vectors.items():
        if np.shape(value) != (C,):
            raise ValueError(f"{op}: {name} must have shape ({C},) for an input with {C} "
                             f"channels, got {np.shape(value)}")
    if training and x.size // C < 2:
        raise ValueError(f"{op}: training needs more than one value per channel to take "
                         f"batch statistics over, got input shape {x.shape}")


def checked_arguments(op, x, gamma, beta, running_mean, running_var, training, momentum, eps):
    """The input checks of batch_norm (and of batch_norm_activation: ``op`` names it in errors);
    returns x, gamma, beta as Tensors and momentum, eps as floats."""
    x = as_input(x, op)
    momentum = as_real(momentum, "momentum", op, 0, 1, high_open=True)
    eps = as_real(eps, "eps", op, 0, low_open=True)
    gamma, beta = as_input(gamma, op, "gamma"), as_input(beta, op, "beta")
    check_channel_vectors(x, training, op, gamma=gamma, beta=beta, running_mean=running_mean,
                          running_var=running_var)
    return x, gamma, beta, momentum, eps


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.99, eps=1e-3):
    """Batch normalisation over the last (channel) axis.

    In training, normalise with the batch's mean/variance and update the running
    statistics in place (Keras momentum: running = momentum * running + (1 - momentum) * batch);
    in evaluation, use the running statistics.  Defaults follow Keras (0.99, 1e-3).
    """
    x, gamma, beta, momentum, eps = checked_arguments("batch_norm", x, gamma, beta, running_mean,
                                                      running_var, training, momentum, eps)
    if training:
        return BatchNormTrainOp.apply(x, gamma, beta, running_mean=running_mean, running_var=running_var,
                                      momentum=momentum, eps=eps)
    return BatchNormEvalOp.apply(x, gamma, beta, running_mean=running_mean, running_var=running_var, eps=eps)
