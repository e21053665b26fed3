"""Deprecated: Grad-CAM moved to the package ``tinycnn.cam`` (``cam/gradcam.py``: the four steps
and the classes; ``cam/overlay.py``; ``cam/audit.py``: the shortcut report; figures drawn by
``tinycnn.plots.cam``).

This module re-exports the names it used to define, for one release; import them from
``tinycnn.cam`` instead.  Not re-exported, so that old code fails at import rather than
silently: ``layer_activations`` and ``score_gradients``, whose arguments changed (they now take
and return what ``model.split_forward`` gives), and ``ensemble_activations_and_gradients`` /
``logits_from``, which are gone (an ensemble goes through the same steps as one network).
"""

from .cam import (BORDER, CENTRAL, CORNER, Explanation, GradCAM, GradCAMPlusPlus, HiResCAM, cam_mass_shares,
                  channel_weights, class_probabilities, deletion_curve, find_layer, grad_cam,
                  gradcam_figure_for_image, overlay, plot_overlay_grid, predicted_classes,
                  region_masks, scale_to_unit, shortcut_report, summarise_shortcut_report,
                  target_coefficients, upsample, weighted_channel_sum)
from .data import CLASS_NAMES

__all__ = [
    "grad_cam", "GradCAM", "GradCAMPlusPlus", "HiResCAM", "Explanation", "channel_weights", "weighted_channel_sum", "scale_to_unit", "upsample", "overlay",
    "target_coefficients", "find_layer", "class_probabilities", "predicted_classes", "gradcam_figure_for_image",
    "plot_overlay_grid", "BORDER", "CORNER", "CENTRAL", "region_masks", "cam_mass_shares", "deletion_curve",
    "shortcut_report", "summarise_shortcut_report", "CLASS_NAMES",
]
