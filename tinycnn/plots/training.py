"""Figures of a training run: training curves, ROC, confusion matrix, reliability, test examples.

Arrays in, one PNG out; every function returns the path it wrote (see ``figure.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..data.pneumonia import CLASS_NAMES
from .figure import RIGHT_COLOR, WRONG_COLOR, new_figure, save_png


def plot_training_curves(histories, path) -> Path:
    """Loss, validation AUC and learning rate per epoch, side by side.

    ``histories``: one history, or a list of them (one per ensemble member, one colour each).
    A history holds lists (or arrays) indexed by epoch; any of ``train_loss``, ``val_loss``,
    ``val_auc``, ``lr`` may be missing (its panel then says so); other keys are ignored.
    """
    histories = [histories] if isinstance(histories, dict) else list(histories)
    keys = ("train_loss", "val_loss", "val_auc", "lr")
    runs = []
    for history in histories:
        curves = {k: np.asarray(history[k], dtype=float) for k in keys if history.get(k) is not None}
        runs.append({k: v for k, v in curves.items() if v.size > 0})
    n_epochs = max((len(v) for curves in runs for v in curves.values()), default=1)
    fig = new_figure(13, 3.8)
    ax_loss, ax_auc, ax_lr = fig.subplots(1, 3)

    def draw(ax, values, **style):
        return ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, **style)

    several = len(runs) > 1
    for number, curves in enumerate(runs):
        color = f"C{number % 10}"
        who = f"member {number}, " if several else ""
        for key, label, line in (("train_loss", "train", "-"), ("val_loss", "validation", "--")):
            if key in curves:
                style = {"color": color, "linestyle": line} if several else {}
                draw(ax_loss, curves[key], label=who + label, **style)
        if "val_auc" in curves:
            auc = curves["val_auc"]
            draw(ax_auc, auc, color=color if several else "tab:green")
            best = int(np.nanargmax(auc))
            ax_auc.scatter([best + 1], [auc[best]], s=80, facecolors="none", edgecolors="black", zorder=3,
                           label=f"{who}best {auc[best]:.3f} (epoch {best + 1})")
        if "lr" in curves and not ax_lr.lines:         # the same schedule for every member
            draw(ax_lr, curves["lr"], color="tab:purple")
            if curves["lr"].min() > 0:
                ax_lr.set_yscale("log")
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="binary cross-entropy")
    if ax_loss.lines:
        ax_loss.legend(fontsize=7 if several else None)
    if ax_auc.lines:
        ax_auc.legend(loc="lower right", fontsize=7 if several else None)
    ax_auc.set(title="Validation ROC AUC", xlabel="epoch", ylabel="AUC")
    ax_lr.set(title="Learning rate", xlabel="epoch", ylabel="learning rate")

    for ax, key in ((ax_loss, "train_loss"), (ax_auc, "val_auc"), (ax_lr, "lr")):
        ax.grid(alpha=0.3)
        if not ax.lines:
            ax.text(0.5, 0.5, f"no {key} recorded", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.set_xlim(0.5, n_epochs + 0.5)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    return save_png(fig, path)


def plot_roc(fpr, tpr, auc: float, path, operating_points: dict[str, tuple[float, float]] | None = None) -> Path:
    """ROC curve with the chance diagonal and marked operating points.

    ``operating_points`` maps a label to ``(fpr, tpr)``, e.g.
    ``{"threshold 0.5": (0.21, 0.97), "validation threshold 0.83": (0.10, 0.92)}``.
    """
    fig = new_figure(5.6, 5.2)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance (AUC 0.5)")
    ax.plot(fpr, tpr, color="tab:blue", linewidth=2, label=f"model (AUC {auc:.3f})")
    markers = ["o", "s", "D", "^", "v"]
    colors = ["tab:red", "tab:orange", "tab:green", "tab:purple", "tab:brown"]
    for k, (label, (x, y)) in enumerate((operating_points or {}).items()):
        ax.scatter([x], [y], s=70, marker=markers[k % 5], color=colors[k % 5], zorder=3,
                   edgecolors="black", label=f"{label}: sens {y:.3f}, spec {1 - x:.3f}")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal",
           xlabel="false-positive rate (1 - specificity)", ylabel="true-positive rate (sensitivity)",
           title="ROC curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return save_png(fig, path)


def plot_confusion_matrix(cm, path, labels: Sequence[str] = CLASS_NAMES) -> Path:
    """Confusion matrix ``[[TN, FP], [FN, TP]]`` with counts and row percentages.

    Each cell shows the count and its share of the true class (row), so the diagonal reads
    as specificity (top left) and sensitivity (bottom right).
    """
    cm = np.asarray(cm)
    row_share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = new_figure(4.8, 4.2)
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
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion matrix (n = {cm.sum()})")
    fig.colorbar(image, ax=ax, label="share of true class", shrink=0.8)
    return save_png(fig, path)


def plot_reliability_diagram(bins: dict, path, ece: float | None = None) -> Path:
    """Reliability diagram from :func:`tinycnn.metrics.reliability_bins`.

    Top: observed share of positives against mean predicted probability per bin (on the
    diagonal = calibrated; below it = over-confident about PNEUMONIA). Bottom: how many
    examples fall in each bin.
    """
    edges = np.asarray(bins["edges"])
    count = np.asarray(bins["count"])
    used = count > 0
    centres = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]

    fig = new_figure(5.4, 6.0)
    ax, ax_count = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    ax.bar(centres[used], np.asarray(bins["frac_positive"])[used], width=width * 0.9,
           color="tab:blue", alpha=0.35, edgecolor="tab:blue", label="observed share positive")
    ax.plot(np.asarray(bins["mean_prob"])[used], np.asarray(bins["frac_positive"])[used],
            marker="o", color="tab:blue", label="bin mean")
    title = "Reliability diagram" + (f"  (ECE = {ece:.3f})" if ece is not None else "")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="observed share of PNEUMONIA", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)

    ax_count.bar(centres, count, width=width * 0.9, color="grey")
    ax_count.set(xlabel="predicted probability of PNEUMONIA", ylabel="count")
    ax_count.grid(alpha=0.3)
    return save_png(fig, path)


def plot_image_grid(images, probs, labels, path, ncols: int = 8,
                    class_names: Sequence[str] = CLASS_NAMES, threshold: float = 0.5) -> Path:
    """Grey X-rays with ``p`` (predicted probability of PNEUMONIA) and the true label.

    Titles are green when the prediction ``p >= threshold`` matches the label, red when not.
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
    fig = new_figure(1.6 * ncols, 1.85 * nrows + 0.1)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, p, y in zip(axes, images, probs, labels):
        ax.imshow(image, cmap="gray", **grey_range)
        right = int(p >= threshold) == y
        ax.set_title(f"p={p:.2f}\ntrue: {class_names[y]}", fontsize=8,
                     color=RIGHT_COLOR if right else WRONG_COLOR)
    return save_png(fig, path)
