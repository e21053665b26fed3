"""Layers with weights (convolutions, batch norm, dense), with Keras names and weight shapes, in NHWC.

The layers without weights (activations, pooling, flatten, dropout) are in ``parameter_free.py``.

Each layer takes its input channels explicitly (no lazy building), so weights exist as
soon as the layer does and ``output_shape`` / parameter counts need no data.

Weight shapes (as Keras):
    Conv2D            kernel (K_h, K_w, C_in, filters), bias (filters,)
    DepthwiseConv2D   kernel (K_h, K_w, C, M), bias (C*M,)          M = depth_multiplier
    PointwiseConv2D   kernel (C_in, filters), bias (filters,)
    SeparableConv2D   depthwise_kernel (K_h, K_w, C, M), pointwise_kernel (1, 1, C*M, filters),
                      bias (filters,)
    BatchNorm2D       gamma, beta (trainable); moving_mean, moving_variance (non-trainable)
    Dense             kernel (in, units), bias (units,)

Parameter counts follow: a 3x3 conv from 3 to 32 channels has 3*3*3*32 = 864 weights
(+ 32 biases = 896, the first row of the lecture's table); a 3x3 depthwise conv on 3
channels has 3*3*3 = 27.
"""

import numpy as np

from .. import functional as F
from ..kernels.arguments import as_count, as_real, check_array_size
from ..kernels.shapes import as_pair, check_padding, conv_output_hw, resolve_padding
from . import init as initializers
from .module import Module

# ---------------------------------------------------------------------- helpers


def add_optional_bias(layer, size, use_bias, initializer, rng, dtype):
    """Give the layer a trainable ``bias`` of shape (size,), or ``bias = None`` without one."""
    if use_bias:
        layer.add_weight("bias", (size,), initializer, rng, dtype=dtype)
    else:
        layer.bias = None


def _repeat_channels(x, in_channels, depth_multiplier, owner):
    """Depth multiplier M: channel c becomes channels c*M .. c*M+M-1 (each gets its own filter)."""
    if depth_multiplier == 1:
        return x
    check_array_size((*x.shape[:-1], in_channels * depth_multiplier), "input repeated depth_multiplier times", owner)
    return x[..., np.repeat(np.arange(in_channels), depth_multiplier)]


def _is_zero_padding(padding, in_hw, kernel, strides, op):
    return resolve_padding(padding, in_hw, kernel, strides, op) == ((0, 0), (0, 0))


# ---------------------------------------------------------------------- convolutions


class WindowLayer(Module):
    """Shared shape logic for layers that slide a K_h x K_w window (convolutions, pools)."""

    def _spatial_out(self, input_shape, kernel, strides, padding):
        self._expect_rank(input_shape, 3)
        H, W, _ = input_shape
        pads = resolve_padding(padding, (H, W), kernel, strides, self.describe())
        return conv_output_hw((H, W), kernel, strides, pads, self.describe())


