"""Matplotlib figures: arrays in, PNG out.  ``training.py``: a training run's figures;
``cam.py``: Grad-CAM overlays and the shortcut report; ``figure.py``: the shared helpers (a new
figure, saving it, how every figure names its threshold and split)."""

from .figure import describe_data, describe_threshold
from .training import (plot_confusion_matrix, plot_image_grid, plot_reliability_by_split, plot_reliability_diagram,
                       plot_roc, plot_training_curves)

__all__ = ["plot_training_curves", "plot_roc", "plot_confusion_matrix", "plot_reliability_diagram",
           "plot_reliability_by_split", "plot_image_grid", "describe_threshold", "describe_data"]
