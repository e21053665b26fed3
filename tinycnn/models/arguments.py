"""The checks every model builder makes before it builds anything, naming the builder and the argument.

* ``check_input_shape``  (H, W, C) of ints >= 1, H and W at least the network's total stride
  (what the image is divided by before the classifier: 32 for MobileNet and EfficientNet),
  so that the last feature map keeps at least one pixel
* ``check_width``        a width multiplier (alpha, width, width_coefficient) in (0, MAX_WIDTH]
* ``scaled_filters``     filters * width rounded down, refused when a layer would get none

The layers check their own arguments too; these checks exist so that the message names what
the user typed (``alpha=0.01``) rather than what it became (a Conv2D with 0 filters).
"""

from ..kernels.arguments import as_count, as_real, is_integer

#: The largest width multiplier a builder accepts: 8 is four times EfficientNet-B7's width;
#: MobileNet at alpha = 8 already has about 270 million parameters (1 GiB of float32).
MAX_WIDTH = 8.0


def check_input_shape(input_shape, owner, total_stride):
    """``input_shape`` as a tuple (H, W, C) of ints >= 1 with H, W >= total_stride."""
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or not all(is_integer(v) and v >= 1 for v in input_shape)):
        raise ValueError(f"{owner}: input_shape must be (height, width, channels), three ints >= 1, "
                         f"got {input_shape!r}")
    H, W, C = (int(v) for v in input_shape)
    if min(H, W) < total_stride:
        raise ValueError(f"{owner}: input_shape {(H, W, C)} is too small: the network divides height "
                         f"and width by {total_stride} before its classifier, so both must be "
                         f">= {total_stride}")
    return (H, W, C)


def check_width(value, name, owner):
    """A width multiplier as a float in (0, MAX_WIDTH]."""
    return as_real(value, name, owner, 0, MAX_WIDTH, low_open=True)


def scaled_filters(filters, width, name, owner, layer, smallest):
    """int(filters * width) for ``layer``; refused when it is 0, saying the smallest width that works
    (``smallest``: the fewest filters any layer of the table has at width 1)."""
    scaled = int(filters * width)
    if scaled < 1:
        raise ValueError(f"{owner}: {name}={width:g} leaves layer {layer!r} with no filters "
                         f"(int({filters} * {width:g}) = 0); {name} must be >= 1/{smallest} = "
                         f"{1 / smallest:g}")
    return scaled


def check_classes(num_classes, owner):
    return as_count(num_classes, "num_classes", owner)


def check_dropout(rate, name, owner):
    return as_real(rate, name, owner, 0, 1, high_open=True)
