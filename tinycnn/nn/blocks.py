"""Composite blocks: squeeze-and-excitation, EfficientNet's MBConv, a residual wrapper.

A block is a Module whose children are named after it (an MBConv called ``block2a`` has
children ``block2a_expand_conv``, ``block2a_dwconv``, ... exactly as in Keras), and whose
parameter names are dotted: ``block2a.se.reduce.kernel``.
"""

import numpy as np

from .. import functional as F
from ..kernels.arguments import as_count, as_real
from ..tensor import Tensor
from . import init as initializers
from .containers import run_pair
from .layers import BatchNorm2D, Conv2D, DepthwiseConv2D
from .module import Module
from .naming import assign_names
from .parameter_free import Swish


class DropConnect(Module):
    """Per-sample stochastic depth on a residual branch (Keras: Dropout with noise_shape
    (None, 1, 1, 1)).  Training: each example's branch is kept with probability
    1 - rate and then scaled by 1 / (1 - rate), so its expected value is unchanged;
    inference: identity.
    """

    def __init__(self, rate, seed=None, name=None):
        super().__init__(name)
        self.rate = as_real(rate, "rate", self.constructor_label(), 0, 1, high_open=True)
        self.rng = initializers.as_generator(seed)

    def forward(self, x):
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = (self.rng.random(x.shape[0]) < keep).astype(x.dtype) / np.asarray(keep, x.dtype)
        return x * Tensor(mask.reshape((x.shape[0],) + (1,) * (x.ndim - 1)).astype(x.dtype))

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def extra_repr(self):
        return f"rate={self.rate}"


class SqueezeExcite(Module):
    """Squeeze-and-excitation (Hu et al. 2018) as used in EfficientNet.

    s = sigmoid( W_e * swish( W_r * GAP(x) + b_r ) + b_e )      (one number per channel)
    y = x * s                                                    (channel c scaled by s_c:
                                                                  F.channel_scale, one op)

    W_r: 1x1 conv channels -> se_channels ("reduce"), W_e: 1x1 conv se_channels -> channels
    ("expand"), both with bias.  Params: 2 * channels * se_channels + se_channels + channels.
    """

    def __init__(self, channels, se_channels, kernel_initializer="efficientnet_conv", rng=None,
                 name=None, dtype=np.float32):
        super().__init__(name)
        owner = self.constructor_label()
        self.channels = as_count(channels, "channels", owner)
        self.se_channels = as_count(se_channels, "se_channels", owner)
        rng = initializers.as_generator(rng)
        self.reduce = Conv2D(self.channels, self.se_channels, 1, padding="same", use_bias=True,
                             activation="swish", kernel_initializer=kernel_initializer, rng=rng,
                             dtype=dtype)
        self.expand = Conv2D(self.se_channels, self.channels, 1, padding="same", use_bias=True,
                             activation="sigmoid", kernel_initializer=kernel_initializer, rng=rng,
                             dtype=dtype)
        assign_names(self)

    def forward(self, x):
        self._check_input(x, 4, self.channels)
        s = F.global_avg_pool2d(x)                               # squeeze: (N, C)
        s = s.reshape(x.shape[0], 1, 1, self.channels)
        s = self.expand(self.reduce(s))                          # excite: (N, 1, 1, C) in (0, 1)
        return F.channel_scale(x, s.reshape(x.shape[0], self.channels))

    def output_shape(self, input_shape):
        self._expect_rank(input_shape, 3)
        self._expect_channels(input_shape[-1], self.channels)
        return tuple(input_shape)

    def summary_layers(self, input_shape):
        """The two 1 x 1 convs of the excite step, on the squeezed (1, 1, C) input."""
        squeezed = (1, 1, input_shape[-1])
        return [(self.reduce, squeezed, (1, 1, self.se_channels)),
                (self.expand, (1, 1, self.se_channels), squeezed)]

    def macs(self, input_shape):
        self.output_shape(input_shape)
        return 2 * self.channels * self.se_channels

    def extra_repr(self):
        return f"{self.channels}->{self.se_channels}->{self.channels}"


