"""The lecture's plain CNN ("Why GAP makes sense"): VGG-style stages of 3x3 convolutions.

    stage   convs (3x3, "same", ReLU)   then          output at 224x224x3
    1       2 x 32                      MaxPool 2x2   112 x 112 x 32
    2       2 x 64                      MaxPool 2x2    56 x  56 x 64
    3       2 x 128                     MaxPool 2x2    28 x  28 x 128
    4       2 x 256                     MaxPool 2x2    14 x  14 x 256
    5       2 x 512                     MaxPool 2x2     7 x   7 x 512
    head "flatten": Flatten (25,088) -> Dense 1024 ReLU -> Dense 1024 ReLU -> Dense classes
    head "gap":     GlobalAveragePooling2D (512) -> the same three Dense layers

With the Flatten head the model has 31,463,210 parameters, 25,691,136 of them in the first
Dense layer alone (25,088 x 1024 + 1024).  GAP shrinks that layer to 512 x 1024 + 1024.
"""

from .. import nn
from .arguments import check_classes, check_dropout, check_input_shape

# (filters, number of 3x3 convs) per stage; each stage ends with a 2x2 max pool
VGG_STAGES = [
    (32, 2),
    (64, 2),
    (128, 2),
    (256, 2),
    (512, 2),
]
DENSE_UNITS = [1024, 1024]


def vgg_like(input_shape=(224, 224, 3), num_classes=10, head="flatten", stages=VGG_STAGES,
             dense_units=DENSE_UNITS, dropout=0.0, seed=0, name="sequential"):
    """The lecture's plain CNN.  Output: logits (N, num_classes) (no softmax layer).

    head: "flatten" (the lecture's table) or "gap" (global average pooling instead).
    dropout: optional rate before each Dense layer after the first (0 = the lecture's model).
    """
    if head not in ("flatten", "gap"):
        raise ValueError(f"vgg_like: head must be 'flatten' or 'gap', got {head!r}")
    H, W, channels = check_input_shape(input_shape, "vgg_like", 2 ** len(stages))   # a 2x2 pool per stage
    num_classes = check_classes(num_classes, "vgg_like")
    dropout = check_dropout(dropout, "dropout", "vgg_like")
    rng = nn.init.as_generator(seed)
    layers = []
    for filters, convs in stages:
        for _ in range(convs):
            layers.append(nn.Conv2D(channels, filters, 3, padding="same", activation="relu", rng=rng))
            channels = filters
        layers.append(nn.MaxPool2D(2))
        H, W = H // 2, W // 2
    if head == "flatten":
        layers.append(nn.Flatten())
        features = H * W * channels
    else:
        layers.append(nn.GlobalAveragePooling2D())
        features = channels
    sizes = [*dense_units, num_classes]
    for i, units in enumerate(sizes):
        if dropout and i > 0:
            layers.append(nn.Dropout(dropout, seed=rng.integers(2**32)))
        last = i == len(sizes) - 1
        layers.append(nn.Dense(features, units, activation=None if last else "relu", rng=rng))
        features = units
    model = nn.Sequential(layers, name=name, input_shape=input_shape)
    model.output_shape()          # fail now, naming the layer, if the input is too small
    return model
