"""Model zoo: the lecture's plain CNN, MobileNetV1, EfficientNet, a small X-ray net and a
published 3-conv baseline for 28x28 X-rays.

Every model is an ``nn.Sequential`` whose ``layers`` are its top-level layers / blocks in
order, with ``input_shape`` set; ``model.last_spatial_layer()`` is the last layer with an
(H, W, C) output (Grad-CAM's default layer).  All return logits (no softmax layer).

``build(name, ...)`` is the one registry: the CLI, training and the examples make models
by name through it, and ``build(name, members=K)`` makes a deep ensemble (``nn.Ensemble``).
"""

from ..nn.containers import Ensemble
from .baseline import baseline_cnn
from .efficientnet import (EFFICIENTNET_B0_BLOCKS, EFFICIENTNET_VARIANTS, efficientnet,
                           efficientnet_b0, efficientnet_stage_outputs, efficientnet_stage_table,
                           efficientnet_variant, round_filters, round_repeats)
from .mobilenet import (MOBILENET_V1_BODY, PNEUMONIA_NET_BODY, compress_table, mobilenet_table,
                        mobilenet_v1, pneumonia_net)
from .vgg import VGG_STAGES, vgg_like

#: name -> (builder, the input shape it is built for when none is given)
MODELS = {
    "pneumonia_net": (pneumonia_net, (64, 64, 1)),
    "mobilenet_v1": (mobilenet_v1, (224, 224, 3)),
    "efficientnet_b0": (efficientnet_b0, (224, 224, 3)),
    "vgg_like": (vgg_like, (224, 224, 3)),
    "baseline_cnn": (baseline_cnn, (28, 28, 1)),
}


def member_seed(seed, k):
    """The seed of ensemble member k: its weights, batch order, augmentation and dropout."""
    return seed + 1000 * k


def build(name, input_shape=None, seed=0, members=None, **kwargs):
    """The model called ``name`` (a key of ``MODELS``), or with ``members=K`` an ``Ensemble``
    of K of them, member k built with seed ``member_seed(seed, k)``.  ``kwargs`` go to the
    builder (e.g. ``num_classes=1``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    builder, default_shape = MODELS[name]
    shape = tuple(input_shape) if input_shape is not None else default_shape
    if members is None:
        return builder(input_shape=shape, seed=seed, **kwargs)
    return Ensemble([builder(input_shape=shape, seed=member_seed(seed, k), **kwargs) for k in range(members)])


__all__ = [
    "build", "MODELS", "member_seed", "Ensemble",
    "vgg_like", "VGG_STAGES", "baseline_cnn",
    "mobilenet_v1", "pneumonia_net", "mobilenet_table", "compress_table", "MOBILENET_V1_BODY",
    "PNEUMONIA_NET_BODY",
    "efficientnet", "efficientnet_b0", "efficientnet_variant", "efficientnet_stage_table",
    "efficientnet_stage_outputs", "round_filters", "round_repeats", "EFFICIENTNET_B0_BLOCKS",
    "EFFICIENTNET_VARIANTS",
]
