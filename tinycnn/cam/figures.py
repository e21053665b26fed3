"""Grad-CAM figures that start from a model or from maps: the maps are computed, upsampled and
coloured here, and drawn by ``tinycnn.plots.cam`` (which takes arrays and knows no model)."""

import os

import numpy as np

from ..data import CLASS_NAMES, preprocess
from ..plots.cam import plot_gradcam_panels, plot_overlay_pairs
from .gradcam import GradCAM
from .overlay import overlay, upsample
from .targets import class_probabilities, predicted_classes


def gradcam_figure_for_image(model, pixels, output_path, temperature=1.0, threshold=0.5, title=None,
                             layer=None, preprocessing="per_image"):
    """One X-ray, three panels (original, Grad-CAM heat map, overlay) and the probability.

    ``pixels``: the uint8 (H, W) X-ray as ``read_xray`` gives it, turned into network input
    with ``tinycnn.data.preprocess(pixels, preprocessing)``: pass the model's own method, the
    ``"preprocessing"`` entry of its description (``"dataset"`` for files that lack it).  The
    map explains the predicted class: PNEUMONIA when P(pneumonia) = sigmoid(logit /
    temperature) >= threshold, else NORMAL.  Returns the path written (a str; the format follows
    the extension of ``output_path``, e.g. .png, .jpg, .pdf).
    """
    pixels = _one_grey_uint8_image(pixels)
    x = preprocess(pixels[None], preprocessing)
    cam = GradCAM(model, layer)
    logits = model.predict(x)
    probabilities = class_probabilities(logits, temperature)
    predicted = predicted_classes(probabilities, threshold)
    result = cam.explain(x, predicted)
    binary = logits.shape[1] == 1
    name = (CLASS_NAMES if binary else [f"class {k}" for k in range(logits.shape[1])])[predicted[0]]
    h, w = result.maps.shape[1:]
    heat_title = f"Grad-CAM for {name}\n({h} x {w} map of '{result.layer}', upsampled)"
    if binary:
        verdict = f"P(pneumonia) = {probabilities[0, 1]:.3f}, threshold {threshold:.3f} -> {name}"
    else:
        verdict = f"predicted {name} with probability {probabilities[0, predicted[0]]:.3f}"
    return os.fspath(plot_gradcam_panels(pixels, upsample(result.maps[0], pixels.shape),
                                         overlay(pixels, result.maps[0]), heat_title,
                                         f"{title + ':  ' if title else ''}{verdict}", output_path))


def _one_grey_uint8_image(pixels):
    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim != 2:
        raise ValueError(f"gradcam_figure_for_image: expected one grey image (H, W), "
                         f"got shape {pixels.shape}")
    if pixels.dtype != np.uint8:
        raise TypeError(f"gradcam_figure_for_image: expected uint8 pixels (0..255), got {pixels.dtype}")
    return pixels


def plot_overlay_grid(rows, path, threshold=0.5, ncols=6, class_names=CLASS_NAMES, title=None, alpha=0.4):
    """Grid of Grad-CAM overlays, one row per group, each panel captioned with its probability.

    ``rows``: a list of dicts with ``images`` (n, H, W) uint8 X-rays, ``heatmaps`` (n, h, w),
    ``probs`` (n,) P(class 1) and optionally ``labels`` (n,) true classes and ``title`` (the
    row's name, e.g. "false positives (12)").  Each image is shown twice, plain and with its
    overlay (``alpha``), so the anatomy under the colour stays readable; captions are green when
    ``probs >= threshold`` matches the label, red when not (a colour key under the title says so).  Rows longer than ``ncols`` are cut.
    Returns the path of the PNG, a str (drawn by ``tinycnn.plots.cam.plot_overlay_pairs``).
    """
    ncols = max(1, int(ncols))
    coloured = []
    for row in rows:
        images, heatmaps = np.asarray(row["images"])[:ncols], np.asarray(row["heatmaps"])[:ncols]
        overlays = [overlay(image, heat, alpha=alpha) for image, heat in zip(images, heatmaps)]
        coloured.append({**row, "images": images, "overlays": overlays})
    return os.fspath(plot_overlay_pairs(coloured, path, threshold=threshold, ncols=ncols,
                                        class_names=class_names, title=title))
