"""Figures of Grad-CAM: one X-ray's panels, a grid of overlays, the shortcut report's region and
deletion figures.

Arrays in, one PNG out; every function returns the path it wrote (see ``figure.py``).  The
maps arrive already computed, upsampled and coloured (``tinycnn.cam`` makes them: the plots
sit below the CAM code and never import it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from ..data.pneumonia import CLASS_NAMES
from .figure import COLOUR_KEY, RIGHT_COLOR, WRONG_COLOR, describe_threshold, new_figure, save_figure, save_png


def plot_gradcam_panels(pixels, heatmap, overlaid, heat_title, title, path) -> Path:
    """One X-ray in three panels: the uint8 image (H, W), its heat map (H, W) in [0, 1] and the
    overlay (H, W, 3) uint8, under the figure ``title``."""
    fig = new_figure(10.5, 4.0)
    ax_img, ax_heat, ax_over = fig.subplots(1, 3)
    ax_img.imshow(pixels, cmap="gray", vmin=0, vmax=255)
    ax_img.set_title(f"X-ray ({pixels.shape[0]} x {pixels.shape[1]})")
    im = ax_heat.imshow(heatmap, cmap="jet", vmin=0, vmax=1)
    ax_heat.set_title(heat_title, fontsize=10)
    fig.colorbar(im, ax=ax_heat, shrink=0.8, label="evidence (scaled to max)")
    ax_over.imshow(overlaid)
    ax_over.set_title("overlay (alpha 0.4)")
    for ax in (ax_img, ax_heat, ax_over):
        _no_ticks(ax)
    fig.suptitle(title, fontsize=12)
    return save_figure(fig, path)          # the format of path's extension: .png, .jpg, .pdf ...


# ======================================================================== the grid of overlays

#: the grid's geometry in inches: a pair of square panels per image, a gap between pairs
PANEL, GAP, MARGIN, ROW_TITLE, CAPTION = 1.15, 0.3, 0.15, 0.3, 0.32


def plot_overlay_pairs(rows, path, threshold=0.5, ncols=6, class_names=CLASS_NAMES, title=None) -> Path:
    """Grid of images, one row per group, each image shown plain and with its overlay.

    ``rows``: dicts with ``images`` (n, H, W) uint8 X-rays, ``overlays`` (n, H, W, 3) uint8,
    ``probs`` (n,) P(class 1) and optionally ``labels`` (n,) true classes and ``title`` (the
    row's name).  Captions are green when ``probs >= threshold`` matches the label, red when
    not (a colour key under the title says so).  Rows longer than ``ncols`` are cut.
    """
    ncols = max(1, int(ncols))
    keyed = any(row.get("labels") is not None for row in rows)
    head = (0.45 if title else 0.1) + (0.3 if keyed else 0)
    row_height = ROW_TITLE + PANEL + CAPTION
    width = 2 * MARGIN + ncols * 2 * PANEL + (ncols - 1) * GAP
    height = head + len(rows) * row_height + 0.05
    fig = new_figure(width, height, layout=None)           # laid out by hand, in inches
    if title:
        fig.text(0.5, 1 - 0.12 / height, title, ha="center", va="top", fontsize=11)
    if keyed:
        _colour_key(fig, 1 - (head - 0.36) / height, threshold)
    for r, row in enumerate(rows):
        _draw_pair_row(fig, row, height - head - r * row_height, ncols, threshold, class_names)
    return save_png(fig, path)


def _colour_key(fig, top, threshold):
    """The captions' colour key, centred under ``top`` (a fraction of the figure's height)."""
    key = [Patch(color=colour, label=f"{text} at {describe_threshold(threshold)}")
           for colour, text in zip((RIGHT_COLOR, WRONG_COLOR), COLOUR_KEY)]
    fig.legend(handles=key, loc="upper center", bbox_to_anchor=(0.5, top), ncols=2, fontsize=9, frameon=False)


def _draw_pair_row(fig, row, top, ncols, threshold, class_names):
    """One row of the grid whose top edge is ``top`` inches above the bottom of the figure."""
    width, height = fig.get_size_inches()
    images, overlays = np.asarray(row["images"])[:ncols], np.asarray(row["overlays"])[:ncols]
    probs = np.asarray(row["probs"], dtype=float)[:ncols]
    labels = row.get("labels")
    labels = None if labels is None else np.asarray(labels).astype(int)[:ncols]
    if row.get("title"):
        fig.text(MARGIN / width, (top - 0.05) / height, row["title"], ha="left", va="top",
                 fontsize=10, fontweight="bold")
    bottom = top - ROW_TITLE - PANEL
    if len(images) == 0:
        fig.text(MARGIN / width, (bottom + PANEL / 2) / height, "none", color="grey", va="center")
    for j in range(len(images)):
        left = MARGIN + j * (2 * PANEL + GAP)
        for half, picture in enumerate((_grey(images[j]), overlays[j])):
            ax = fig.add_axes([(left + half * PANEL + 0.02) / width, bottom / height,
                               (PANEL - 0.04) / width, PANEL / height])
            ax.axis("off")
            if half == 0:
                ax.imshow(picture, cmap="gray", vmin=0, vmax=255)
            else:
                ax.imshow(picture)
        text, colour = _caption(probs[j], None if labels is None else labels[j], threshold, class_names)
        fig.text((left + PANEL) / width, (bottom - 0.04) / height, text, ha="center", va="top",
                 fontsize=8, color=colour)


def _caption(prob, label, threshold, class_names):
    """("p=0.87, true PNEUMONIA", green or red), or ("p=0.87", black) without a label."""
    if label is None:
        return f"p={prob:.2f}", "black"
    right = int(prob >= threshold) == label
    return f"p={prob:.2f}, true {class_names[label]}", RIGHT_COLOR if right else WRONG_COLOR


def _grey(image):
    image = np.asarray(image)
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def _no_ticks(ax):
    ax.set_xticks([])
    ax.set_yticks([])


# ======================================================================== the shortcut report

REGION_NAMES = ("central", "border", "corners")


def plot_region_report(report, maps, correct, images, boxes, path) -> Path:
    """Mean map (contour lines) on the mean X-ray (grey) for correct and wrong predictions, with
    the regions drawn, and a bar chart of the mean CAM mass share per region against a uniform map.

    ``maps`` (N, H, W) and ``images`` (N, H, W) at the input's resolution, ``correct`` (N,)
    bool, ``boxes``: the regions' geometry (``tinycnn.cam.audit.region_boxes``).
    """
    fig = new_figure(13, 4.3)
    ax_c, ax_w, ax_bar = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.45]})
    means = [maps[sel].mean(axis=0) for sel in (correct, ~correct) if sel.any()]
    top = max(float(m.max()) for m in means) if means else 1.0
    for ax, sel, name in ((ax_c, correct, "correct"), (ax_w, ~correct, "wrong")):
        if sel.any():
            _draw_mean_map(fig, ax, images[sel].mean(axis=0), maps[sel].mean(axis=0), top or 1.0)
        _outline(ax, boxes, *maps.shape[1:])
        ax.set_title(f"{name} predictions (n={int(sel.sum())}):\nmean map (lines) on the mean X-ray", fontsize=10)
        _no_ticks(ax)
    _draw_share_bars(ax_bar, report)
    fig.suptitle(f"Shortcut check: {report['method']} of the predicted class on {report['n_images']} "
                 f"test images "
                 f"(accuracy {report['accuracy']:.3f} at {describe_threshold(report['threshold'])})", fontsize=11)
    return save_png(fig, path)


def _draw_mean_map(fig, ax, mean_image, mean_map, top):
    """The mean X-ray in grey, the mean map over it as contour lines coloured as the overlays
    (jet: the anatomy stays visible), and the lines' colour bar."""
    ax.imshow(mean_image, cmap="gray")
    low, high = float(mean_map.min()), float(mean_map.max())
    levels = [v for v in MaxNLocator(8).tick_values(0, top) if low < v < high]
    if not levels:                     # a flat map (all zero, say) has no contour line to draw
        ax.text(0.5, 0.06, f"map flat at {high:.2f}", color="white", ha="center", transform=ax.transAxes)
        return
    lines = ax.contour(mean_map, levels=levels, cmap="jet", vmin=0, vmax=top, linewidths=1.6)
    fig.colorbar(lines, ax=ax, shrink=0.75, label="mean map value (contour lines)")


