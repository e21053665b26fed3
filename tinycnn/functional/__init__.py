"""Differentiable ops on images: one class per op, forward and backward side by side.

Each op class (named ``...Op``, so it is never mistaken for a layer: ``Conv2DOp`` is the op,
``nn.Conv2D`` the layer) turns Tensors into arrays, calls a kernel from
``tinycnn.kernels.active`` (the fast Numba kernels, or the reference loops when
TINYCNN_KERNELS=reference), and remembers what its backward needs.  The lower-case
functions (``conv2d``, ``relu``, ...) are the public API: they check their inputs once
(``checks.py``), resolve stride and padding, and apply the op.

Layout is NHWC: x has shape (N, H, W, C), the lecture's H x W x C per image.
Weights: conv (K_h, K_w, C_in, C_out), depthwise (K_h, K_w, C), pointwise (C_in, C_out),
dense (in, out), as Keras stores them.

Read in this order:
    checks.py         input checks, done once per op
    activations.py    relu, relu6, sigmoid, tanh, silu, softmax; ACTIVATIONS (the one table of
                      activation names) and the fused bias + activation epilogue
    conv.py           conv2d, depthwise_conv2d, pointwise_conv2d
    pool.py           max_pool2d, avg_pool2d, global_avg_pool2d
    dense.py          linear, dropout
    normalization.py  batch_norm
    fused.py          batch_norm_activation (batch norm + relu / relu6 / swish as one op)
    scale.py          channel_scale (x * s per image and channel: squeeze-excite's gating)
    losses.py         cross_entropy, binary_cross_entropy_with_logits
"""

from .activations import (ACTIVATIONS, FUSABLE_ACTIVATIONS, ActivationSpec, BiasActivationOp,
                          LogSoftmaxOp, ReLU6Op, ReLUOp, SigmoidOp, SiLUOp, SoftmaxOp, TanhOp,
                          activate, add_bias_and_activation, check_activation, log_softmax, relu,
                          relu6, sigmoid, silu, softmax, swish, tanh)
from .checks import (WeightLayout, as_input, check_bias, check_finite, check_rank, conv_geometry,
                     weighted_inputs)
from .conv import (Conv2DOp, DepthwiseConv2DOp, PointwiseConv2DOp, conv2d, depthwise_conv2d,
                   pointwise_conv2d)
from .dense import dropout, linear
from .losses import (BinaryCrossEntropyWithLogitsOp, CrossEntropyOp,
                     binary_cross_entropy_with_logits, cross_entropy, softplus_array)
from .fused import (BATCH_NORM_ACTIVATIONS, BatchNormActivationEvalOp, BatchNormActivationTrainOp,
                    batch_norm_activation)
from .normalization import BatchNormEvalOp, BatchNormTrainOp, batch_norm
from .pool import (AvgPool2DOp, GlobalAvgPool2DOp, MaxPool2DOp, avg_pool2d, global_avg_pool2d,
                   max_pool2d, pool_arguments)
from .scale import ChannelScaleOp, channel_scale

__all__ = [
    # the ops
    "conv2d", "depthwise_conv2d", "pointwise_conv2d", "max_pool2d", "avg_pool2d",
    "global_avg_pool2d", "relu", "relu6", "sigmoid", "tanh", "silu", "swish", "softmax", "log_softmax",
    "linear", "dropout", "batch_norm", "batch_norm_activation", "channel_scale", "cross_entropy",
    "binary_cross_entropy_with_logits",
    # activations by name
    "ACTIVATIONS", "FUSABLE_ACTIVATIONS", "ActivationSpec", "activate", "check_activation",
    "add_bias_and_activation", "BATCH_NORM_ACTIVATIONS",
    # op classes
    "Conv2DOp", "DepthwiseConv2DOp", "PointwiseConv2DOp", "MaxPool2DOp", "AvgPool2DOp",
    "GlobalAvgPool2DOp", "ReLUOp", "ReLU6Op", "SigmoidOp", "TanhOp", "SiLUOp", "SoftmaxOp", "LogSoftmaxOp",
    "BiasActivationOp", "BatchNormTrainOp", "BatchNormEvalOp", "BatchNormActivationTrainOp",
    "BatchNormActivationEvalOp", "ChannelScaleOp", "CrossEntropyOp",
    "BinaryCrossEntropyWithLogitsOp",
    # helpers for new ops
    "as_input", "check_rank", "check_finite", "check_bias", "WeightLayout", "weighted_inputs",
    "conv_geometry", "pool_arguments", "softplus_array",
]