class MBConv(Module):
    """Mobile inverted bottleneck (MobileNetV2) with squeeze-excite, as in EfficientNet.

        x -> [1x1 expand to C_in*e -> BN -> swish]       (skipped when expand_ratio == 1)
          -> kxk depthwise, stride s, "same" -> BN -> swish
          -> squeeze-excite (squeeze width max(1, int(C_in * se_ratio)): from the block INPUT)
          -> 1x1 project to C_out -> BN                   (linear bottleneck: no activation)
          -> + x  when s == 1 and C_in == C_out (with per-sample drop-connect in training)

    Children (Keras names after the block's name): expand_conv, expand_bn,
    expand_activation, dwconv, bn, activation, se, project_conv, project_bn, drop.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride, expand_ratio,
                 se_ratio=0.25, drop_connect_rate=0.0, id_skip=True, momentum=0.99,
                 epsilon=1e-3, kernel_initializer="efficientnet_conv", rng=None, seed=None,
                 name=None, dtype=np.float32):
        super().__init__(name)
        owner = self.constructor_label()
        self.in_channels = as_count(in_channels, "in_channels", owner)
        self.out_channels = as_count(out_channels, "out_channels", owner)
        self.kernel_size = as_count(kernel_size, "kernel_size", owner)
        self.stride = as_count(stride, "stride", owner)
        self.expand_ratio = as_count(expand_ratio, "expand_ratio", owner)
        self.se_ratio = as_real(se_ratio or 0.0, "se_ratio", owner, 0, 1)
        self.drop_connect_rate = as_real(drop_connect_rate, "drop_connect_rate", owner, 0, 1, high_open=True)
        rng = initializers.as_generator(rng)
        mid = self.in_channels * self.expand_ratio
        self.mid_channels = mid
        bn = dict(momentum=momentum, epsilon=epsilon, dtype=dtype)
        if self.expand_ratio != 1:
            self.expand_conv = Conv2D(self.in_channels, mid, 1, padding="same", use_bias=False,
                                      kernel_initializer=kernel_initializer, rng=rng, dtype=dtype)
            self.expand_bn = BatchNorm2D(mid, **bn)
            self.expand_activation = Swish()
        else:
            self.expand_conv = self.expand_bn = self.expand_activation = None
        self.dwconv = DepthwiseConv2D(mid, self.kernel_size, strides=self.stride, padding="same",
                                      use_bias=False, depthwise_initializer=kernel_initializer,
                                      rng=rng, dtype=dtype)
        self.bn = BatchNorm2D(mid, **bn)
        self.activation = Swish()
        if 0.0 < self.se_ratio <= 1.0:
            self.se_channels = max(1, int(self.in_channels * self.se_ratio))
            self.se = SqueezeExcite(mid, self.se_channels, kernel_initializer=kernel_initializer,
                                    rng=rng, dtype=dtype)
        else:
            self.se_channels, self.se = 0, None
        self.project_conv = Conv2D(mid, self.out_channels, 1, padding="same", use_bias=False,
                                   kernel_initializer=kernel_initializer, rng=rng, dtype=dtype)
        self.project_bn = BatchNorm2D(self.out_channels, **bn)
        self.has_skip = bool(id_skip) and self.stride == 1 and self.in_channels == self.out_channels
        if self.has_skip and self.drop_connect_rate > 0:
            self.drop = DropConnect(self.drop_connect_rate,
                                    seed=seed if seed is not None else rng.integers(2**32))
        else:
            self.drop = None
        assign_names(self)

    def forward(self, x):
        self._check_input(x, 4, self.in_channels)
        h = x
        if self.expand_conv is not None:
            h = run_pair(self.expand_bn, self.expand_activation, self.expand_conv(h))
        h = run_pair(self.bn, self.activation, self.dwconv(h))    # fused when fuses_with allows
        if self.se is not None:
            h = self.se(h)
        h = self.project_bn(self.project_conv(h))
        if self.has_skip:
            if self.drop is not None:
                h = self.drop(h)
            h = h + x
        return h

    def output_shape(self, input_shape):
        self._expect_rank(input_shape, 3)
        self._expect_channels(input_shape[-1], self.in_channels)
        return self._walk(input_shape)[0]

    def _walk(self, shape):
        macs = 0
        for layer in (self.expand_conv, self.dwconv, self.se, self.project_conv):
            if layer is not None:
                macs += layer.macs(shape)
                shape = layer.output_shape(shape)
        return tuple(shape), macs

    def macs(self, input_shape):
        return self._walk(tuple(input_shape))[1]

    def extra_repr(self):
        return (f"{self.in_channels}->{self.out_channels}, k={self.kernel_size}, s={self.stride}, "
                f"e={self.expand_ratio}, se={self.se_channels}, skip={self.has_skip}")


class Residual(Module):
    """y = x + body(x): the skip connection that keeps deep networks trainable."""

    def __init__(self, body, name=None):
        super().__init__(name)
        self.body = body
        assign_names(self)

    def forward(self, x):
        return x + self.body(x)

    def output_shape(self, input_shape):
        out = tuple(self.body.output_shape(input_shape))
        if out != tuple(input_shape):
            raise ValueError(f"{self.describe()}: the body maps {tuple(input_shape)} to {out}; "
                             "a residual block needs them equal")
        return out

    def macs(self, input_shape):
        return self.body.macs(input_shape)

    def summary_layers(self, input_shape):
        """The body's rows (its layers when it is a container, else the body itself)."""
        if self.body.is_container:
            return self.body.summary_layers(input_shape)
        return [(self.body, tuple(input_shape), self.body.output_shape(input_shape))]
