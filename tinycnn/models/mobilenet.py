"""MobileNetV1 (Howard et al. 2017), built from the paper's Table 1, and a small cousin for
64x64 chest X-rays.

Every 3x3 convolution after the first is split in two (a "depthwise separable" conv):

    depthwise 3x3 (one filter per channel)  -> BN -> ReLU6
    pointwise 1x1 (mixes channels)           -> BN -> ReLU6

which costs 1/N + 1/3^2 of a standard 3x3 conv with N output channels.  As in Keras: no
conv biases (BN follows every conv), ReLU6, BN momentum 0.99 / epsilon 1e-3, a stride-2
depthwise conv pads one row/column at the bottom/right only, and the classifier head is
GAP -> Dropout -> a 1x1 conv with bias (here: the equivalent Dense layer).

The paper's Table 1 prints the second-to-last depthwise conv as "Conv dw / s2" on a
7x7x1024 input; a stride of 2 there would give 4x4, but the next rows (and Avg Pool 7x7)
need 7x7, so the stride is 1 (as in every implementation, Keras included).
"""

from .. import nn
from .arguments import (check_classes, check_dropout, check_input_shape, check_width,
                        scaled_filters)
from ..kernels.arguments import as_count

# The body of Table 1 as (kind, stride, filters).  "conv": a full 3x3 conv;
# "dw_sep": depthwise 3x3 with this stride, then pointwise 1x1 to this many filters.
MOBILENET_V1_BODY = [
    ("conv", 2, 32),        # Conv / s2        3x3x3x32        224x224x3
    ("dw_sep", 1, 64),      # Conv dw / s1 + Conv / s1 1x1x32x64         112x112x32
    ("dw_sep", 2, 128),     #                                             112x112x64
    ("dw_sep", 1, 128),     #                                              56x56x128
    ("dw_sep", 2, 256),     #                                              56x56x128
    ("dw_sep", 1, 256),     #                                              28x28x256
    ("dw_sep", 2, 512),     #                                              28x28x256
    ("dw_sep", 1, 512),     # 5x                                           14x14x512
    ("dw_sep", 1, 512),
    ("dw_sep", 1, 512),
    ("dw_sep", 1, 512),
    ("dw_sep", 1, 512),
    ("dw_sep", 2, 1024),    #                                              14x14x512
    ("dw_sep", 1, 1024),    # printed "s2" in the paper; s1 keeps 7x7      7x7x1024
]

# A MobileNet-style network for 64x64x1 X-rays that trains in minutes on 2 CPU cores:
# 64 -> 32 -> 16 -> 8, ending on an 8x8 feature map (Grad-CAM's resolution).
PNEUMONIA_NET_BODY = [
    ("conv", 2, 16),        # 64x64x1  -> 32x32x16
    ("dw_sep", 1, 32),      # 32x32x16 -> 32x32x32
    ("dw_sep", 2, 64),      #          -> 16x16x64
    ("dw_sep", 1, 64),
    ("dw_sep", 2, 128),     #          ->  8x8x128
    ("dw_sep", 1, 128),
]


def total_stride(table):
    """What the table divides height and width by: the product of its strides."""
    product = 1
    for _, stride, _ in table:
        product *= stride
    return product


def _filter_layer_name(kind, block_id):
    """The Keras name of the conv that gets a row's filters: conv1 (conv_k), or conv_pw_k for
    a depthwise-separable row (k: the block about to be built)."""
    if kind == "conv":
        return "conv1" if block_id == 0 else f"conv_{block_id}"
    return f"conv_pw_{block_id + 1}"


def _body(table, input_shape, width, depth_multiplier, rng, activation, names):
    """Turn a (kind, stride, filters) table into a flat list of Keras-named layers.

    ``width`` is (argument name, value, builder name): the multiplier and what to call it in errors.
    """
    act = {"relu6": nn.ReLU6, "relu": nn.ReLU}[activation]
    width_name, multiplier, owner = width
    smallest = min(filters for _, _, filters in table)

    def nm(text):
        return text if names else None

    layers = []
    channels = input_shape[-1]
    block_id = 0
    for kind, stride, filters in table:
        n = _filter_layer_name(kind, block_id)
        filters = scaled_filters(filters, multiplier, width_name, owner, n, smallest)
        if kind == "conv":
            layers += [
                nn.Conv2D(channels, filters, 3, strides=stride, padding="same", use_bias=False,
                          rng=rng, name=nm(n)),
                nn.BatchNorm2D(filters, name=nm(f"{n}_bn")),
                act(name=nm(f"{n}_relu")),
            ]
            channels = filters
        elif kind == "dw_sep":
            block_id += 1
            # stride 2: pad one row/column at the bottom/right, as Keras's ZeroPadding2D
            padding = "same" if stride == 1 else ((0, 1), (0, 1))
            dw_out = channels * depth_multiplier
            layers += [
                nn.DepthwiseConv2D(channels, 3, strides=stride, padding=padding,
                                   depth_multiplier=depth_multiplier, use_bias=False, rng=rng,
                                   name=nm(f"conv_dw_{block_id}")),
                nn.BatchNorm2D(dw_out, name=nm(f"conv_dw_{block_id}_bn")),
                act(name=nm(f"conv_dw_{block_id}_relu")),
                nn.Conv2D(dw_out, filters, 1, padding="same", use_bias=False, rng=rng,
                          name=nm(f"conv_pw_{block_id}")),
                nn.BatchNorm2D(filters, name=nm(f"conv_pw_{block_id}_bn")),
                act(name=nm(f"conv_pw_{block_id}_relu")),
            ]
            channels = filters
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    return layers, channels


