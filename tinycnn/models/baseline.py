"""A published from-scratch baseline: a 3-conv CNN for 28x28 grey X-rays (issue 13).

The ``Aperivue/medsci-skills`` demo "04_pneumoniamnist_cnn" (``pipeline/model.py``) trains
this network on 28x28 PneumoniaMNIST and reports test AUC 0.964 +- 0.004 over 3 seeds:

    layer                                         output at 28x28x1    params
    Conv2D 3x3 "same", 16 filters + bias          28 x 28 x 16          160
    BatchNorm (momentum 0.9, epsilon 1e-5)        28 x 28 x 16           64
    ReLU, MaxPool 2x2                             14 x 14 x 16
    Conv2D 3x3 "same", 32 filters + bias          14 x 14 x 32        4,640
    BatchNorm, ReLU, MaxPool 2x2                   7 x  7 x 32          128
    Conv2D 3x3 "same", 64 filters + bias           7 x  7 x 64       18,496
    BatchNorm, ReLU                                7 x  7 x 64          256
    GlobalAveragePooling2D                        64
    Dense -> num_classes (1 logit)                1                      65

23,809 parameters with one logit (23,585 trainable; the 224 batch-norm moving statistics are
Keras's non-trainable parameters); without batch norm (``batch_norm=False``) 23,361.

What differs from the PyTorch original, and why it does not matter for the comparison:

* one logit and binary cross-entropy instead of two logits and a softmax cross-entropy: the
  softmax of two logits is the sigmoid of their difference, so both describe the same
  detectors (the original's second output unit adds 65 parameters: 23,650 trainable in
  PyTorch's count);
* batch norm with PyTorch's defaults written the Keras way: PyTorch's momentum 0.1 (weight of
  the new batch) is Keras's 0.9 (weight of the running value), epsilon 1e-5;
* the weights start from tinycnn's Glorot-uniform initialisation (PyTorch: Kaiming-uniform).

The last spatial layer (Grad-CAM's default) is ``conv3_relu``, 7x7x64 at 28x28.
"""

from .. import nn
from .arguments import check_classes, check_input_shape

#: filters of the three 3x3 convolutions; the first two are followed by a 2x2 max pool
BASELINE_FILTERS = (16, 32, 64)

#: what the two max pools divide height and width by
BASELINE_TOTAL_STRIDE = 4


def _conv_block(number, channels, filters, batch_norm, pool, rng):
    """conv{number} (3x3 "same") -> [BN] -> ReLU -> [2x2 max pool], Keras-style names."""
    name = f"conv{number}"
    layers = [nn.Conv2D(channels, filters, 3, padding="same", rng=rng, name=name)]
    if batch_norm:
        layers.append(nn.BatchNorm2D(filters, momentum=0.9, epsilon=1e-5, name=f"{name}_bn"))
    layers.append(nn.ReLU(name=f"{name}_relu"))
    if pool:
        layers.append(nn.MaxPool2D(2, name=f"pool{number}"))
    return layers


def baseline_cnn(input_shape=(28, 28, 1), num_classes=1, batch_norm=True, seed=0, name="baseline_cnn"):
    """The published 3-conv baseline (module docstring).  Output: logits (N, num_classes).

    23,809 parameters at one logit (23,585 trainable), 23,361 with ``batch_norm=False``.
    Any input of at least 4x4 works (two 2x2 pools); the parameter count does not depend on it.
    """
    input_shape = check_input_shape(input_shape, "baseline_cnn", BASELINE_TOTAL_STRIDE)
    num_classes = check_classes(num_classes, "baseline_cnn")
    if not isinstance(batch_norm, bool):
        raise ValueError(f"baseline_cnn: batch_norm must be True or False, got {batch_norm!r}")
    rng = nn.init.as_generator(seed)
    layers, channels = [], input_shape[-1]
    for number, filters in enumerate(BASELINE_FILTERS, 1):
        layers += _conv_block(number, channels, filters, batch_norm, number < len(BASELINE_FILTERS), rng)
        channels = filters
    layers += [nn.GlobalAveragePooling2D(name="global_average_pooling2d"),
               nn.Dense(channels, num_classes, rng=rng, name="predictions")]
    model = nn.Sequential(layers, name=name, input_shape=input_shape)
    model.output_shape()
    return model
