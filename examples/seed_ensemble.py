"""The test AUC of the mean logit of several finished runs (e.g. one recipe's seeds 0, 1, 2).

    python examples/seed_ensemble.py runs/baseline_seed0 runs/baseline_seed1 runs/baseline_seed2

Each run is rebuilt from its folder (model.npz, config.json), the test X-rays are prepared
as that run prepared them (image size, preprocessing), and the members' logits are averaged.
Only the AUC is reported, with a bootstrap 95% interval: runs with different seeds have
different validation splits (an image one run validated on, another trained on), so no
validation set is left on which a temperature or a threshold for the average could be fitted.
This is a look at the test split: pre-register it (README, "Every look at the test split").
"""

import argparse
import os

import numpy as np

from tinycnn import metrics
from tinycnn.runs import load_model, predict_logits
from tinycnn.runs.config import run_folder_config
from tinycnn.train import prepare_data


def run_test_logits(folder):
    """(test logits, test labels) of the run in ``folder``, its images prepared as it trained."""
    path = os.path.join(folder, "model.npz")
    model, description = load_model(path)
    config = run_folder_config(path, description)      # refuses a config.json of another run
    data = prepare_data(config)
    return predict_logits(model.eval(), data["x_test"]), data["y_test"].astype(int)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="finished run folders")
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    args = parser.parse_args()
    logits, labels = zip(*(run_test_logits(folder) for folder in args.runs))
    if any(not np.array_equal(labels[0], y) for y in labels):
        parser.exit(2, f"{parser.prog}: error: the runs' test splits differ (not the same data)\n")
    for folder, z in zip(args.runs, logits):
        print(f"{folder}: test AUC {metrics.roc_auc(labels[0], z):.4f}")
    mean_logit = np.mean(logits, axis=0)
    auc, low, high = metrics.bootstrap_ci(metrics.roc_auc, labels[0], mean_logit, n_boot=args.n_bootstrap, seed=0)
    print(f"mean logit of {len(args.runs)} runs: test AUC {auc:.4f} (95% CI {low:.4f}-{high:.4f})")


if __name__ == "__main__":
    main()
