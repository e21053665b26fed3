"""Tests for tinycnn.plots: every function writes a valid, non-blank PNG, and each figure says
what it shows (split, threshold and how it was chosen, before/after calibration, which line
is which): the ``drawn`` fixture keeps every figure a plot saves, to read its texts."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.contour import ContourSet
from matplotlib.text import Text
from PIL import Image

from tinycnn import metrics as M
from tinycnn import nn
from tinycnn import plots as P
from tinycnn.cam import plot_overlay_grid, shortcut_report
from tinycnn.plots import cam as plots_cam
from tinycnn.plots import training as plots_training

REPO = Path(__file__).resolve().parents[1]


def assert_png(path, min_size=(200, 200)):
    path = Path(path)
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as im:
        im.verify()  # checks the PNG structure and CRCs
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1]
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert pixels.std() > 5  # something was drawn on the white canvas


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots save during a test, in order (each still written as a PNG)."""
    figures = []

    def keep(fig, path):
        figures.append(fig)
        return save(fig, path)

    save = plots_training.save_png
    for module in (plots_training, plots_cam):
        monkeypatch.setattr(module, "save_png", keep)
    return figures


def texts(fig):
    """Every non-empty string drawn on ``fig``: titles, labels, legends, annotations."""
    return {t.get_text() for t in fig.findobj(Text) if t.get_text()}


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.fixture(scope="module")
def predictions():
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.6).astype(int)
    probs = M.sigmoid(rng.normal(0, 1, 200) + 2 * (2 * y - 1))
    return y, probs


def test_training_curves(tmp_path):
    history = {
        "train_loss": [0.7, 0.5, 0.4, 0.35],
        "val_loss": [0.72, 0.6, 0.55, 0.56],
        "val_auc": [0.7, 0.8, 0.85, 0.84],
        "lr": [1e-3, 1e-3, 5e-4, 2.5e-4],
    }
    out = P.plot_training_curves(history, tmp_path / "nested" / "curves.png")
    assert out == tmp_path / "nested" / "curves.png"
    assert_png(out)


def test_training_curves_with_missing_keys(tmp_path):
    assert_png(P.plot_training_curves({"train_loss": [0.7]}, tmp_path / "one_epoch.png"))
    arrays = {"val_auc": np.array([0.6, 0.7]), "lr": np.array([]), "best_epoch": 2}
    assert_png(P.plot_training_curves(arrays, tmp_path / "arrays.png"))


def test_roc(tmp_path, predictions):
    y, probs = predictions
    fpr, tpr, _ = M.roc_curve(y, probs)
    t = M.threshold_for_sensitivity(y, probs, 0.95)
    points = {}
    for name, threshold in (("threshold 0.5", 0.5), (f"validation threshold {t:.2f}", t)):
        pred = M.predict(probs, threshold)
        points[name] = (1 - M.specificity(y, pred), M.sensitivity(y, pred))
    assert_png(P.plot_roc(fpr, tpr, M.roc_auc(y, probs), tmp_path / "roc.png", operating_points=points))
    assert_png(P.plot_roc(fpr, tpr, 0.9, str(tmp_path / "roc_plain.png")))


def test_confusion_matrix(tmp_path, predictions):
    y, probs = predictions
    cm = M.confusion_matrix(y, M.predict(probs))
    assert_png(P.plot_confusion_matrix(cm, tmp_path / "cm.png"))
    assert_png(P.plot_confusion_matrix(np.zeros((2, 2), int), tmp_path / "cm_empty.png"))


def test_reliability_diagram(tmp_path, predictions):
    y, probs = predictions
    bins = M.reliability_bins(y, probs)
    assert_png(P.plot_reliability_diagram(bins, tmp_path / "rel.png", ece=M.ece(y, probs)))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_image_grid(tmp_path, dtype):
    rng = np.random.default_rng(0)
    images = (rng.random((10, 16, 16, 1)) * 255).astype(dtype)
    out = P.plot_image_grid(images, rng.random(10), rng.integers(0, 2, 10), tmp_path / "grid.png", ncols=4)
    assert_png(out)
    small = P.plot_image_grid(images[:2, ..., 0], [0.1, 0.9], [0, 1], tmp_path / "two.png")
    assert_png(small, min_size=(100, 100))


