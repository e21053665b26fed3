"""The dense (fully connected) op and inverted dropout."""

import numpy as np

from ..kernels.arguments import as_real
from .activations import add_bias_and_activation, check_activation
from .checks import WeightLayout, as_input, weighted_inputs

LINEAR_WEIGHT = WeightLayout("(in, out)", 2, in_axis=0, out_axis=1, mismatch="expects",
                             image_input=False)


def linear(x, w, b=None, activation=None):
    """Dense layer: y = act(x W + b) with x (N, in), W (in, out), b (out,).

    forward:  y[n, f] = act( sum_k x[n, k] * W[k, f] + b[f] )   (one matrix product)
    backward: dx = dy W^T, dW = x^T dy, db = sum_n dy   (by the autograd of Tensor @)
    shape:    (N, in) -> (N, out)
    """
    x, w, b = weighted_inputs(x, w, b, "linear", LINEAR_WEIGHT)
    check_activation(activation, "linear")
    return add_bias_and_activation(x @ w, b, activation)


def dropout(x, rate, training, rng=None):
    """Inverted dropout: in training, zero each entry with probability rate and scale the
    survivors by 1 / (1 - rate), so evaluation (identity) needs no rescaling.

    forward:  y = x * m / (1 - rate), m ~ Bernoulli(1 - rate)
    backward: dx = dy * m / (1 - rate)
    shape:    unchanged
    """
    x = as_input(x, "dropout")
    rate = as_real(rate, "rate", "dropout", 0, 1, high_open=True)
    if not training or rate == 0:
        return x
    rng = np.random.default_rng() if rng is None else rng
    keep = (rng.random(x.shape) >= rate).astype(x.dtype) / x.dtype.type(1 - rate)
    return x * keep
