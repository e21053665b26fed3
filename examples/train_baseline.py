"""Train the published from-scratch baseline with its published recipe, through tinycnn's own
training loop, then evaluate it once on test (issue 13: an anchor for our detector, and a check
that tinycnn's training loop is not what holds it back).

    python examples/train_baseline.py --seed 0     # -> runs/baseline_seed0/ (seeds 0, 1, 2 for the table)
    python examples/train_baseline.py --seed 0 --quick --out /tmp/baseline   # a smoke test, under a minute

The recipe is that of the ``Aperivue/medsci-skills`` demo "04_pneumoniamnist_cnn" (test AUC
0.964 +- 0.004 over 3 seeds on 28x28 PneumoniaMNIST), ``BASELINE_RECIPE`` below:

* ``baseline_cnn``: 3 convolutions of 16, 32 and 64 filters, 23,809 parameters;
* 28x28 input: the shipped 64x64 X-rays resized with Pillow's antialiased LANCZOS filter, the
  resize a user's X-ray goes through in ``tinycnn predict`` (``tinycnn.data.resize_grey``);
* pixels / 255 (preprocessing ``unit``), no augmentation;
* Adam at a constant learning rate of 1e-3 (no warm-up, no decay, no weight decay), batches of
  128, 20 epochs, the epoch with the lowest validation loss kept;
* one network, and **no class weighting** (imbalance ``none``): the published loss is a plain
  cross-entropy, although train is 74 % PNEUMONIA.

What is not the published run: its data are MedMNIST's 28x28 images (centre-cropped from the
originals), here the shipped ones (squashed to 224x224, then 64x64, then 28x28); its validation
split is MedMNIST's, image by image, here tinycnn's patient-grouped 15 % of train; its network
has two output logits and a softmax (the same detectors as one logit and a sigmoid), PyTorch's
weight initialisation and keeps the last incomplete batch, while tinycnn drops it and re-estimates
the batch-norm statistics after every epoch.  As every tinycnn run, the temperature and the
threshold are fitted on validation and the test split is evaluated once, at the end.

Writes runs/baseline_seedN/ (or --out): model.npz, config.json, metrics.json and the figures.
Data: Kermany et al. 2018, CC BY 4.0 (see tinycnn/data/README.md).
"""

import argparse

from tinycnn.cli import user_errors
from tinycnn.runs import make_config
from tinycnn.train import TrainingDiverged, train_and_evaluate

#: the published recipe, as TrainConfig fields (module docstring)
BASELINE_RECIPE = {
    "model": "baseline_cnn", "image_size": 28, "preprocessing": "unit", "augment": False,
    "optimizer": "adam", "lr": 1e-3, "lr_schedule": "constant", "weight_decay": 0.0,
    "batch_size": 128, "epochs": 20, "select_on": "val_loss", "members": 1, "imbalance": "none",
    "corruption": 0.0, "calibrate_on": "val",      # no corruptions (the default run's since issue 13)
}


def baseline_config(seed, out=None, quick=False):
    """The checked TrainConfig of the recipe for ``seed``, into ``out`` (default runs/baseline_seed{seed});
    ``quick``: 768 training images and 2 epochs, the rest of the recipe unchanged."""
    recipe = {**BASELINE_RECIPE, "epochs": 2} if quick else BASELINE_RECIPE
    return make_config(quick, seed=seed, out=out or f"runs/baseline_seed{seed}", **recipe)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation split and the weights (default 0)")
    parser.add_argument("--out", help="run folder (default runs/baseline_seedN)")
    parser.add_argument("--quick", action="store_true", help="768 training images, 2 epochs (smoke test)")
    parser.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")
    args = parser.parse_args()

    try:                           # a bad setting, folder or resume: one line, exit status 2
        config = baseline_config(args.seed, args.out, args.quick)
        report = train_and_evaluate(config, resume=args.resume, overwrite=args.overwrite)
    except (TrainingDiverged, *user_errors()) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(f"\nwrote the model, metrics.json and figures to {config.out_dir}/ "
          f"(test AUC {report['test_auc']['value']:.4f})")


if __name__ == "__main__":
    main()
