"""Batch norm followed by an activation (relu, relu6, swish) as one op.

``batch_norm_activation(x, ...)`` returns what ``activate(batch_norm(x, ...), activation)``
returns, bit for bit, and updates the running statistics exactly as ``batch_norm`` does;
it runs as one kernel pass over the H×W×C output instead of two (forward) and keeps no
copy of the batch-normalised tensor for the backward (see kernels/fused.py).  Sequential
and MBConv use it for every BatchNorm2D directly followed by a ReLU, ReLU6 or Swish layer.
"""

from ..kernels import active as K
from ..tensor import Function
from .normalization import checked_arguments

#: activation name accepted here -> the kernels' name for it ("swish" is SiLU)
BATCH_NORM_ACTIVATIONS = {"relu": "relu", "relu6": "relu6", "silu": "silu", "swish": "silu"}


class BatchNormActivationTrainOp(Function):
    """act(batch norm with this batch's statistics); updates the running averages in place.

    forward:  y = act(gamma * (x - mean_B) / sqrt(var_B + eps) + beta)   (mean_B, var_B per channel)
    backward: dz = dy * act'(z), then batch norm's backward of dz
              (see kernels/fused.py: batch_norm_activation_train_backward)
    shape:    y like x (H x W x C per image); gamma, beta, the running statistics (C,)
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, activation, momentum, eps):
        y, mean, var, scale = K.batch_norm_activation_train_forward(x, gamma, beta, eps, activation)
        K.batch_norm_update_running(running_mean, running_var, mean, var, x.size // x.shape[-1], momentum)
        ctx.save(x=x, gamma=gamma, beta=beta, mean=mean, var=var, scale=scale, eps=eps,
                 activation=activation)
        return y

    @staticmethod
    def backward(ctx, grad):
        return K.batch_norm_activation_train_backward(grad, ctx.x, ctx.gamma, ctx.beta, ctx.mean, ctx.var,
                                                      ctx.scale, ctx.eps, ctx.activation)


class BatchNormActivationEvalOp(Function):
    """act(batch norm with the running statistics): a fixed per-channel affine map, then act.

    forward:  y = act(gamma * (x - mu) / sqrt(var + eps) + beta)
    backward: dz = dy * act'(z); dx = dz * gamma / sqrt(var + eps); dgamma = sum dz * x_hat;
              dbeta = sum dz
    shape:    y like x; gamma, beta, mu, var have shape (C,)
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, activation, eps):
        # copies, as BatchNormEvalOp: the running statistics are buffers changed in place
        ctx.save(x=x, gamma=gamma, beta=beta, mean=running_mean.copy(), var=running_var.copy(),
                 eps=eps, activation=activation)
        return K.batch_norm_activation_eval_forward(x, gamma, beta, running_mean, running_var, eps,
                                                    activation)

    @staticmethod
    def backward(ctx, grad):
        return K.batch_norm_activation_eval_backward(grad, ctx.x, ctx.gamma, ctx.beta, ctx.mean, ctx.var,
                                                     ctx.eps, ctx.activation)


def batch_norm_activation(x, gamma, beta, running_mean, running_var, training, activation,
                          momentum=0.99, eps=1e-3):
    """act(batch_norm(x, ...)) as one op; activation is "relu", "relu6", "silu" or "swish".

    The same arguments, defaults and running-statistics update as ``batch_norm``.
    """
    op = "batch_norm_activation"
    if activation not in BATCH_NORM_ACTIVATIONS:
        raise ValueError(f"{op}: activation must be one of {list(BATCH_NORM_ACTIVATIONS)}, "
                         f"got {activation!r}")
    kernel_activation = BATCH_NORM_ACTIVATIONS[activation]
    x, gamma, beta, momentum, eps = checked_arguments(op, x, gamma, beta, running_mean, running_var,
                                                      training, momentum, eps)
    if training:
        return BatchNormActivationTrainOp.apply(x, gamma, beta, running_mean=running_mean,
                                                running_var=running_var, activation=kernel_activation,
                                                momentum=momentum, eps=eps)
    return BatchNormActivationEvalOp.apply(x, gamma, beta, running_mean=running_mean,
                                           running_var=running_var, activation=kernel_activation, eps=eps)
