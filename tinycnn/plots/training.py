"""Figures of a training run: training curves, ROC, confusion matrix, reliability, test examples.

Arrays in, one PNG out; every function returns the path it wrote (see ``figure.py``).  Each
figure says what it shows: the split its numbers come from, the decision threshold and how
it was chosen (``describe_threshold``), before or after temperature scaling.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .. import metrics
from ..data.pneumonia import CLASS_NAMES
from .figure import COLOUR_KEY, RIGHT_COLOR, WRONG_COLOR, describe_data, describe_threshold, new_figure, save_png

# ======================================================================== training curves

#: line style of each split in the training curves (colour = ensemble member)
SPLIT_STYLE = {"train": "-", "validation": "--"}


def plot_training_curves(histories, path) -> Path:
    """Loss, validation AUC and learning rate per epoch, side by side.

    ``histories``: one history, or a list of them (one per ensemble member: member k, as in
    the run's folder ``member{k}``, is drawn in colour ``C{k}``).  Train is solid, validation
    dashed.  A history holds lists (or arrays) indexed by epoch; any of ``train_loss``,
    ``val_loss``, ``val_auc``, ``lr`` may be missing (its panel then says so); other keys are
    ignored.
    """
    runs = _curves_of(histories)
    several = len(runs) > 1
    n_epochs = max((len(v) for curves in runs for v in curves.values()), default=1)
    fig = new_figure(13, 4.3)
    ax_loss, ax_auc, ax_lr = fig.subplots(1, 3)
    for number, curves in enumerate(runs):
        _draw_member(ax_loss, ax_auc, curves, number, several)
    schedule = next((curves["lr"] for curves in runs if "lr" in curves), None)
    if schedule is not None:                       # the same schedule for every member
        _draw_learning_rate(ax_lr, schedule, several)
    _loss_legend(ax_loss, runs, several)
    if ax_auc.collections:
        ax_auc.legend(loc="lower right", fontsize=7 if several else 8, title="best epoch", title_fontsize=8)
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="binary cross-entropy")
    ax_auc.set(title="Validation ROC AUC", xlabel="epoch", ylabel="AUC")
    ax_lr.set_title("Learning rate at the end of each epoch")
    for ax, key in ((ax_loss, "train_loss"), (ax_auc, "val_auc"), (ax_lr, "lr")):
        _finish_epoch_axis(ax, key, n_epochs)
    who = f"{len(runs)} ensemble members (colour = member, named as the run's folders)" if several else "one network"
    fig.suptitle(f"Training of {who}: solid = train, dashed = validation", fontsize=11)
    return save_png(fig, path)


def member_name(number):
    """'member0': the name of the run's folder, the console's tag and the figures' legends."""
    return f"member{number}"


def _curves_of(histories):
    """One dict of non-empty float arrays per history (keys: train_loss, val_loss, val_auc, lr)."""
    histories = [histories] if isinstance(histories, dict) else list(histories)
    runs = []
    for history in histories:
        curves = {k: np.asarray(history[k], dtype=float) for k in ("train_loss", "val_loss", "val_auc", "lr")
                  if history.get(k) is not None}
        runs.append({k: v for k, v in curves.items() if v.size > 0})
    return runs


def _draw(ax, values, **style):
    return ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, **style)


def _draw_member(ax_loss, ax_auc, curves, number, several):
    """One member's losses (train solid, validation dashed) and validation AUC, in colour C{number}."""
    color = f"C{number % 10}"
    for key, split in (("train_loss", "train"), ("val_loss", "validation")):
        if key in curves:
            _draw(ax_loss, curves[key], color=color, linestyle=SPLIT_STYLE[split])
    if "val_auc" in curves:
        auc = curves["val_auc"]
        _draw(ax_auc, auc, color=color, linestyle=SPLIT_STYLE["validation"])
        best = int(np.nanargmax(auc))
        who = f"{member_name(number)}: " if several else ""
        ax_auc.scatter([best + 1], [auc[best]], s=80, facecolors="none", edgecolors=color, linewidths=1.5,
                       zorder=3, label=f"{who}{auc[best]:.3f} (epoch {best + 1})")


def _loss_legend(ax, runs, several):
    """One entry per split drawn (its line style) and, for an ensemble, one per member (its colour)."""
    drawn = [split for key, split in (("train_loss", "train"), ("val_loss", "validation"))
             if any(key in curves for curves in runs)]
    handles = [Line2D([], [], color="black" if several else "C0", linestyle=SPLIT_STYLE[split], marker="o",
                      markersize=3, label=split) for split in drawn]
    if several:
        handles += [Line2D([], [], color=f"C{k % 10}", linewidth=4, label=member_name(k)) for k in range(len(runs))]
    if handles:
        ax.legend(handles=handles, fontsize=7 if several else 8, ncols=2 if several else 1, loc="upper right",
                  handlelength=3.5)