class Conv2D(WindowLayer):
    """Standard convolution: every filter sees every input channel.

    y[n, h, w, f] = act( sum_{i, j, c} xp[n, h*S + i, w*S + j, c] * kernel[i, j, c, f] + bias[f] )
    Params: K_h*K_w*C_in*filters (+ filters).  A 1x1 stride-1 unpadded conv runs as a
    pointwise conv (a matrix product over channels).
    """

    def __init__(self, in_channels, filters, kernel_size, strides=1, padding="valid",
                 use_bias=True, activation=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", rng=None, name=None, dtype=np.float32):
        super().__init__(name)
        owner = self.constructor_label()
        self.in_channels = as_count(in_channels, "in_channels", owner)
        self.filters = as_count(filters, "filters", owner)
        self.kernel_size = as_pair(kernel_size, "kernel_size", owner)
        self.strides = as_pair(strides, "strides", owner)
        check_padding(padding, owner)
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.activation = F.check_activation(activation, owner)
        rng = initializers.as_generator(rng)
        self.add_weight("kernel", (*self.kernel_size, self.in_channels, self.filters),
                        kernel_initializer, rng, dtype=dtype)
        add_optional_bias(self, self.filters, self.use_bias, bias_initializer, rng, dtype)

    def forward(self, x):
        self._check_input(x, 4, self.in_channels)
        if self.kernel_size == (1, 1) and self.strides == (1, 1) and _is_zero_padding(
                self.padding, x.shape[1:3], (1, 1), (1, 1), self.describe()):
            return F.pointwise_conv2d(x, self.kernel.reshape(self.in_channels, self.filters), self.bias,
                                      activation=self.activation)
        return F.conv2d(x, self.kernel, self.bias, stride=self.strides, padding=self.padding,
                        activation=self.activation)

    def output_shape(self, input_shape):
        self._expect_rank(input_shape, 3)
        self._expect_channels(input_shape[-1], self.in_channels)
        return (*self._spatial_out(input_shape, self.kernel_size, self.strides, self.padding),
                self.filters)

    def macs(self, input_shape):
        Ho, Wo, _ = self.output_shape(input_shape)
        KH, KW = self.kernel_size
        return Ho * Wo * KH * KW * self.in_channels * self.filters

    def extra_repr(self):
        return (f"{self.in_channels}->{self.filters}, kernel={self.kernel_size}, "
                f"strides={self.strides}, padding={self.padding!r}")


class DepthwiseConv2D(WindowLayer):
    """Depthwise convolution: each channel is filtered on its own by its own K x K kernel.

    y[n, h, w, c*M + m] = sum_{i, j} xp[n, h*S + i, w*S + j, c] * kernel[i, j, c, m]
    Params: K_h*K_w*C*M (+ C*M), e.g. 3*3*3 = 27 for 3 channels, M = 1.

    The depth multiplier M is done here, not in the kernel: input channel c is repeated M
    times (x[..., repeat(arange(C), M)]) so output channel c*M + m matches Keras's order,
    and the (K_h, K_w, C, M) kernel is reshaped to (K_h, K_w, C*M).
    """

    def __init__(self, in_channels, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 use_bias=True, activation=None, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", rng=None, name=None, dtype=np.float32):
        super().__init__(name)
        owner = self.constructor_label()
        self.in_channels = as_count(in_channels, "in_channels", owner)
        self.depth_multiplier = as_count(depth_multiplier, "depth_multiplier", owner)
        self.kernel_size = as_pair(kernel_size, "kernel_size", owner)
        self.strides = as_pair(strides, "strides", owner)
        check_padding(padding, owner)
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.activation = F.check_activation(activation, owner)
        self.out_channels = self.in_channels * self.depth_multiplier
        rng = initializers.as_generator(rng)
        self.add_weight("kernel", (*self.kernel_size, self.in_channels, self.depth_multiplier),
                        depthwise_initializer, rng, dtype=dtype)
        add_optional_bias(self, self.out_channels, self.use_bias, bias_initializer, rng, dtype)

    def forward(self, x):
        self._check_input(x, 4, self.in_channels)
        x = _repeat_channels(x, self.in_channels, self.depth_multiplier, self.describe())
        w = self.kernel.reshape(*self.kernel_size, self.out_channels)
        return F.depthwise_conv2d(x, w, self.bias, stride=self.strides, padding=self.padding,
                                  activation=self.activation)

    def output_shape(self, input_shape):
        self._expect_rank(input_shape, 3)
        self._expect_channels(input_shape[-1], self.in_channels)
        return (*self._spatial_out(input_shape, self.kernel_size, self.strides, self.padding),
                self.out_channels)

    def macs(self, input_shape):
        Ho, Wo, _ = self.output_shape(input_shape)
        KH, KW = self.kernel_size
        return Ho * Wo * KH * KW * self.out_channels

    def extra_repr(self):
        return (f"{self.in_channels}x{self.depth_multiplier}, kernel={self.kernel_size}, "
                f"strides={self.strides}, padding={self.padding!r}")


class PointwiseConv2D(Module):
    """1x1 convolution = a matrix product over the channel axis at every pixel.

    y[n, h, w, f] = sum_c x[n, h, w, c] * kernel[c, f] + bias[f];   params C_in*filters (+ filters)
    """

    def __init__(self, in_channels, filters, use_bias=True, activation=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", rng=None,
                 name=None, dtype=np.float32):
        super().__init__(name)
        owner = self.constructor_label()
        self.in_channels = as_count(in_channels, "in_channels", owner)
        self.filters = as_count(filters, "filters", owner)
        self.use_bias = bool(use_bias)
        self.activation = F.check_activation(activation, owner)
        rng = initializers.as_generator(rng)
        self.add_weight("kernel", (self.in_channels, self.filters), kernel_initializer, rng, dtype=dtype)
        add_optional_bias(self, self.filters, self.use_bias, bias_initializer, rng, dtype)

    def forward(self, x):
        self._check_input(x, 4, self.in_channels)
        return F.pointwise_conv2d(x, self.kernel, self.bias, activation=self.activation)

    def output_shape(self, input_shape):
        self._expect_rank(input_shape, 3)
        self._expect_channels(input_shape[-1], self.in_channels)
        return (input_shape[0], input_shape[1], self.filters)

    def macs(self, input_shape):
        H, W, _ = self.output_shape(input_shape)
        return H * W * self.in_channels * self.filters

    def extra_repr(self):
        return f"{self.in_channels}->{self.filters}"


class SeparableConv2D(WindowLayer):
    """Depthwise conv (no bias) followed by a 1x1 pointwise conv (+ bias), one layer as Keras.

    Cost per output pixel: K^2*C (depthwise) + C*filters (pointwise) multiply-adds instead
    of K^2*C*filters: the ratio is 1/filters + 1/K^2 (MobileNet paper, eq. 5).
    """

    def __init__(self, in_channels, filters, kernel_size, strides=1, padding="valid",
                 depth_multiplier=1, use_bias=True, activation=None,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", rng=None, name=None, dtype=np.float32):
        super().__init__(name)
        owner = self.constructor_label()
        self.in_channels = as_count(in_channels, "in_channels", owner)
        self.filters = as_count(filters, "filters", owner)
        self.depth_multiplier = as_count(depth_multiplier, "depth_multiplier", owner)
        self.kernel_size = as_pair(kernel_size, "kernel_size", owner)
        self.strides = as_pair(strides, "strides", owner)
        check_padding(padding, owner)
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.activation = F.check_activation(activation, owner)
        self.mid_channels = self.in_channels * self.depth_multiplier
        rng = initializers.as_generator(rng)
        self.add_weight("depthwise_kernel", (*self.kernel_size, self.in_channels, self.depth_multiplier),
                        depthwise_initializer, rng, dtype=dtype)
        self.add_weight("pointwise_kernel", (1, 1, self.mid_channels, self.filters),
                        pointwise_initializer, rng, dtype=dtype)
        add_optional_bias(self, self.filters, self.use_bias, bias_initializer, rng, dtype)

    def forward(self, x):
        self._check_input(x, 4, self.in_channels)
        x = _repeat_channels(x, self.in_channels, self.depth_multiplier, self.describe())
        dw = self.depthwise_kernel.reshape(*self.kernel_size, self.mid_channels)
        h = F.depthwise_conv2d(x, dw, None, stride=self.strides, padding=self.padding)
        pw = self.pointwise_kernel.reshape(self.mid_channels, self.filters)
        return F.pointwise_conv2d(h, pw, self.bias, activation=self.activation)

    def output_shape(self, input_shape):
        self._expect_rank(input_shape, 3)
        self._expect_channels(input_shape[-1], self.in_channels)
        return (*self._spatial_out(input_shape, self.kernel_size, self.strides, self.padding),
                self.filters)

    def macs(self, input_shape):
        Ho, Wo, _ = self.output_shape(input_shape)
        KH, KW = self.kernel_size
        return Ho * Wo * (KH * KW * self.mid_channels + self.mid_channels * self.filters)


# ---------------------------------------------------------------------- normalisation


class BatchNorm2D(Module):
    """Batch normalisation over the last (channel) axis, Keras conventions.

    training: y = gamma * (x - mean_batch) / sqrt(var_batch + eps) + beta, and
              moving = momentum * moving + (1 - momentum) * batch_stat
    inference: the same with the moving statistics.
    gamma, beta are trained; moving_mean, moving_variance are buffers (Keras's
    "non-trainable params"): 4*C numbers, 2*C of them non-trainable.
    """

    keras_type = "BatchNormalization"

    def __init__(self, channels, momentum=0.99, epsilon=1e-3, name=None, dtype=np.float32):
        super().__init__(name)
        owner = self.constructor_label()
        self.channels = as_count(channels, "channels", owner)
        self.momentum = as_real(momentum, "momentum", owner, 0, 1, high_open=True)
        self.epsilon = as_real(epsilon, "epsilon", owner, 0, low_open=True)
        self.add_weight("gamma", (self.channels,), "ones", dtype=dtype)
        self.add_weight("beta", (self.channels,), "zeros", dtype=dtype)
        self.add_weight("moving_mean", (self.channels,), "zeros", trainable=False, dtype=dtype)
        self.add_weight("moving_variance", (self.channels,), "ones", trainable=False, dtype=dtype)

    def check_input(self, x):
        """Refuse an input without a channel axis or with the wrong number of channels (also
        called by the fused batch norm + activation, so both refuse alike)."""
        if x.ndim < 2:
            raise ValueError(f"{self.describe()}: expected input with a channel axis, got shape {x.shape}")
        self._expect_channels(x.shape[-1], self.channels)

    def forward(self, x):
        self.check_input(x)
        return F.batch_norm(x, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                            self.training, momentum=self.momentum, eps=self.epsilon)

    def output_shape(self, input_shape):
        self._expect_channels(input_shape[-1], self.channels)
        return tuple(input_shape)

    def extra_repr(self):
        return f"{self.channels}, momentum={self.momentum}, epsilon={self.epsilon}"


# ---------------------------------------------------------------------- dense and dropout


class Dense(Module):
    """y = act(x @ kernel + bias), kernel (in_features, units).  Params in*units (+ units)."""

    def __init__(self, in_features, units, use_bias=True, activation=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", rng=None,
                 name=None, dtype=np.float32):
        super().__init__(name)
        owner = self.constructor_label()
        self.in_features = as_count(in_features, "in_features", owner)
        self.units = as_count(units, "units", owner)
        self.use_bias = bool(use_bias)
        self.activation = F.check_activation(activation, owner)
        rng = initializers.as_generator(rng)
        self.add_weight("kernel", (self.in_features, self.units), kernel_initializer, rng, dtype=dtype)
        add_optional_bias(self, self.units, self.use_bias, bias_initializer, rng, dtype)

    def forward(self, x):
        if x.ndim != 2:
            raise ValueError(f"{self.describe()}: expected a 2-d input (N, {self.in_features}), "
                             f"got shape {tuple(x.shape)}; put Flatten or "
                             "GlobalAveragePooling2D before it")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{self.describe()}: expected input with {self.in_features} features, "
                             f"got {x.shape[-1]}")
        return F.linear(x, self.kernel, self.bias, activation=self.activation)

    def output_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"{self.describe()}: expected input of shape ({self.in_features},) "
                             f"(batch axis excluded), got {tuple(input_shape)}")
        if input_shape[-1] != self.in_features:
            raise ValueError(f"{self.describe()}: expected input with {self.in_features} features, "
                             f"got {input_shape[-1]}")
        return (self.units,)

    def macs(self, input_shape):
        self.output_shape(input_shape)
        return self.in_features * self.units

    def extra_repr(self):
        return f"{self.in_features}->{self.units}"
