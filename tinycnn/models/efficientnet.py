"""EfficientNet (Tan & Le 2019), built from the paper's Table 1 and scaled by its compound rule.

Table 1 (EfficientNet-B0 at 224x224):

    stage  operator            resolution  channels  layers
    1      Conv3x3             224x224     32        1
    2      MBConv1, k3x3       112x112     16        1
    3      MBConv6, k3x3       112x112     24        2
    4      MBConv6, k5x5        56x56      40        2
    5      MBConv6, k3x3        28x28      80        3
    6      MBConv6, k5x5        14x14      112       3
    7      MBConv6, k5x5        14x14      192       4
    8      MBConv6, k3x3         7x7       320       1
    9      Conv1x1 & Pooling & FC  7x7     1280      1

Scaling a B0 into B1..B7: channels * width_coefficient rounded to a multiple of 8 (never
more than 10 % down), layers per stage * depth_coefficient rounded up, a larger resolution.
Everything else follows Keras's implementation: swish everywhere, BN momentum 0.99 /
epsilon 1e-3, squeeze-excite 0.25 of each block's input channels, drop-connect rate growing
linearly from 0 to ``drop_connect_rate`` over the blocks, convs initialised with
variance-scaling(2, fan_out, truncated normal), the classifier with
variance-scaling(1/3, fan_out, uniform).  No input Normalization layer: B0 has 5,330,564
parameters (5,288,548 trainable, 42,016 non-trainable).
"""

import math

from .. import nn
from ..kernels.arguments import as_count
from .arguments import check_classes, check_dropout, check_input_shape, check_width

# Stages 2-8 of Table 1: (expand_ratio, kernel, stride, in_channels, out_channels, repeats)
EFFICIENTNET_B0_BLOCKS = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
]
STEM_CHANNELS = 32
TOP_CHANNELS = 1280

# (width_coefficient, depth_coefficient, resolution, dropout_rate) from the paper / Keras
EFFICIENTNET_VARIANTS = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}


def round_filters(filters, width_coefficient, divisor=8):
    """filters * width rounded to the nearest multiple of divisor, not going down > 10 %."""
    scaled = filters * width_coefficient
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def round_repeats(repeats, depth_coefficient):
    """Layers per stage after depth scaling: ceil(repeats * depth)."""
    return int(math.ceil(depth_coefficient * repeats))


def _checked_numbers(width_coefficient, depth_coefficient, dropout_rate, drop_connect_rate):
    """The coefficients as floats in (0, MAX_WIDTH] (B7: 2.0 and 3.1), the rates in [0, 1)."""
    return (check_width(width_coefficient, "width_coefficient", "efficientnet"),
            check_width(depth_coefficient, "depth_coefficient", "efficientnet"),
            check_dropout(dropout_rate, "dropout_rate", "efficientnet"),
            check_dropout(drop_connect_rate, "drop_connect_rate", "efficientnet"))


def _checked_input_shape(input_shape, resolution, blocks):
    """input_shape, by default (resolution, resolution, 3), at least the network's total stride."""
    if input_shape is None:
        input_shape = (as_count(resolution, "resolution", "efficientnet"),) * 2 + (3,)
    return check_input_shape(input_shape, "efficientnet", _total_stride(blocks))


def _total_stride(blocks):
    """The stem's stride 2 times every stage's: what height and width are divided by (32 for B0)."""
    product = 2
    for _, _, stride, _, _, _ in blocks:
        product *= stride
    return product