def test_plotting_never_imports_pyplot(tmp_path):
    """No pyplot means no global backend switch and no window, whatever the user's setup."""
    code = (
        "import sys; import tinycnn.plots as P; "
        f"P.plot_confusion_matrix([[1, 2], [3, 4]], {str(tmp_path / 'cm.png')!r}); "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert_png(tmp_path / "cm.png")


# ======================================================================== what the figures say


@pytest.mark.parametrize("args, text", [
    ((0.829, 0.95), "threshold 0.829, chosen on validation for sensitivity >= 0.95"),
    ((0.5,), "threshold 0.500"),
    ((np.float32(0.125), 0.9), "threshold 0.125, chosen on validation for sensitivity >= 0.90"),
])
def test_describe_threshold(args, text):
    assert P.describe_threshold(*args) == text


@pytest.mark.parametrize("args, text", [
    (("ROC curve", "test", 624), "ROC curve on the test split (n = 624)"),
    (("Confusion matrix", None, 10), "Confusion matrix (n = 10)"),
    (("Reliability diagram", "validation"), "Reliability diagram on the validation split"),
    (("ROC curve",), "ROC curve"),
])
def test_describe_data(args, text):
    assert P.describe_data(*args) == text


def test_training_curves_tell_train_validation_and_members_apart(tmp_path, drawn):
    lr = [3e-3, 2.9e-3, 1.5e-3, 1e-8]            # warm-up then cosine, as fit_one records it
    histories = [{"train_loss": [0.7, 0.5, 0.4, 0.3], "val_loss": [0.6, 0.5, 0.45, 0.44],
                  "val_auc": [0.8, 0.9, 0.92, 0.91], "lr": lr} for _ in range(2)]
    assert_png(P.plot_training_curves(histories, tmp_path / "curves.png"))
    (fig,) = drawn
    ax_loss, ax_auc, ax_lr = fig.axes
    assert legend_texts(ax_loss) == ["train", "validation", "member0", "member1"]   # as the run's folders
    styles = [(line.get_color(), line.get_linestyle()) for line in ax_loss.lines]
    assert styles == [("C0", "-"), ("C0", "--"), ("C1", "-"), ("C1", "--")]
    assert [line.get_linestyle() for line in ax_auc.lines] == ["--", "--"]           # AUC is validation's
    assert legend_texts(ax_auc) == ["member0: 0.920 (epoch 3)", "member1: 0.920 (epoch 3)"]
    assert "solid = train, dashed = validation" in fig._suptitle.get_text()
    # the schedule on a linear axis from 0 to its peak, in units of 1e-3
    assert ax_lr.get_yscale() == "linear" and ax_lr.get_ylim() == pytest.approx((0, 3 * 1.08))
    assert ax_lr.get_ylabel() == "learning rate (x 1e-3)"
    assert ax_lr.lines[0].get_ydata() == pytest.approx([3, 2.9, 1.5, 1e-5])


def test_one_network_has_no_member_names(tmp_path, drawn):
    P.plot_training_curves({"train_loss": [0.7, 0.5], "val_loss": [0.6, 0.5], "lr": [0.5, 0.25]}, tmp_path / "c.png")
    ax_loss, _, ax_lr = drawn[0].axes
    assert legend_texts(ax_loss) == ["train", "validation"]
    assert ax_lr.get_ylabel() == "learning rate (x 1e-1)"


def test_roc_names_the_split_and_marks_each_threshold(tmp_path, drawn, predictions):
    y, probs = predictions
    fpr, tpr, _ = M.roc_curve(y, probs)
    points = {P.describe_threshold(0.3, 0.95): (0.4, 0.96, 0.3), "threshold 0.500": (0.2, 0.8, 0.5)}
    P.plot_roc(fpr, tpr, 0.9, tmp_path / "roc.png", operating_points=points, split="test", n=200)
    (ax,) = drawn[0].axes
    assert ax.get_title() == "ROC curve on the test split (n = 200)"
    assert {"t = 0.300", "t = 0.500"} <= texts(drawn[0])
    assert ("threshold 0.300, chosen on validation for sensitivity >= 0.95:\nsensitivity 0.960, specificity 0.600"
            in legend_texts(ax))


def test_confusion_matrix_states_split_and_threshold(tmp_path, drawn):
    P.plot_confusion_matrix([[60, 174], [11, 379]], tmp_path / "cm.png", threshold=0.126, target_sensitivity=0.95,
                            split="test")
    assert drawn[0].axes[0].get_title() == ("Confusion matrix on the test split (n = 624)\n"
                                            "threshold 0.126, chosen on validation for sensitivity >= 0.95")


def test_reliability_diagram_before_and_after_temperature_scaling(tmp_path, drawn, predictions):
    y, probs = predictions
    sharper = M.sigmoid(2 * np.log(probs / (1 - probs)))
    assert_png(P.plot_reliability_diagram(M.reliability_bins(y, probs), tmp_path / "rel.png", ece=0.05,
                                          bins_before=M.reliability_bins(y, sharper), ece_before=0.12,
                                          temperature=2.0, split="test"))
    ax, ax_count = drawn[0].axes
    assert ax.get_title() == ("Reliability diagram on the test split (n = 200)\n"
                              "before and after temperature scaling (T = 2.000)")
    assert legend_texts(ax) == ["perfectly calibrated", "before temperature scaling: ECE 0.120",
                                "after temperature scaling (T = 2.000): ECE 0.050"]
    assert len(ax_count.patches) == 2 * 15                 # both sets of counts, side by side


def test_reliability_by_split_shows_each_split_before_and_after_the_temperature(tmp_path, drawn, predictions):
    y, probs = predictions
    logit = np.log(probs / (1 - probs))
    splits = {"val": (y, M.sigmoid(2 * logit), probs),
              "shifted_val": (y[:150], M.sigmoid(3 * logit[:150]), M.sigmoid(1.5 * logit[:150])),
              "test": (y[50:], M.sigmoid(2 * logit[50:]), probs[50:])}
    assert_png(P.plot_reliability_by_split(splits, tmp_path / "rel.png", temperature=2.0, fitted_on="shifted_val"),
               min_size=(1500, 700))
    fig = drawn[0]
    assert fig._suptitle.get_text() == ("Reliability before and after temperature scaling: T = 2.000, "
                                        "fitted on the shifted validation split")
    panels, counts = fig.axes[:3], fig.axes[3:]              # subplots(2, 3): row by row
    assert [ax.get_title() for ax in panels] == ["Reliability on the validation split (n = 200)",
                                                 "Reliability on the shifted validation split (n = 150)",
                                                 "Reliability on the test split (n = 150)"]
    for ax, (labels, before, after) in zip(panels, splits.values()):
        assert legend_texts(ax) == ["perfectly calibrated",
                                    f"before temperature scaling: ECE {M.ece(labels, before):.3f}",
                                    f"after (T = 2.000): ECE {M.ece(labels, after):.3f}"]
    assert [len(ax.patches) for ax in counts] == [2 * 15] * 3     # both sets of counts, side by side
    assert [int(sum(p.get_height() for p in ax.patches)) for ax in counts] == [400, 300, 300]


def test_image_grid_has_a_title_the_threshold_and_a_colour_key(tmp_path, drawn):
    images = np.zeros((3, 8, 8), np.uint8)
    P.plot_image_grid(images, [0.2, 0.7, 0.9], [0, 1, 1], tmp_path / "grid.png", threshold=0.8,
                      target_sensitivity=0.95, title="3 random test images")
    fig = drawn[0]
    assert fig._suptitle.get_text() == "3 random test images\nthreshold 0.800, chosen on validation for sensitivity >= 0.95"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["green: correct at this threshold",
                                                                 "red: wrong at this threshold"]
    right, wrong = P.figure.RIGHT_COLOR, P.figure.WRONG_COLOR
    assert [ax.title.get_color() for ax in fig.axes] == [right, wrong, right]   # 0.7 < 0.8: called NORMAL


def test_gradcam_grid_has_a_colour_key(tmp_path, drawn):
    rows = [{"images": np.zeros((2, 8, 8), np.uint8), "heatmaps": np.ones((2, 2, 2)), "probs": [0.2, 0.9],
             "labels": [0, 0]}]
    plot_overlay_grid(rows, tmp_path / "grid.png", threshold=0.5, title="Grad-CAM")
    assert {"green: correct at threshold 0.500", "red: wrong at threshold 0.500"} <= texts(drawn[0])


def test_shortcut_figures_show_the_band_and_the_mean_xray(tmp_path, drawn):
    model = nn.Sequential([nn.Conv2D(1, 4, 3, strides=2, padding="same", activation="relu", rng=2),
                           nn.GlobalAveragePooling2D(), nn.Dense(4, 1, rng=2)], input_shape=(16, 16, 1))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 16, 16, 1)).astype(np.float32)
    shortcut_report(model, x, rng.integers(0, 2, 12), tmp_path, threshold=0.5, steps=4, print_fn=None)
    regions, deletion = drawn
    drawn_groups = [ax for ax in regions.axes[:2] if ax.images]      # correct and/or wrong predictions
    assert drawn_groups
    for ax in drawn_groups:              # the mean X-ray in grey, not hidden under colour; the map as lines
        (image,) = ax.images
        assert image.get_cmap().name == "gray" and image.get_alpha() is None
        assert any(isinstance(c, ContourSet) for c in ax.collections)
    assert "mean map value (contour lines)" in texts(regions)
    for ax in deletion.axes:
        assert legend_texts(ax)[0] == "grey band: the first 20 %"
    assert_png(tmp_path / "shortcut_report.png")
    assert_png(tmp_path / "deletion_curve.png")