def _outline(ax, boxes, H, W):
    """Draw the three regions on an image axis: central box, border frame, corner squares."""
    top, bottom, left, right = boxes["central"]
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False, ec="white", lw=1.5))
    bh, bw = boxes["border"]
    ax.add_patch(Rectangle((bw - 0.5, bh - 0.5), W - 2 * bw, H - 2 * bh, fill=False, ec="white", lw=1.2, ls="--"))
    ch, cw = boxes["corners"]
    for r in (0, H - ch):
        for q in (0, W - cw):
            ax.add_patch(Rectangle((q - 0.5 + 0.6, r - 0.5 + 0.6), cw - 1.2, ch - 1.2, fill=False, ec="magenta",
                                   lw=1.5, ls=":"))


def _draw_share_bars(ax, report):
    """Bars: mean share of CAM mass per region, correct / wrong / uniform, with their values."""
    uniform = report["regions"]["uniform_share"]
    bars = [("correct", RIGHT_COLOR), ("wrong", WRONG_COLOR)]
    width = 0.27
    xs = np.arange(len(REGION_NAMES))
    for j, (g, colour) in enumerate(bars):
        values = [report["region_shares"][g][r]["mean_share"] or 0 for r in REGION_NAMES]
        ax.bar(xs + (j - 1) * width, 100 * np.asarray(values), width, color=colour,
               label=f"{g} (n={report['region_shares'][g]['n']})")
    ax.bar(xs + width, [100 * uniform[r] for r in REGION_NAMES], width, color="lightgrey",
           edgecolor="grey", label="uniform map (= area)")
    for j, r in enumerate(REGION_NAMES):
        for k, (g, _) in enumerate(bars):
            v = report["region_shares"][g][r]["mean_share"]
            if v is not None:
                ax.text(j + (k - 1) * width, 100 * v + 0.8, f"{100 * v:.0f}", ha="center", fontsize=8)
        ax.text(j + width, 100 * uniform[r] + 0.8, f"{100 * uniform[r]:.0f}", ha="center", fontsize=8)
    ax.set_xticks(xs, ["central box\n(solid white)", "border frame\n(dashed white)",
                       "corner squares\n(dotted magenta)"])
    ax.set_ylabel("share of CAM mass (%)")
    ax.set_title("Where the CAM mass sits, vs a uniform map", fontsize=10)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)