def efficientnet(width_coefficient=1.0, depth_coefficient=1.0, resolution=224, dropout_rate=0.2,
                 drop_connect_rate=0.2, num_classes=1000, input_shape=None, seed=0,
                 blocks=EFFICIENTNET_B0_BLOCKS, se_ratio=0.25, name="efficientnet"):
    """An EfficientNet scaled from B0.  Output: logits (N, num_classes), no softmax.

    input_shape defaults to (resolution, resolution, 3); any channel count works.
    Top-level layers: stem_conv, stem_bn, stem_activation, block1a ... block7a (MBConv
    blocks, each with ``.stage`` = its Table 1 stage), top_conv, top_bn, top_activation,
    avg_pool, top_dropout, predictions.
    """
    width_coefficient, depth_coefficient, dropout_rate, drop_connect_rate = _checked_numbers(
        width_coefficient, depth_coefficient, dropout_rate, drop_connect_rate)
    input_shape = _checked_input_shape(input_shape, resolution, blocks)
    num_classes = check_classes(num_classes, "efficientnet")
    rng = nn.init.as_generator(seed)
    conv_init, dense_init = nn.init.efficientnet_conv, nn.init.efficientnet_dense

    stem = round_filters(STEM_CHANNELS, width_coefficient)
    layers = [
        nn.Conv2D(input_shape[-1], stem, 3, strides=2, padding="same", use_bias=False,
                  kernel_initializer=conv_init, rng=rng, name="stem_conv"),
        nn.BatchNorm2D(stem, name="stem_bn"),
        nn.Swish(name="stem_activation"),
    ]
    total_blocks = sum(round_repeats(b[-1], depth_coefficient) for b in blocks)
    index = 0
    channels = stem
    for stage, (expand, kernel, stride, c_in, c_out, repeats) in enumerate(blocks):
        c_in = round_filters(c_in, width_coefficient)
        c_out = round_filters(c_out, width_coefficient)
        if c_in != channels:
            raise ValueError(f"efficientnet: block table stage {stage + 1} expects {c_in} input "
                             f"channels, the previous stage gives {channels}")
        for j in range(round_repeats(repeats, depth_coefficient)):
            block = nn.MBConv(c_in if j == 0 else c_out, c_out, kernel, stride if j == 0 else 1,
                              expand, se_ratio=se_ratio,
                              drop_connect_rate=drop_connect_rate * index / total_blocks,
                              kernel_initializer=conv_init, rng=rng,
                              name=f"block{stage + 1}{chr(ord('a') + j)}")
            block.stage = stage + 2          # Table 1 numbers the stem as stage 1
            layers.append(block)
            index += 1
        channels = c_out
    top = round_filters(TOP_CHANNELS, width_coefficient)
    layers += [
        nn.Conv2D(channels, top, 1, padding="same", use_bias=False, kernel_initializer=conv_init,
                  rng=rng, name="top_conv"),
        nn.BatchNorm2D(top, name="top_bn"),
        nn.Swish(name="top_activation"),
        nn.GlobalAveragePooling2D(name="avg_pool"),
    ]
    if dropout_rate > 0:
        layers.append(nn.Dropout(dropout_rate, seed=int(rng.integers(2**32)), name="top_dropout"))
    layers.append(nn.Dense(top, num_classes, kernel_initializer=dense_init, rng=rng,
                           name="predictions"))
    model = nn.Sequential(layers, name=name, input_shape=input_shape)
    model.output_shape()
    return model


def efficientnet_b0(input_shape=(224, 224, 3), num_classes=1000, dropout_rate=0.2,
                    drop_connect_rate=0.2, seed=0):
    """EfficientNet-B0: 5,330,564 parameters at 1000 classes."""
    return efficientnet(1.0, 1.0, 224, dropout_rate, drop_connect_rate, num_classes,
                        input_shape, seed, name="efficientnetb0")


def efficientnet_variant(variant, num_classes=1000, input_shape=None, drop_connect_rate=0.2,
                         seed=0):
    """EfficientNet-B0 ... B7 by name ("b3"), with the paper's coefficients."""
    try:
        width, depth, resolution, dropout = EFFICIENTNET_VARIANTS[variant.lower()]
    except KeyError:
        raise ValueError(f"unknown EfficientNet variant {variant!r}; "
                         f"known: {sorted(EFFICIENTNET_VARIANTS)}") from None
    return efficientnet(width, depth, resolution, dropout, drop_connect_rate, num_classes,
                        input_shape, seed, name=f"efficientnet{variant.lower()}")


def efficientnet_stage_table(model, input_shape=None):
    """Table 1 read off the model: rows (stage, operator, resolution, channels, layers).

    "resolution" is the stage's input H x W, "channels" its output channels.
    """
    shapes = model.layer_shapes(input_shape)
    rows = []
    stem = next(layer for layer, _, _ in shapes if layer.name == "stem_conv")
    for layer, shape_in, shape_out in shapes:
        if layer is stem:
            kh, kw = layer.kernel_size
            rows.append([1, f"Conv{kh}x{kw}", f"{shape_in[0]}x{shape_in[1]}", shape_out[-1], 1])
        elif isinstance(layer, nn.MBConv):
            op = f"MBConv{layer.expand_ratio}, k{layer.kernel_size}x{layer.kernel_size}"
            if rows and rows[-1][0] == layer.stage:
                rows[-1][4] += 1
                rows[-1][3] = shape_out[-1]
            else:
                rows.append([layer.stage, op, f"{shape_in[0]}x{shape_in[1]}", shape_out[-1], 1])
        elif layer.name == "top_conv":
            kh, kw = layer.kernel_size
            rows.append([rows[-1][0] + 1, f"Conv{kh}x{kw} & Pooling & FC",
                         f"{shape_in[0]}x{shape_in[1]}", shape_out[-1], 1])
    return [tuple(r) for r in rows]


def efficientnet_stage_outputs(model, input_shape=None):
    """Output shape (H, W, C) after each stage: the stem, each MBConv stage, the top conv."""
    outs = {}
    for layer, _, shape_out in model.layer_shapes(input_shape):
        if layer.name in ("stem_activation",):
            outs[1] = shape_out
        elif isinstance(layer, nn.MBConv):
            outs[layer.stage] = shape_out
        elif layer.name == "top_activation":
            outs[max(outs) + 1] = shape_out
    return [outs[k] for k in sorted(outs)]
