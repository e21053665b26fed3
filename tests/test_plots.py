"""Tests for tinycnn.plots: every function writes a valid, non-blank PNG."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinycnn import metrics as M
from tinycnn import plots as P

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
