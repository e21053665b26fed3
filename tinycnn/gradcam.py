"""Deprecated: Grad-CAM moved to the package ``tinycnn.cam`` (``cam/gradcam.py``: the four steps
and the classes; ``cam/overlay.py``; ``cam/audit.py``: the shortcut report; figures drawn by
``tinycnn.plots.cam``).

This module re-exports the names it used to define, for one release; import them from
``tinycnn.cam`` instead.  (The step functions keep their names; ``layer_activations`` and
``score_gradients`` now take and return what ``model.split_forward`` gives, see their
docstrings, and ``ensemble_activations_and_gradients`` / ``logits_from`` are gone: an ensemble
goes through the same steps.)
"""

from .cam import (BORDER, CENTRAL, CORNER, Explanation, GradCAM, GradCAMPlusPlus, HiResCAM, cam_mass_shares,
                  channel_weights, class_probabilities, deletion_curve, find_layer, grad_cam,
                  gradcam_figure_for_image, layer_activations, overlay, plot_overlay_grid, predicted_classes,
                  region_masks, scale_to_unit, score_gradients, shortcut_report, summarise_shortcut_report,
                  target_coefficients, upsample, weighted_channel_sum)
from .data import CLASS_NAMES

__all__ = [
    "grad_cam", "GradCAM", "GradCAMPlusPlus", "HiResCAM", "Explanation", "layer_activations",
    "score_gradients", "channel_weights", "weighted_channel_sum", "scale_to_unit", "upsample", "overlay",
    "target_coefficients", "find_layer", "class_probabilities", "predicted_classes", "gradcam_figure_for_image",
    "plot_overlay_grid", "BORDER", "CORNER", "CENTRAL", "region_masks", "cam_mass_shares", "deletion_curve",
    "shortcut_report", "summarise_shortcut_report", "CLASS_NAMES",
]
