"""Grad-CAM on the pneumonia test set: example overlays and a shortcut report.

    python examples/gradcam_pneumonia.py                       # uses runs/pneumonia/model.npz
                                                               # (an ensemble: its maps explain the mean logit)
    python examples/gradcam_pneumonia.py --model runs/x/model.npz --per-group 8

Writes into the model's run folder (or --out):

* gradcam_examples.png: test X-rays grouped as true positives, false positives, false
  negatives and true negatives (a random few of each), each shown plain and with the
  Grad-CAM overlay of the class the model predicted, with P(pneumonia);
* shortcut_report.json / .png and deletion_curve.png (``tinycnn.cam.shortcut_report``):
  how much of the CAM mass sits in the central lung box versus the border frame and the
  corners (where burned-in "R" / "A-P" markers and ECG leads sit), for correct and wrong
  predictions, and a deletion test over all 624 test images.

Probabilities use the run's temperature and decision threshold from metrics.json when there
is one (else temperature 1, threshold 0.5).  Without a model file, a quick model is trained
first (1,024 images, 3 epochs, a minute or two) and the script says so: its maps are for
trying the code, not for conclusions about the data.
"""

import argparse
import os
import sys

import numpy as np

from tinycnn.data import load_pneumonia, preprocess
from tinycnn.cam import GradCAM, class_probabilities, plot_overlay_grid, predicted_classes, shortcut_report
from tinycnn.runs import TrainConfig, load_model, predict_logits, read_calibration
from tinycnn.train import train_and_evaluate

QUICK_RUN = "runs/gradcam_quick"


def get_model(path):
    if os.path.exists(path):
        return path
    print(f"no trained model at {path}: training a quick one first (1,024 training images, 3 epochs) "
          f"into {QUICK_RUN}/; its maps are for trying the code, not for conclusions")
    config = TrainConfig(subset=1024, epochs=3, n_bootstrap=200, out_dir=QUICK_RUN, members=1)
    train_and_evaluate(config)
    return os.path.join(QUICK_RUN, "model.npz")


def pick_groups(y, predicted, per_group, seed=0):
    """A random sample (fixed seed) of each outcome, in the order TP, FP, FN, TN."""
    rng = np.random.default_rng(seed)
    outcomes = [("true positives: pneumonia, called pneumonia", (y == 1) & (predicted == 1)),
                ("false positives: normal, called pneumonia", (y == 0) & (predicted == 1)),
                ("false negatives: pneumonia, called normal", (y == 1) & (predicted == 0)),
                ("true negatives: normal, called normal", (y == 0) & (predicted == 0))]
    groups = []
    for name, mask in outcomes:
        idx = np.flatnonzero(mask)
        chosen = np.sort(rng.choice(idx, min(per_group, len(idx)), replace=False)) if len(idx) else idx
        groups.append((f"{name} ({len(idx)} of {len(y)})", chosen))
    return groups


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="runs/pneumonia/model.npz")
    parser.add_argument("--out", help="folder for the figures and report (default: the model's folder)")
    parser.add_argument("--per-group", type=int, default=6, help="examples per outcome in the grid")
    parser.add_argument("--steps", type=int, default=20, help="steps of the deletion curve")
    args = parser.parse_args(argv)

    model_path = get_model(args.model)
    run_folder = os.path.dirname(os.path.abspath(model_path))
    out = args.out or run_folder
    model, description = load_model(model_path)
    temperature, threshold = read_calibration(run_folder)
    has_metrics = os.path.exists(os.path.join(run_folder, "metrics.json"))
    source = os.path.join(run_folder, "metrics.json") if has_metrics else "defaults (no metrics.json)"
    method = description.get("preprocessing", "dataset")      # files from before it was recorded: "dataset"
    print(f"model {model_path} ({description['model']}, preprocessing '{method}'); "
          f"temperature {temperature:.3f}, threshold {threshold:.3f} from {source}")

    data = load_pneumonia().resized(description["input_shape"][0])    # at the model's input size (baseline: 28)
    x, y = preprocess(data.x_test, method), data.y_test.astype(np.int64)
    probabilities = class_probabilities(predict_logits(model, x)[:, None], temperature)
    predicted = predicted_classes(probabilities, threshold)

    cam = GradCAM(model)
    rows = []
    for title, idx in pick_groups(y, predicted, args.per_group):
        maps = cam(x[idx], target=predicted[idx]) if len(idx) else np.zeros((0, 8, 8))
        rows.append({"title": title, "images": data.x_test[idx], "heatmaps": maps,
                     "probs": probabilities[idx, 1], "labels": y[idx]})
    grid = plot_overlay_grid(rows, os.path.join(out, "gradcam_examples.png"), threshold=threshold,
                             ncols=args.per_group,
                             title=f"Grad-CAM of the predicted class on '{cam.layer.name}' "
                                   f"(p = P(pneumonia), threshold {threshold:.2f}); plain | overlay")
    print(f"wrote {grid}")

    shortcut_report(model, x, y, out, temperature=temperature, threshold=threshold, steps=args.steps)
    print(f"wrote shortcut_report.json, shortcut_report.png and deletion_curve.png to {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
