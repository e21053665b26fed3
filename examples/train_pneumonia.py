"""Train a pneumonia detector from scratch on the shipped chest X-rays, then evaluate it once.

    python examples/train_pneumonia.py            # the full run: an ensemble of 4 small networks
    python examples/train_pneumonia.py --members 1   # one network (a quarter of the time)
    python examples/train_pneumonia.py --quick    # a small subset, 2 members, 2 epochs (under a minute)
    python examples/train_pneumonia.py --resume   # continue a killed run from its last checkpoint

Writes to runs/pneumonia/ (or --out): model.npz (the ensemble), config.json, metrics.json,
training_curves.png, roc.png, confusion_matrix.png, reliability.png, test_examples.png, and
member0/ ... member3/ with each network's own model.npz and checkpoint.npz.

Data: Kermany et al. 2018, CC BY 4.0 (see tinycnn/data/README.md).
"""

import argparse

from tinycnn.cli import add_train_arguments, train_config, user_errors
from tinycnn.train import TrainingDiverged, train_and_evaluate


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(parser)    # --quick --resume --overwrite --epochs --members --seed --out --imbalance ...
    args = parser.parse_args()

    try:                           # a bad setting, folder or resume: one line, exit status 2
        config = train_config(args)
        report = train_and_evaluate(config, resume=args.resume, overwrite=args.overwrite)
    except (TrainingDiverged, *user_errors()) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(f"\nwrote the model, metrics.json and figures to {config.out_dir}/ "
          f"(test AUC {report['test_auc']['value']:.4f})")


if __name__ == "__main__":
    main()
