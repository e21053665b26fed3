"""A run's files: its configuration, the model file (weights + how to rebuild the network),
its calibration, its checkpoints and its lock.

    model, description = load_model("runs/pneumonia/model.npz")
    temperature, threshold = read_calibration("runs/pneumonia")
    p = metrics.sigmoid(predict_logits(model, x) / temperature)     # P(pneumonia) per image

Nothing read from a run folder is trusted: every field of config.json, metrics.json and a
model file's description is checked (type, range, finiteness), and every array's header is
checked against the network it should fit before its data is read.  A problem is one line
(``RunError``, a ``ValueError``, or ``files.BadFileError`` for a damaged file) naming the file,
the field, what was expected and what was found.  Files are written atomically.

    checks.py        one value at a time: check_int, check_number, ... and RunError
    architecture.py  what a model description may say (registry name, bounded shape and widths)
    config.py        TrainConfig, its checks, config.json (older files without the later fields
                     too), the same-run check of a resume, the run folder a model file came from
    model_file.py    save_model, load_model, predict_logits
    calibration.py   fit_calibration (temperature and threshold on validation or shifted
                     validation), read_calibration (metrics.json)
    checkpoint.py    checkpoint.npz: written each epoch, read back on resume
    lock.py          RunLock: one writer per run folder
    preflight.py     what a run checks before it trains: folder, resume, data, batch size
    scoring.py       score_file: one image file scored as tinycnn predict reports it
    evaluations.py   evaluation_folder: where tinycnn evaluate writes (RUN/evaluations/NNN)

Nothing here trains: the CLI's ``predict``, ``summary`` and ``gradcam`` and the examples read
a run through this package alone.
"""

from .architecture import MAX_CHANNELS, MAX_INPUT_SIDE, MAX_MEMBERS, build_network, check_described_shape, ensemble_size
from .calibration import read_calibration
from .checkpoint import checkpoint_arrays, find_checkpoints, read_checkpoint
from .checks import RunError
from .evaluations import evaluation_folder, new_evaluation_folder
from .config import (IMBALANCE_MODES, OPTIMIZERS, PREPROCESSING_METHODS, TrainConfig, check_config,
                     check_same_run, make_config, read_config)
from .lock import RunLock, RunLockedError
from .model_file import check_description, load_model, predict_logits, save_model
from .preflight import check_both_classes, check_can_start, check_training_data, clear_earlier_run
from .scoring import score_file

__all__ = [
    "RunError", "RunLockedError", "RunLock",
    "TrainConfig", "make_config", "check_config", "read_config", "check_same_run",
    "IMBALANCE_MODES", "OPTIMIZERS", "PREPROCESSING_METHODS",
    "save_model", "load_model", "check_description", "predict_logits", "read_calibration",
    "build_network", "ensemble_size", "check_described_shape", "MAX_INPUT_SIDE", "MAX_CHANNELS", "MAX_MEMBERS",
    "checkpoint_arrays", "read_checkpoint", "find_checkpoints",
    "check_both_classes", "check_can_start", "check_training_data",
    "score_file", "evaluation_folder", "new_evaluation_folder",
]