def _draw_learning_rate(ax, lr, several):
    """The schedule on a linear axis from 0 to its peak, in units of a power of ten (1e-3 ...)."""
    peak = float(np.nanmax(lr))
    exponent = math.floor(math.log10(peak)) if peak > 0 else 0
    _draw(ax, lr / 10.0 ** exponent, color="tab:purple", label="every member" if several else None)
    if peak > 0:
        ax.set_ylim(0, 1.08 * peak / 10.0 ** exponent)
    unit = f" (x 1e{exponent})" if exponent else ""
    ax.set_ylabel(f"learning rate{unit}")
    if several:
        ax.legend(fontsize=8, loc="lower left")


def _finish_epoch_axis(ax, key, n_epochs):
    ax.grid(alpha=0.3)
    ax.set_xlabel("epoch")
    if not ax.lines:
        ax.text(0.5, 0.5, f"no {key} recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.set_xlim(0.5, n_epochs + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


# ======================================================================== ROC and confusion matrix


def plot_roc(fpr, tpr, auc: float, path, operating_points: dict | None = None, split: str | None = None,
             n: int | None = None) -> Path:
    """ROC curve with the chance diagonal and marked operating points.

    ``operating_points`` maps a label to ``(fpr, tpr)`` or ``(fpr, tpr, threshold)``; with a
    threshold the marker is annotated with it, e.g. ``{"threshold 0.500": (0.21, 0.97, 0.5)}``.
    ``split`` and ``n``: the data the curve was measured on, for the title.
    """
    fig = new_figure(5.8, 5.6)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance (AUC 0.5)")
    ax.plot(fpr, tpr, color="tab:blue", linewidth=2, label=f"model (AUC {auc:.3f})")
    markers = ["o", "s", "D", "^", "v"]
    colors = ["tab:red", "tab:orange", "tab:green", "tab:purple", "tab:brown"]
    for k, (label, point) in enumerate((operating_points or {}).items()):
        x, y = point[0], point[1]
        ax.scatter([x], [y], s=70, marker=markers[k % 5], color=colors[k % 5], zorder=3, edgecolors="black",
                   label=f"{label}:\nsensitivity {y:.3f}, specificity {1 - x:.3f}")
        if len(point) > 2:
            ax.annotate(f"t = {point[2]:.3f}", (x, y), xytext=(-8 if x > 0.7 else 8, -14), textcoords="offset points",
                        ha="right" if x > 0.7 else "left", fontsize=8, color=colors[k % 5], fontweight="bold")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal",
           xlabel="false-positive rate (1 - specificity)", ylabel="true-positive rate (sensitivity)",
           title=describe_data("ROC curve", split, n))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7.5)
    return save_png(fig, path)


def plot_confusion_matrix(cm, path, labels: Sequence[str] = CLASS_NAMES, threshold: float | None = None,
                          target_sensitivity: float | None = None, split: str | None = None) -> Path:
    """Confusion matrix ``[[TN, FP], [FN, TP]]`` with counts and row percentages.

    Each cell shows the count and its share of the true class (row), so the diagonal reads
    as specificity (top left) and sensitivity (bottom right).  The title names the ``split``
    and, given, the ``threshold`` and the sensitivity it was chosen on validation for.
    """
    cm = np.asarray(cm)
    row_share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = new_figure(5.4, 4.8)
    ax = fig.subplots()
    image = ax.imshow(row_share, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            color = "white" if row_share[i, j] > 0.5 else "black"
            ax.text(j, i, f"{cm[i, j]}\n{100 * row_share[i, j]:.1f} %", ha="center", va="center",
                    color=color, fontsize=13)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels, rotation=90, va="center")
    title = describe_data("Confusion matrix", split, int(cm.sum()))
    if threshold is not None:
        title += "\n" + describe_threshold(threshold, target_sensitivity)
    ax.set(xlabel=f"predicted ({labels[-1]} when p >= threshold)" if threshold is not None else "predicted",
           ylabel="true")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="share of true class (row)", shrink=0.8)
    return save_png(fig, path)


# ======================================================================== reliability


def plot_reliability_diagram(bins: dict, path, ece: float | None = None, bins_before: dict | None = None,
                             ece_before: float | None = None, temperature: float | None = None,
                             split: str | None = None) -> Path:
    """Reliability diagram from :func:`tinycnn.metrics.reliability_bins`.

    Top: observed share of positives against mean predicted probability per bin (on the
    diagonal = calibrated; below it = over-confident about PNEUMONIA). Bottom: how many
    examples fall in each bin.  ``bins`` (and ``ece``): the probabilities shown, after
    temperature scaling when ``temperature`` is given; ``bins_before`` (and ``ece_before``):
    the same examples before it, drawn too.
    """
    curves = [] if bins_before is None else [(bins_before, ece_before, "before temperature scaling")]
    after = "after temperature scaling" + (f" (T = {temperature:.3f})" if temperature is not None else "")
    curves.append((bins, ece, after if (temperature is not None or bins_before is not None) else "bin mean"))
    fig = new_figure(5.6, 6.4)
    ax, ax_count = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    _draw_reliability(ax, ax_count, curves)
    title = describe_data("Reliability diagram", split, int(np.asarray(bins["count"]).sum()) if split else None)
    if bins_before is not None:
        title += "\nbefore and after temperature scaling" + (f" (T = {temperature:.3f})" if temperature else "")
    ax.set_title(title, fontsize=10)
    return save_png(fig, path)


