"""The checks a run passes before anything is trained or written: the configuration, the
run folder, a checkpoint to resume, and the data (both classes in every split, finite
values, a batch size the training split can fill).

Each failure is one ``RunError`` line naming the split, field or folder and the numbers, so
that a run never trains for an hour to fail at the end (or, worse, trains and saves a model
that never took an optimizer step).
"""

import os

import numpy as np

from ..data import CLASS_NAMES
from .architecture import check_described_shape
from .checkpoint import find_checkpoints
from .checks import RunError
from .config import check_config


def check_both_classes(split, y):
    """Refuse a split without both classes: nothing can be learnt, and AUC, the temperature, the
    threshold, sensitivity and specificity are undefined on it."""
    n_positive = int(np.sum(np.asarray(y) == 1))
    n_negative = len(y) - n_positive
    if n_positive == 0 or n_negative == 0:
        raise RunError(f"the {split} hold(s) only one class ({n_negative} {CLASS_NAMES[0]}, {n_positive} "
                       f"{CLASS_NAMES[1]}); a detector needs both to be trained, calibrated and tested")


def check_split_arrays(data, split):
    """x_<split> float32 (N, H, W, C) and finite; y_<split> (N,) of 0 and 1."""
    x, y = data.get(f"x_{split}"), data.get(f"y_{split}")
    if x is None or y is None:
        raise RunError(f"training data: x_{split} and y_{split} are required, got keys {sorted(data)}")
    if x.ndim != 4 or x.dtype != np.float32:
        raise RunError(f"training data: x_{split} must be float32 (N, H, W, C), got {x.dtype} {x.shape}")
    if y.shape != (len(x),) or not np.isin(y, (0, 1)).all():
        raise RunError(f"training data: y_{split} must be {len(x)} labels of 0 and 1, got {y.dtype} {y.shape}")
    if not np.isfinite(x).all():
        raise RunError(f"training data: x_{split} holds {np.count_nonzero(~np.isfinite(x))} NaN or infinite "
                       "value(s)")
    check_both_classes(f"{split} split", y)


def check_training_data(data, config):
    """Everything about the data that would otherwise fail (or silently not train) later."""
    for split in ("train", "val") + (("test",) if "y_test" in data else ()):
        check_split_arrays(data, split)
    check_described_shape(data["x_train"].shape[1:], "training data", "image shape (H, W, C)")
    n_train = len(data["y_train"])
    if config.batch_size > n_train:
        raise RunError(f"batch_size {config.batch_size} is larger than the {n_train} training images: no "
                       "optimizer step would run; choose a batch_size <= the number of training images")


def check_can_start(config, resume):
    """The checks that need no data: the configuration, the folder, a checkpoint to resume."""
    check_config(config)
    out = config.out_dir
    if os.path.exists(out) and not os.path.isdir(out):
        raise RunError(f"run folder {out} is a file, not a folder")
    if resume and not find_checkpoints(out):
        where = "does not exist" if not os.path.isdir(out) else "holds no checkpoint.npz (nor member*/checkpoint.npz)"
        raise RunError(f"cannot resume {out}: it {where}; check the folder name, or start a new run "
                       "without --resume (resume=False)")


#: the files of an earlier run that a new run into the same folder would replace
EARLIER_RUN_FILES = ("model.npz", "metrics.json")


def clear_earlier_run(folder, overwrite, print_fn):
    """A new (not resumed) run into a folder that holds an earlier run: refused unless
    ``overwrite``, so that a forgotten ``--resume`` never deletes a user's checkpoints or model.
    With ``overwrite`` the earlier model, metrics and checkpoints are removed (and named) before
    training starts, so no old calibration is ever read with the new model."""
    earlier = [os.path.join(folder, name) for name in EARLIER_RUN_FILES
               if os.path.isfile(os.path.join(folder, name))] + find_checkpoints(folder)
    if not earlier:
        return
    names = ", ".join(os.path.relpath(path, folder) for path in earlier)
    if not overwrite:
        raise RunError(f"{folder} already holds a run ({names}): continue it with --resume, replace "
                       f"it with --overwrite, or choose another --out")
    for path in earlier:
        os.remove(path)
    print_fn(f"--overwrite: removed the earlier run's {names} from {folder}")

