"""Weight initializers, following Keras (and PyTorch where they agree).

Every initializer is a function ``init(shape, rng, dtype=np.float32) -> ndarray``.
``rng`` is a ``numpy.random.Generator``: a model builds one Generator from its ``seed``
and hands it to every layer in order, so the same seed gives the same weights.

Fan-in and fan-out are computed from the weight's shape the way Keras does:

* dense kernel (in, out):                fan_in = in,            fan_out = out
* conv kernel (K_h, K_w, C_in, C_out):   fan_in = K_h*K_w*C_in,  fan_out = K_h*K_w*C_out
* depthwise kernel (K_h, K_w, C, M):     fan_in = K_h*K_w*C,     fan_out = K_h*K_w*M
  (Keras treats the depthwise kernel like any 4-d kernel.)

Formulas (n is fan_in, fan_out or their mean, chosen by ``mode``):

* glorot_uniform:   U(-l, l),  l = sqrt(6 / (fan_in + fan_out))        (Keras default for
                    Conv2D, DepthwiseConv2D and Dense)
* he_normal:        truncated N(0, s^2),  s = sqrt(2 / fan_in)
* variance_scaling(scale, mode, distribution):
      "truncated_normal": N(0, s^2) cut at 2 s, s = sqrt(scale / n) / 0.8796...
                           (0.8796 is the std of a standard normal cut at +-2, so the cut
                           distribution ends up with variance scale / n)
      "untruncated_normal": N(0, scale / n)
      "uniform":           U(-l, l),  l = sqrt(3 * scale / n)
  EfficientNet uses variance_scaling(2.0, "fan_out", "truncated_normal") for its convs
  and variance_scaling(1/3, "fan_out", "uniform") for its classifier.
"""

import math

import numpy as np

from ..rng import as_generator

# std of a standard normal truncated to [-2, 2]
_TRUNCATED_STD = 0.87962566103423978


def compute_fans(shape):
    """(fan_in, fan_out) of a weight of this shape, as Keras computes them."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(rng, shape, std):
    """N(0, std^2) samples, redrawing every sample that falls outside +-2 std."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * std


def variance_scaling(scale=1.0, mode="fan_in", distribution="truncated_normal"):
    """Return an initializer with variance ``scale / n`` (see the module docstring)."""
    if mode not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"variance_scaling: mode must be fan_in, fan_out or fan_avg, got {mode!r}")
    if distribution not in ("truncated_normal", "untruncated_normal", "normal", "uniform"):
        raise ValueError("variance_scaling: distribution must be truncated_normal, "
                         f"untruncated_normal or uniform, got {distribution!r}")

    def init(shape, rng, dtype=np.float32):
        rng = as_generator(rng)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        n = max(1.0, n)
        if distribution in ("truncated_normal", "normal"):
            w = _truncated_normal(rng, shape, math.sqrt(scale / n) / _TRUNCATED_STD)
        elif distribution == "untruncated_normal":
            w = rng.standard_normal(shape) * math.sqrt(scale / n)
        else:
            limit = math.sqrt(3.0 * scale / n)
            w = rng.uniform(-limit, limit, size=shape)
        return np.asarray(w, dtype=dtype)

    init.__name__ = f"variance_scaling({scale}, {mode}, {distribution})"
    return init


def glorot_uniform(shape, rng, dtype=np.float32):
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out)): Keras's default kernel initializer."""
    return variance_scaling(1.0, "fan_avg", "uniform")(shape, rng, dtype)


def glorot_normal(shape, rng, dtype=np.float32):
    return variance_scaling(1.0, "fan_avg", "truncated_normal")(shape, rng, dtype)


def he_normal(shape, rng, dtype=np.float32):
    """Truncated normal with variance 2 / fan_in (He et al. 2015), for ReLU networks."""
    return variance_scaling(2.0, "fan_in", "truncated_normal")(shape, rng, dtype)


def he_uniform(shape, rng, dtype=np.float32):
    return variance_scaling(2.0, "fan_in", "uniform")(shape, rng, dtype)


def zeros(shape, rng=None, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


def ones(shape, rng=None, dtype=np.float32):
    return np.ones(shape, dtype=dtype)


# EfficientNet's choices (Keras applications / the paper's TPU code).
efficientnet_conv = variance_scaling(2.0, "fan_out", "truncated_normal")
efficientnet_dense = variance_scaling(1.0 / 3.0, "fan_out", "uniform")

_BY_NAME = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "zeros": zeros,
    "ones": ones,
    "efficientnet_conv": efficientnet_conv,
    "efficientnet_dense": efficientnet_dense,
}


def get(initializer):
    """Look an initializer up by name, or pass a callable through."""
    if callable(initializer):
        return initializer
    try:
        return _BY_NAME[initializer]
    except KeyError:
        raise ValueError(f"unknown initializer {initializer!r}; known: {sorted(_BY_NAME)}") from None