#: how the figures name the splits a run's reliability is drawn for
SPLIT_NAMES = {"val": "validation", "shifted_val": "shifted validation", "test": "test"}


def plot_reliability_by_split(splits: dict, path, temperature: float, fitted_on: str, n_bins: int = 15) -> Path:
    """Reliability diagrams of several splits side by side, each before and after temperature scaling.

    ``splits``: {split: (labels, probabilities before, probabilities after temperature
    scaling)}, drawn in that order; "val", "shifted_val" and "test" are named "validation",
    "shifted validation" and "test" (``SPLIT_NAMES``), any other name as it is.  Each panel's
    legend gives the ECE (``metrics.ece`` with ``n_bins`` bins) of both curves.
    ``temperature``: the one temperature of every "after" curve; ``fitted_on``: the split it
    was fitted on, named in the title.
    """
    fig = new_figure(4.8 * len(splits), 6.4)
    grid = fig.subplots(2, len(splits), sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 1]})
    for (split, (labels, before, after)), ax, ax_count in zip(splits.items(), grid[0], grid[1]):
        curves = [(metrics.reliability_bins(labels, p, n_bins), metrics.ece(labels, p, n_bins), label)
                  for p, label in ((before, "before temperature scaling"), (after, f"after (T = {temperature:.3f})"))]
        _draw_reliability(ax, ax_count, curves)
        ax.set_title(describe_data("Reliability", SPLIT_NAMES.get(split, split), len(labels)), fontsize=10)
    fig.suptitle(f"Reliability before and after temperature scaling: T = {temperature:.3f}, "
                 f"fitted on the {SPLIT_NAMES.get(fitted_on, fitted_on)} split", fontsize=11)
    return save_png(fig, path)


#: colour and marker of the curves of a reliability panel: before, then after temperature scaling
RELIABILITY_STYLE = (("tab:orange", "s"), ("tab:blue", "o"))


def _draw_reliability(ax, ax_count, curves):
    """One reliability panel: the diagonal and each (bins, ece, label) of ``curves`` on ``ax``
    (ECE in the legend), their counts side by side on ``ax_count``; the last is drawn in blue."""
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    edges = np.asarray(curves[0][0]["edges"])
    width = (edges[1] - edges[0]) * 0.9 / len(curves)
    styles = RELIABILITY_STYLE[-len(curves):]
    for k, ((b, e, label), (color, marker)) in enumerate(zip(curves, styles)):
        count = np.asarray(b["count"])
        used = count > 0
        ax.plot(np.asarray(b["mean_prob"])[used], np.asarray(b["frac_positive"])[used], marker=marker,
                color=color, label=label + (f": ECE {e:.3f}" if e is not None else ""))
        left = edges[:-1] + (edges[1] - edges[0]) * 0.05 + k * width
        ax_count.bar(left, count, width=width, align="edge", color=color, alpha=0.8)
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="observed share of PNEUMONIA")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)          # where it hides the fewest points
    ax_count.set(xlabel="predicted probability of PNEUMONIA", ylabel="count")
    ax_count.grid(alpha=0.3)


# ======================================================================== test examples


def plot_image_grid(images, probs, labels, path, ncols: int = 8, class_names: Sequence[str] = CLASS_NAMES,
                    threshold: float = 0.5, target_sensitivity: float | None = None, title: str | None = None) -> Path:
    """Grey X-rays with ``p`` (predicted probability of PNEUMONIA) and the true label.

    Titles are green when the prediction ``p >= threshold`` matches the label, red when not
    (the colour key and ``describe_threshold`` under the figure's ``title``).
    ``images``: (N, H, W) or (N, H, W, 1). uint8 images are shown on the fixed 0..255
    scale (exposure differences stay visible); float images are each stretched to their
    own minimum..maximum.
    """
    images = np.asarray(images)
    grey_range = {"vmin": 0, "vmax": 255} if images.dtype == np.uint8 else {}
    if images.ndim == 4:
        images = images[..., 0]
    probs = np.asarray(probs, dtype=float)
    labels = np.asarray(labels).astype(int)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig = new_figure(max(1.6 * ncols, 4.6), 1.85 * nrows + 0.9)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, p, y in zip(axes, images, probs, labels):
        ax.imshow(image, cmap="gray", **grey_range)
        right = int(p >= threshold) == y
        ax.set_title(f"p={p:.2f}\ntrue: {class_names[y]}", fontsize=8,
                     color=RIGHT_COLOR if right else WRONG_COLOR)
    heading = title or f"{n} X-rays, p = predicted probability of {class_names[-1]}"
    fig.suptitle(f"{heading}\n{describe_threshold(threshold, target_sensitivity)}", fontsize=10)
    key = [Patch(color=RIGHT_COLOR, label=f"{COLOUR_KEY[0]} at this threshold"),
           Patch(color=WRONG_COLOR, label=f"{COLOUR_KEY[1]} at this threshold")]
    fig.legend(handles=key, loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    return save_png(fig, path)