def _head(channels, num_classes, dropout, rng):
    layers = [nn.GlobalAveragePooling2D(name="global_average_pooling2d")]
    if dropout:
        layers.append(nn.Dropout(dropout, seed=int(rng.integers(2**32)), name="dropout"))
    layers.append(nn.Dense(channels, num_classes, rng=rng, name="predictions"))
    return layers


def mobilenet_v1(input_shape=(224, 224, 3), num_classes=1000, alpha=1.0, depth_multiplier=1,
                 dropout=1e-3, seed=0, name=None, layer_names=True):
    """MobileNetV1 as Keras builds it.  Output: logits (N, num_classes), no softmax.

    alpha: width multiplier (filters -> int(filters * alpha)); depth_multiplier: channels
    per input channel in every depthwise conv.  Any number of input channels works, and
    num_classes=1 gives a single logit for binary tasks.  With alpha=1, 224x224x3 and 1000
    classes: 4,253,864 parameters (4,231,976 trainable, 21,888 BN moving statistics).
    layer_names=True uses Keras's names (conv1, conv_dw_1, conv_pw_1_bn, ...); False gives
    automatic ones (conv2d, depthwise_conv2d, ...).
    """
    input_shape = check_input_shape(input_shape, "mobilenet_v1", total_stride(MOBILENET_V1_BODY))
    alpha = check_width(alpha, "alpha", "mobilenet_v1")
    depth_multiplier = as_count(depth_multiplier, "depth_multiplier", "mobilenet_v1")
    num_classes = check_classes(num_classes, "mobilenet_v1")
    dropout = check_dropout(dropout, "dropout", "mobilenet_v1")
    rng = nn.init.as_generator(seed)
    layers, channels = _body(MOBILENET_V1_BODY, input_shape, ("alpha", alpha, "mobilenet_v1"),
                             depth_multiplier, rng, "relu6", layer_names)
    layers += _head(channels, num_classes, dropout, rng)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{input_shape[0]}"
    model = nn.Sequential(layers, name=name, input_shape=input_shape)
    model.output_shape()
    return model


def pneumonia_net(input_shape=(64, 64, 1), num_classes=1, width=1.0, dropout=0.2, seed=0,
                  name="pneumonia_net"):
    """A small MobileNet-style classifier for 64x64 grey X-rays (a single logit by default).

    Stem 3x3/2 conv, five depthwise-separable blocks (BN + ReLU after every conv), GAP,
    dropout, Dense.  37,185 parameters at width 1; its last spatial layer is 8x8x128.
    """
    input_shape = check_input_shape(input_shape, "pneumonia_net", total_stride(PNEUMONIA_NET_BODY))
    width = check_width(width, "width", "pneumonia_net")
    num_classes = check_classes(num_classes, "pneumonia_net")
    dropout = check_dropout(dropout, "dropout", "pneumonia_net")
    rng = nn.init.as_generator(seed)
    layers, channels = _body(PNEUMONIA_NET_BODY, input_shape, ("width", width, "pneumonia_net"), 1, rng,
                             "relu", True)
    layers += _head(channels, num_classes, dropout, rng)
    model = nn.Sequential(layers, name=name, input_shape=input_shape)
    model.output_shape()
    return model


# ---------------------------------------------------------------------- the paper's table


def _x(*dims):
    return " × ".join(str(d) for d in dims)


def mobilenet_table(model, input_shape=None):
    """Rows (type / stride, filter shape, input size) of Table 1, read off the model.

    Convs give "Conv / s2 | 3 × 3 × 3 × 32 | 224 × 224 × 3", depthwise convs
    "Conv dw / s1 | 3 × 3 × 32 dw | 112 × 112 × 32", then "Avg Pool / s1 | Pool 7 × 7",
    "FC / s1 | 1024 × 1000" and the "Softmax / s1 | Classifier" row the model leaves to the
    loss.  30 rows for MobileNetV1: the 28 layers the paper counts (27 convs + FC) plus
    pooling and softmax.
    """
    rows = []
    for layer, shape_in, shape_out in model.layer_shapes(input_shape):
        if isinstance(layer, nn.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            rows.append((f"Conv dw / s{layer.strides[0]}", _x(kh, kw, layer.out_channels) + " dw",
                         _x(*shape_in)))
        elif isinstance(layer, nn.Conv2D):
            kh, kw = layer.kernel_size
            rows.append((f"Conv / s{layer.strides[0]}",
                         _x(kh, kw, layer.in_channels, layer.filters), _x(*shape_in)))
        elif isinstance(layer, nn.GlobalAveragePooling2D):
            rows.append(("Avg Pool / s1", "Pool " + _x(*shape_in[:2]), _x(*shape_in)))
        elif isinstance(layer, nn.Dense):
            rows.append(("FC / s1", _x(layer.in_features, layer.units), _x(1, 1, layer.in_features)))
            last = layer.units
    rows.append(("Softmax / s1", "Classifier", _x(1, 1, last)))
    return rows


def compress_table(rows):
    """Fold a run of identical (dw, pw) row pairs into the paper's "5x" form: the first row
    of the run gets the prefix "5x ", the pair appears once, the pointwise row's type empty."""
    out, i = [], 0
    while i < len(rows):
        pair = rows[i:i + 2]
        n = 1
        while len(pair) == 2 and rows[i + 2 * n:i + 2 * n + 2] == pair:
            n += 1
        if n > 1:
            out.append((f"{n}x {pair[0][0]}", pair[0][1], pair[0][2]))
            out.append(("", pair[1][1], pair[1][2]))
            i += 2 * n
        else:
            out.append(rows[i])
            i += 1
    return out
