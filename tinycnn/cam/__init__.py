"""Grad-CAM: where in the image the evidence for a class sits, and whether it is the lungs.

Read in this order:

* ``gradcam.py``: ``grad_cam`` (the lecture's four steps, one line each), their step
  functions, and the classes ``GradCAM``, ``GradCAMPlusPlus``, ``HiResCAM`` built on them;
* ``targets.py``: which layer is explained and which score (``find_layer``,
  ``target_coefficients``), and the predicted class (``class_probabilities``,
  ``predicted_classes``);
* ``overlay.py``: ``upsample`` a map to the image and ``overlay`` it in colour;
* ``audit.py``: the shortcut audit (region masks, CAM mass shares, deletion curves,
  ``shortcut_report``);
* ``figures.py``: figures from a model or from maps (drawn by ``tinycnn.plots.cam``).

    from tinycnn.cam import GradCAM, overlay
    cam = GradCAM(model)                  # layer: the last one with an (H, W, C) output
    maps = cam(x)                         # (N, h, w) in [0, 1] at the layer's resolution
    rgb = overlay(image, maps[0])         # uint8 (H, W, 3)
"""

from .audit import (BORDER, CENTRAL, CORNER, cam_mass_shares, deletion_curve, deletion_report, outcome_groups,
                    region_boxes, region_masks, region_statistics, shortcut_report, summarise_shortcut_report)
from .figures import gradcam_figure_for_image, plot_overlay_grid
from .gradcam import (Explanation, GradCAM, GradCAMPlusPlus, HiResCAM, all_zero_maps, channel_weights,
                      channel_weights_plus_plus, elementwise_evidence, grad_cam, grad_cam_map, layer_activations,
                      scale_to_unit, score_gradients, side_by_side, weighted_channel_sum)
from .overlay import image_as_rgb, overlay, upsample
from .targets import class_probabilities, find_layer, predicted_classes, target_coefficients

__all__ = [
    "grad_cam", "GradCAM", "GradCAMPlusPlus", "HiResCAM", "Explanation",
    "layer_activations", "score_gradients", "channel_weights", "grad_cam_map", "weighted_channel_sum",
    "scale_to_unit",
    "channel_weights_plus_plus", "elementwise_evidence", "all_zero_maps", "side_by_side",
    "target_coefficients", "find_layer", "class_probabilities", "predicted_classes",
    "upsample", "overlay", "image_as_rgb",
    "BORDER", "CORNER", "CENTRAL", "region_boxes", "region_masks", "cam_mass_shares", "outcome_groups",
    "region_statistics", "deletion_curve", "deletion_report", "shortcut_report", "summarise_shortcut_report",
    "gradcam_figure_for_image", "plot_overlay_grid",
]
