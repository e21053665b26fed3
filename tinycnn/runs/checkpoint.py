"""A training checkpoint: the network's and the optimizer's state plus the progress so far
(epoch, global step, history, best epoch), written after every epoch by ``train.fit_one``.

Read back only after checking it belongs to the run being resumed: every array's header
must match the network and optimizer this configuration builds, the step count must be what
this data and batch size give, and the history must be as long as the epochs done.
"""

import glob
import json
import os

import numpy as np

from ..files import NpzArchive
from .checks import RunError, check_dict, check_int, check_list, check_number, field

HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "val_auc", "lr", "seconds")
MAX_PROGRESS_CHARS = 4_000_000      # ~200 characters of history per epoch, at most 10,000 epochs


def checkpoint_arrays(model, optimizer, epoch, step, history, best):
    """What ``atomic_savez`` writes to checkpoint.npz."""
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"optimizer/{k}": v for k, v in optimizer.state_dict().items()})
    arrays["progress"] = np.array(json.dumps({"epoch": epoch, "step": step, "history": history,
                                              "best": best}))
    return arrays


def find_checkpoints(folder):
    """The checkpoints of a run folder: its own (one network) and its members' (an ensemble)."""
    paths = [os.path.join(folder, "checkpoint.npz")] + sorted(glob.glob(os.path.join(folder, "member*", "checkpoint.npz")))
    return [path for path in paths if os.path.isfile(path)]


def check_progress(progress, path, epochs, steps_per_epoch):
    """The progress record of a checkpoint, consistent with ``epochs`` and ``steps_per_epoch``."""
    source = f"checkpoint {path}: progress"
    check_dict(progress, "progress", f"checkpoint {path}")
    epoch = check_int(field(progress, "epoch", source), "epoch", source, low=1, high=epochs)
    step = check_int(field(progress, "step", source), "step", source, low=0)
    if step != epoch * steps_per_epoch:
        raise RunError(f"{source}: step must be {epoch * steps_per_epoch} ({epoch} epoch(s) x {steps_per_epoch} "
                       f"batches), got {step!r}: it was written for other data or another batch size")
    history = check_dict(field(progress, "history", source), "history", source)
    for key in HISTORY_KEYS:
        for value in check_list(field(history, key, source), f"history.{key}", source, length=epoch):
            check_number(value, f"history.{key}", source)
    if history["epoch"] != list(range(1, epoch + 1)):
        raise RunError(f"{source}: history.epoch must be 1 ... {epoch}, got {history['epoch'][:5]}...")
    best = check_dict(field(progress, "best", source), "best", source)
    check_int(field(best, "epoch", source), "best.epoch", source, low=1, high=epoch)
    check_number(field(best, "val_auc", source), "best.val_auc", source, low=0, high=1)
    return progress


def read_checkpoint(path, model, optimizer, epochs, steps_per_epoch):
    """Load the checkpoint at ``path`` into ``model`` and ``optimizer``; returns its progress.

    Nothing is changed unless the whole checkpoint is valid."""
    with NpzArchive(path, "checkpoint") as archive:
        try:
            progress = json.loads(archive.read_text("progress", MAX_PROGRESS_CHARS))
        except json.JSONDecodeError as err:
            raise RunError(f"checkpoint {path}: progress is not valid JSON ({err})") from None
        check_progress(progress, path, epochs, steps_per_epoch)
        expected = {f"model/{k}": (v.shape, v.dtype) for k, v in model.state_dict().items()}
        expected.update({f"optimizer/{k}": (v.shape, v.dtype) for k, v in optimizer.state_dict().items()})
        arrays = archive.read_arrays(expected, also=("progress",), finite=True)
    model.load_state_dict({k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")})
    optimizer.load_state_dict({k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")})
    return progress