def plot_deletion_curves(deletion, path) -> Path:
    """Mean confidence against the share of pixels blanked, CAM order vs random order, one
    panel per predicted class (``deletion``: the ``"deletion"`` part of a shortcut report)."""
    f = 100 * np.asarray(deletion["fractions"])
    early = 100 * deletion["early_fraction"]
    panels = [(k, c) for k, c in deletion["curves"].items() if k != "all"] or list(deletion["curves"].items())
    fig = new_figure(5.2 * len(panels) + 0.4, 4.6)
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, (name, c) in zip(axes, panels):
        ax.axvspan(0, early, color="0.9", zorder=0, label=f"grey band: the first {early:.0f} %")
        ax.plot(f, c["mean_confidence_cam_order"], marker="o", ms=3, color="tab:red",
                label=f"highest Grad-CAM first: area {c['auc_cam_order']:.3f}, "
                      f"first {early:.0f} % {c['early_auc_cam_order']:.3f}")
        ax.plot(f, c["mean_confidence_random_order"], marker="o", ms=3, color="tab:blue",
                label=f"random blobs first: area {c['auc_random_order']:.3f}, "
                      f"first {early:.0f} % {c['early_auc_random_order']:.3f}")
        ax.set(xlabel="pixels blanked to the image mean (%)", xlim=(0, 100), ylim=(0, 1.02),
               title=f"{name} (n={c['n']})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    axes[0].set_ylabel("mean probability of the predicted class")
    fig.suptitle("Deletion test: the faster the red curve falls below the blue one, the better the map "
                 "points at what the model uses", fontsize=10)
    return save_png(fig, path)
