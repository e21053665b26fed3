"""Input checks for the ops, done once: every public op function calls these first.

A wrong shape or dtype is reported here, naming the op and the argument, before any
kernel runs; the kernels and op classes then assume well-formed inputs.  So is an op that
would need an absurd amount of memory (``conv_geometry``: a padding of 10^6 pixels, an
output of more than 2^31 values), before anything is allocated.

An empty batch (N = 0) is an input like any other: convolutions, pools, dense layers and
activations return an empty output of the right shape, and backward gives empty input
gradients and zero weight gradients, as PyTorch does.  Only what has no value for zero
images refuses it: batch statistics (batch_norm in training) and the mean losses.
"""

from typing import NamedTuple

import numpy as np

from ..kernels.arguments import check_array_size
from ..kernels.shapes import as_pair, conv_output_hw, resolve_padding
from ..tensor import Tensor


def as_input(value, op, name="x"):
    """Accept a Tensor or a float array; anything else gets an error naming the op."""
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must hold floats (float32 or float64), got dtype {array.dtype}")
    return Tensor(array)


def check_rank(t, rank, op, name, meaning):
    if t.ndim != rank:
        raise ValueError(f"{op}: {name} must have {rank} dimensions {meaning}, got shape {t.shape}")


def check_finite(t, op, name):
    if not np.all(np.isfinite(t.data)):
        raise ValueError(f"{op}: {name} contains NaN or inf")


def check_bias(b, channels, op):
    if b is not None and b.shape != (channels,):
        raise ValueError(f"{op}: bias must have shape ({channels},), got {b.shape}")


class WeightLayout(NamedTuple):
    """How a weighted op (conv2d, depthwise_conv2d, pointwise_conv2d, linear) lays out its weight."""

    axes: str            # the weight's axes, e.g. "(K_h, K_w, C_in, C_out)"
    rank: int            # how many axes
    in_axis: int         # the weight axis that must equal the input's last axis
    out_axis: int        # the weight axis the bias runs along
    mismatch: str        # how the error names the size it expects: "expects C_in =", "has", ...
    image_input: bool    # True: the input must be (N, H, W, C); False: any (..., features)


def weighted_inputs(x, w, b, op, layout):
    """The one input check of the weighted ops: x, w, b as Tensors, shapes consistent.

    Checks the ranks of x and w, that the input's channels (or features) match the weight's
    ``layout.in_axis``, and that the bias, if any, has shape (w.shape[layout.out_axis],).
    """
    x, w = as_input(x, op), as_input(w, op, "weight")
    b = None if b is None else as_input(b, op, "bias")
    if layout.image_input:
        check_rank(x, 4, op, "input", "(N, H, W, C)")
    check_rank(w, layout.rank, op, "weight", layout.axes)
    unit = "channels" if layout.image_input else "features"
    if x.shape[-1] != w.shape[layout.in_axis]:
        raise ValueError(f"{op}: input has {x.shape[-1]} {unit} but the weight {layout.mismatch} "
                         f"{w.shape[layout.in_axis]} (weight shape {w.shape})")
    check_bias(b, w.shape[layout.out_axis], op)
    return x, w, b


def conv_geometry(x, kernel_hw, stride, padding, op, out_channels):
    """Resolve stride and padding for an image op; check that the kernel fits and that neither
    the padded input nor the output (N, H_out, W_out, out_channels) is too large to allocate."""
    stride = as_pair(stride, "stride", op)
    pads = resolve_padding(padding, x.shape[1:3], kernel_hw, stride, op)
    N, H, W, C = x.shape
    check_array_size((N, H + sum(pads[0]), W + sum(pads[1]), C), "padded input", op)
    out_hw = conv_output_hw(x.shape[1:3], kernel_hw, stride, pads, op)
    check_array_size((N, *out_hw, out_channels), "output", op)
    return stride, pads


def check_not_empty(t, op, name, why):
    """Refuse an input with no values (an empty batch, N = 0) for an op that has no value for
    zero examples; ``why`` says what would be undefined."""
    if t.size == 0:
        raise ValueError(f"{op}: {name} is empty (shape {t.shape}, e.g. a batch of 0 examples): {why}")
