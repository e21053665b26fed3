"""Output-shape arithmetic shared by every convolution and pooling kernel.

The lecture's rule for one spatial axis, with input size H, kernel size K,
stride S and padding p_top + p_bottom:

    H_out = floor((H + p_top + p_bottom - K) / S) + 1

"valid" means no padding.  "same" means what Keras/TensorFlow mean: the output
has ceil(H / S) rows, and the total padding needed for that,

    p_total = max((H_out - 1) * S + K - H, 0),

is split p_top = p_total // 2, p_bottom = p_total - p_top, so when p_total is
odd the extra row goes at the bottom (and the extra column at the right).
"""

import math

from .arguments import is_integer


def as_pair(value, name, op):
    """Turn an int or a 2-sequence into a (height, width) pair of ints >= 1."""
    pair = value if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(is_integer(v) for v in pair):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{op}: {name} must be >= 1, got {value!r}")
    return (int(pair[0]), int(pair[1]))


def same_padding_1d(size, kernel, stride):
    """(before, after) padding that gives ceil(size / stride) outputs, extra at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return (total // 2, total - total // 2)


def check_padding(padding, op="conv2d"):
    """A padding spec checked and normalised: "valid", "same", or ((top, bottom), (left, right)).

    Accepted: "valid" / "same" (any case), an int p >= 0 (p on every side), or a pair of
    (before, after) pairs of ints >= 0.  Floats (1.5) and bools are refused, not truncated.
    """
    if isinstance(padding, str):
        if padding.lower() in ("valid", "same"):
            return padding.lower()
        raise ValueError(f"{op}: unknown padding {padding!r}; expected 'valid', 'same', "
                         "an int, or ((top, bottom), (left, right))")
    pairs = ((padding, padding), (padding, padding)) if is_integer(padding) else padding
    try:
        (top, bottom), (left, right) = pairs
    except (TypeError, ValueError):
        raise ValueError(f"{op}: padding must be 'valid', 'same', an int, or "
                         f"((top, bottom), (left, right)); got {padding!r}") from None
    sides = (top, bottom, left, right)
    if not all(is_integer(p) for p in sides):
        raise ValueError(f"{op}: padding must be whole numbers of pixels (ints), got {padding!r}")
    if min(sides) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {padding!r}")
    return ((int(top), int(bottom)), (int(left), int(right)))


def resolve_padding(padding, in_hw, kernel_hw, stride_hw, op="conv2d"):
    """Turn a user padding spec into explicit ((top, bottom), (left, right)).

    padding may be "valid", "same", an int p (p on every side), or
    ((top, bottom), (left, right)); see ``check_padding``.
    """
    padding = check_padding(padding, op)
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        return (same_padding_1d(in_hw[0], kernel_hw[0], stride_hw[0]),
                same_padding_1d(in_hw[1], kernel_hw[1], stride_hw[1]))
    return padding


def conv_output_size(size, kernel, stride, pad_before, pad_after):
    """H_out = floor((H + p_top + p_bottom - K) / S) + 1."""
    return (size + pad_before + pad_after - kernel) // stride + 1


def conv_output_hw(in_hw, kernel_hw, stride_hw, pads, op="conv2d"):
    """Output (H_out, W_out); raises if the kernel does not fit in the padded input."""
    out = []
    for axis, name in enumerate(("height", "width")):
        padded = in_hw[axis] + pads[axis][0] + pads[axis][1]
        if kernel_hw[axis] > padded:
            raise ValueError(f"{op}: kernel {name} {kernel_hw[axis]} is larger than the padded "
                             f"input {name} {padded} (input {in_hw[axis]} + padding {pads[axis]})")
        out.append(conv_output_size(in_hw[axis], kernel_hw[axis], stride_hw[axis], *pads[axis]))
    return tuple(out)
