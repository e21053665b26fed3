"""Choose the detector's configuration on validation only: train candidates, never touch test.

    python examples/validation_study.py                    # every candidate below, seed 0
    python examples/validation_study.py res32 res64_c50    # some of them
    python examples/validation_study.py --seeds 0 1 2 res32

Each candidate is a ``TrainConfig`` with a few fields changed.  It is trained with
``train.fit`` (which never evaluates the test split) into ``runs/validation_study/NAME_seedS``,
and scored on the patient-grouped validation images and on their shift-simulated copies
(``data.shifted_validation``: every validation X-ray blurred, resampled, re-compressed,
re-exposed or noised once, Tomani et al. 2021):

* AUC on validation and on shifted validation (clean validation AUC is near 0.99 for every
  candidate).  The shifted copies use the corruptions that ``corruption > 0`` trains with, so
  their AUC favours those candidates: compare them with each other on it, and with the
  others on clean validation;
* the threshold for sensitivity >= 0.95 chosen on one set and applied to the other
  (does the operating point survive the shift?);
* ECE before and after a temperature fitted on each set.

The table goes to ``runs/validation_study/results.json`` (updated atomically after every
candidate, so a killed study keeps what it finished) and to the screen.  The issue-13
plan in the README names the configurations chosen from it before the test split is looked at.
"""

import argparse
import json
import os
import time
from dataclasses import replace

from tinycnn import metrics
from tinycnn.files import atomic_write_json
from tinycnn.runs import TrainConfig, predict_logits
from tinycnn.train import fit, prepare_data
from train_baseline import BASELINE_RECIPE      # examples/train_baseline.py, next to this file

OUT = "runs/validation_study"

#: name -> the fields that differ from TrainConfig(); each names its corruption, so the study is
#: the one of issue 13 whatever the defaults (corruption 0.5 since then); calibration is scored both ways
CANDIDATES = {
    "default64": {"corruption": 0.0},              # the default run before issue 13
    "res32": {"image_size": 32, "corruption": 0.0},
    "res48": {"image_size": 48, "corruption": 0.0},
    "res64_c50": {"corruption": 0.5},              # the default run since issue 13
    "res32_c50": {"image_size": 32, "corruption": 0.5},
    "baseline28": {**BASELINE_RECIPE},          # the published recipe, as examples/train_baseline.py runs it
}


def operating_point(y, probs, threshold):
    predicted = metrics.predict(probs, threshold)
    return {"threshold": threshold, "sensitivity": metrics.sensitivity(y, predicted),
            "specificity": metrics.specificity(y, predicted)}


def score_on_validation(model, data, target=0.95):
    """The study's numbers for one trained model: validation and shifted validation only."""
    y = data["y_val"].astype(int)
    logits = {"val": predict_logits(model, data["x_val"]), "shifted_val": predict_logits(model, data["x_val_shifted"])}
    scores = {f"{name}_auc": metrics.roc_auc(y, z) for name, z in logits.items()}
    for fitted_on, other in (("val", "shifted_val"), ("shifted_val", "val")):
        temperature = metrics.fit_temperature(logits[fitted_on], y)
        threshold = metrics.threshold_for_sensitivity(y, metrics.sigmoid(logits[fitted_on] / temperature), target)
        scores[f"T_{fitted_on}"] = temperature
        scores[f"threshold_from_{fitted_on}_on_{other}"] = operating_point(
            y, metrics.sigmoid(logits[other] / temperature), threshold)
        for name, z in logits.items():
            scores[f"ece_{name}_T_{fitted_on}"] = metrics.ece(y, metrics.sigmoid(z / temperature))
    for name, z in logits.items():
        scores[f"ece_{name}_raw"] = metrics.ece(y, metrics.sigmoid(z))
    return scores


def run_candidate(name, seed, epochs=None):
    config = replace(TrainConfig(), **CANDIDATES[name], seed=seed, out_dir=os.path.join(OUT, f"{name}_seed{seed}"))
    if epochs is not None:
        config = replace(config, epochs=epochs)
    start = time.perf_counter()
    data = prepare_data(config)
    model, _, _ = fit(config, data, overwrite=True)
    model.eval()
    return {"name": name, "seed": seed, "changes": CANDIDATES[name], "minutes": (time.perf_counter() - start) / 60,
            **score_on_validation(model, data, config.target_sensitivity)}


def summary_line(r):
    a = r["threshold_from_val_on_shifted_val"]
    return (f"{r['name']:>12} seed {r['seed']}: val AUC {r['val_auc']:.4f}, shifted {r['shifted_val_auc']:.4f}; "
            f"val threshold on shifted: sens {a['sensitivity']:.3f} spec {a['specificity']:.3f}; "
            f"ECE shifted raw {r['ece_shifted_val_raw']:.3f} -> T(val) {r['ece_shifted_val_T_val']:.3f}, "
            f"T(shifted) {r['ece_shifted_val_T_shifted_val']:.3f}; {r['minutes']:.1f} min")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"candidates (default: all of {', '.join(CANDIDATES)})")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="override every candidate's epochs")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidate(s) {unknown}; choose from {sorted(CANDIDATES)}")
    path = os.path.join(OUT, "results.json")
    for name in args.names or list(CANDIDATES):
        for seed in args.seeds:
            result = run_candidate(name, seed, args.epochs)
            results = [r for r in read_results(path) if (r["name"], r["seed"]) != (name, seed)] + [result]
            os.makedirs(OUT, exist_ok=True)
            atomic_write_json(path, results)      # read just before: two studies may share the file
            print(summary_line(result), flush=True)
    print("\n".join(summary_line(r) for r in read_results(path)))


def read_results(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return json.load(f)


if __name__ == "__main__":
    main()
