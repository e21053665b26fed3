"""Model zoo: the lecture's plain CNN, MobileNetV1, EfficientNet, and a small X-ray net.

Every model is an ``nn.Sequential`` whose ``layers`` are its top-level layers / blocks in
order, with ``input_shape`` set; ``model.last_spatial_layer()`` is the last layer with an
(H, W, C) output (Grad-CAM's default layer) and ``model.forward_split(x, layer)`` gives that
layer's activation, as a leaf of the graph, together with the output.  All return logits (no softmax layer).
``Ensemble`` averages the logits of several such models (a deep ensemble).
"""

from .efficientnet import (EFFICIENTNET_B0_BLOCKS, EFFICIENTNET_VARIANTS, efficientnet,
                           efficientnet_b0, efficientnet_stage_outputs, efficientnet_stage_table,
                           efficientnet_variant, round_filters, round_repeats)
from .ensemble import Ensemble
from .mobilenet import (MOBILENET_V1_BODY, PNEUMONIA_NET_BODY, compress_table, mobilenet_table,
                        mobilenet_v1, pneumonia_net)
from .vgg import VGG_STAGES, vgg_like

__all__ = [
    "vgg_like", "VGG_STAGES", "Ensemble",
    "mobilenet_v1", "pneumonia_net", "mobilenet_table", "compress_table", "MOBILENET_V1_BODY",
    "PNEUMONIA_NET_BODY",
    "efficientnet", "efficientnet_b0", "efficientnet_variant", "efficientnet_stage_table",
    "efficientnet_stage_outputs", "round_filters", "round_repeats", "EFFICIENTNET_B0_BLOCKS",
    "EFFICIENTNET_VARIANTS",
]
