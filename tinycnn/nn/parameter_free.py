"""Layers without weights: activations, pooling, flatten and dropout (Keras names, NHWC).

Each is a thin wrapper around one op of ``tinycnn.functional``; ``output_shape`` needs no data.
"""

import math

from .. import functional as F
from ..kernels.arguments import as_real
from ..kernels.shapes import as_pair, check_padding
from . import init as initializers
from .layers import WindowLayer
from .module import Module

# ---------------------------------------------------------------------- activations


class ActivationLayer(Module):
    """An elementwise activation as a layer; ``activation`` is its name in F.ACTIVATIONS."""

    activation = None

    def forward(self, x):
        return F.activate(x, self.activation)

    def output_shape(self, input_shape):
        return tuple(input_shape)


class ReLU(ActivationLayer):
    """max(x, 0)"""
    activation = "relu"


class ReLU6(ActivationLayer):
    """min(max(x, 0), 6): MobileNet's activation (Keras: ReLU(6.0))."""
    activation = "relu6"


class Swish(ActivationLayer):
    """x * sigmoid(x) (a.k.a. SiLU): EfficientNet's activation."""
    activation = "silu"


class Sigmoid(ActivationLayer):
    """1 / (1 + exp(-x))"""
    activation = "sigmoid"


class Tanh(ActivationLayer):
    """tanh(x), in (-1, 1)"""
    activation = "tanh"


# ---------------------------------------------------------------------- pooling


class WindowPool(WindowLayer):
    """Max or average pooling over pool_size windows; ``op`` names the function in F."""

    op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None):
        super().__init__(name)
        owner = self.constructor_label()
        self.pool_size = as_pair(pool_size, "pool_size", owner)
        self.strides = as_pair(strides if strides is not None else pool_size, "strides", owner)
        check_padding(padding, owner)
        self.padding = padding

    def forward(self, x):
        self._check_input(x, 4)
        return getattr(F, self.op)(x, size=self.pool_size,
                                   stride=self.strides, padding=self.padding)

    def output_shape(self, input_shape):
        self._expect_rank(input_shape, 3)
        return (*self._spatial_out(input_shape, self.pool_size, self.strides, self.padding),
                input_shape[-1])

    def extra_repr(self):
        return f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}"


class MaxPool2D(WindowPool):
    """Largest value in each window, per channel.  224x224x32 -> 112x112x32 for 2x2 / 2."""
    keras_type = "MaxPooling2D"
    op = "max_pool2d"


class AvgPool2D(WindowPool):
    """Mean of each window, per channel."""
    keras_type = "AveragePooling2D"
    op = "avg_pool2d"


class GlobalAveragePooling2D(Module):
    """Mean over all H x W positions of each channel: (N, H, W, C) -> (N, C).

    Each output number says how strongly that channel's feature is present anywhere in
    the image (the lecture's [0, 2, 5, 0, 0]); it has no parameters, which is why a GAP
    head is so much smaller than Flatten -> Dense.
    """

    def __init__(self, keepdims=False, name=None):
        super().__init__(name)
        self.keepdims = bool(keepdims)

    def forward(self, x):
        self._check_input(x, 4)
        y = F.global_avg_pool2d(x)
        if self.keepdims:
            y = y.reshape(y.shape[0], 1, 1, y.shape[1])
        return y

    def output_shape(self, input_shape):
        self._expect_rank(input_shape, 3)
        return (1, 1, input_shape[-1]) if self.keepdims else (input_shape[-1],)


class Flatten(Module):
    """(N, H, W, C) -> (N, H*W*C) in row-major (H, then W, then C) order."""

    def forward(self, x):
        return x.reshape(x.shape[0], int(math.prod(x.shape[1:])))

    def output_shape(self, input_shape):
        return (int(math.prod(input_shape)),)


# ---------------------------------------------------------------------- dropout


class Dropout(Module):
    """Training: zero each value with probability ``rate`` and scale the rest by
    1 / (1 - rate) (inverted dropout); inference: identity."""

    def __init__(self, rate, seed=None, name=None):
        super().__init__(name)
        self.rate = as_real(rate, "rate", self.constructor_label(), 0, 1, high_open=True)
        self.rng = initializers.as_generator(seed)

    def forward(self, x):
        return F.dropout(x, self.rate, self.training, rng=self.rng)

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def extra_repr(self):
        return f"rate={self.rate}"
