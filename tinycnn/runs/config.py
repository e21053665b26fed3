"""A run's configuration: ``TrainConfig``, its checks, reading it back from config.json, and
finding the configuration of the run a model file came from (``run_folder_config``).

Every field has one rule (``FIELD_RULES``); the same rules check a configuration before
training starts and a config.json read from a run folder, so a value that could not have
been trained with is never read back either.

A config.json written before a field existed lacks it; the fields of ``LATER_FIELDS`` then
take the values tinycnn used before they existed, so old runs can still be evaluated and
resumed.  Any other missing field, and any unknown one, is refused.
"""

import os
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from ..data import PREPROCESSING_METHODS
from ..files import read_json
from .architecture import MAX_INPUT_SIDE, MAX_MEMBERS, check_members, check_model_kwargs, check_model_name
from .checks import RunError, check_bool, check_choice, check_dict, check_int, check_number, check_str

IMBALANCE_MODES = ("pos_weight", "balanced_batches", "none")
OPTIMIZERS = ("adamw", "adam", "sgd")
LR_SCHEDULES = ("cosine", "constant")
SELECTION_METRICS = ("val_auc", "val_loss")      # higher AUC is better, lower loss is better
CALIBRATION_SETS = ("val", "shifted_val")

#: Fields added after config.json files were first written (issue 13), with the value a run
#: written before then had: the data's own image size, the cosine schedule, the epoch of the
#: best validation AUC, no corruption, calibration on the validation images.  (The defaults of
#: two of them changed since: a new run corrupts half of its training images and calibrates on
#: the shifted validation images; an old file still reads back as what it trained with.)
LATER_FIELDS = {"image_size": 0, "lr_schedule": "cosine", "select_on": "val_auc", "corruption": 0.0,
                "calibrate_on": "val"}


@dataclass
class TrainConfig:
    """Everything that defines a run (written to config.json in the run folder)."""

    model: str = "pneumonia_net"
    model_kwargs: dict = field(default_factory=dict)
    image_size: int = 0                # 0: the data's own size (64); else each image resized to this square side
    members: int = 4                   # networks in the ensemble (1 = a single network)
    member: int = 0                    # which member this config trains (fit sets it)
    epochs: int = 12
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    lr_schedule: str = "cosine"        # "cosine" (warm-up, then cosine decay to 0) | "constant" (lr throughout)
    imbalance: str = "pos_weight"      # one of IMBALANCE_MODES
    preprocessing: str = "per_image"  # "per_image" (each X-ray standardised alone) | "dataset" | "unit" (x / 255)
    augment: bool = True
    brightness: float = 0.1            # augmentation: +- this many image standard deviations
    contrast: float = 0.1              # augmentation: contrast scaled by 1 +- this
    corruption: float = 0.5            # probability that a training image is corrupted (data.corrupt_batch)
    select_on: str = "val_auc"         # the best epoch: highest "val_auc" or lowest "val_loss"
    calibrate_on: str = "shifted_val"  # temperature and threshold fitted on "val" or "shifted_val" images
    val_fraction: float = 0.15
    target_sensitivity: float = 0.95
    seed: int = 0
    subset: int = 0                    # > 0: use only this many training images (quick runs)
    data_path: str = ""                # "" = the NPZ shipped with tinycnn; an .npz or a chest_xray/ folder
    n_bootstrap: int = 1000
    out_dir: str = "runs/pneumonia"


def best_epoch_index(history, select_on):
    """Where in a training ``history`` the epoch that ``select_on`` picks is: the first of the
    highest "val_auc", or the first of the lowest "val_loss" (a later tie never replaces it).
    A NaN score counts as the worst value: it is picked only when every score is NaN, and then
    the first epoch is."""
    values = np.asarray(history[select_on], dtype=np.float64)
    if select_on == "val_auc":
        return int(np.argmax(np.where(np.isnan(values), -np.inf, values)))
    return int(np.argmin(np.where(np.isnan(values), np.inf, values)))


def check_config(config, source="TrainConfig"):
    """Raise RunError naming the first field of ``config`` outside its range; returns config."""
    c, s = config, source
    check_model_name(c.model, s)
    check_model_kwargs(c.model, c.model_kwargs, s)
    check_members(c.members, s)
    check_int(c.image_size, "image_size", s, low=0, high=MAX_INPUT_SIDE)
    check_int(c.member, "member", s, low=0, high=MAX_MEMBERS - 1)
    check_int(c.epochs, "epochs", s, low=1, high=10_000)
    check_int(c.batch_size, "batch_size", s, low=1, high=65_536)
    check_choice(c.optimizer, "optimizer", s, OPTIMIZERS)
    check_number(c.lr, "lr", s, above=0, high=10)
    check_number(c.weight_decay, "weight_decay", s, low=0, high=1)
    check_number(c.warmup_epochs, "warmup_epochs", s, low=0, high=10_000)
    check_choice(c.lr_schedule, "lr_schedule", s, LR_SCHEDULES)
    check_choice(c.imbalance, "imbalance", s, IMBALANCE_MODES)
    check_choice(c.preprocessing, "preprocessing", s, PREPROCESSING_METHODS)
    check_bool(c.augment, "augment", s)
    check_number(c.brightness, "brightness", s, low=0, high=5)
    check_number(c.contrast, "contrast", s, low=0, below=1)
    check_number(c.corruption, "corruption", s, low=0, high=1)
    check_choice(c.select_on, "select_on", s, SELECTION_METRICS)
    check_choice(c.calibrate_on, "calibrate_on", s, CALIBRATION_SETS)
    check_number(c.val_fraction, "val_fraction", s, above=0, below=1)
    check_number(c.target_sensitivity, "target_sensitivity", s, above=0, high=1)
    check_int(c.seed, "seed", s, low=0, high=2**63 - 1)
    check_int(c.subset, "subset", s, low=0)
    check_str(c.data_path, "data_path", s)
    check_int(c.n_bootstrap, "n_bootstrap", s, low=1, high=1_000_000)
    if not isinstance(c.out_dir, str) or not c.out_dir:
        raise RunError(f"{s}: out_dir must be a folder name, got {c.out_dir!r}")
    return config


def make_config(quick=False, epochs=None, seed=0, out=None, imbalance=None, members=None, **settings):
    """The default run, or with quick=True a smoke test (768 images, 2 members, 2 epochs, under a minute).

    ``settings``: any other TrainConfig field by name (``model="baseline_cnn", image_size=28``).
    A value of None (or "") leaves the field as it is, so command-line options that were not
    given change nothing; the result is checked (``check_config``)."""
    config = TrainConfig(seed=seed)
    if quick:
        config.subset, config.epochs, config.n_bootstrap, config.members = 768, 2, 200, 2
        config.out_dir = "runs/pneumonia_quick"
    known = [f.name for f in fields(TrainConfig)]
    settings = {"epochs": epochs, "members": members, "out_dir": out, "imbalance": imbalance, **settings}
    for name, value in settings.items():
        if name not in known:
            raise RunError(f"make_config: unknown setting {name!r} (a TrainConfig has {', '.join(known)})")
        if value is not None and value != "":
            setattr(config, name, value)
    return check_config(config)


def read_config(path):
    """The TrainConfig in a run's config.json, every field checked; present, except that one
    of ``LATER_FIELDS`` may be missing (a file written before it existed: the value it had then)."""
    record = read_json(path, "run configuration")
    check_dict(record, "the file", path)
    known = [f.name for f in fields(TrainConfig)]
    unknown = [key for key in record if key not in known]
    if unknown:
        raise RunError(f"{path}: unknown field {unknown[0]!r} (a TrainConfig has {', '.join(known)})")
    missing = [name for name in known if name not in record and name not in LATER_FIELDS]
    if missing:
        raise RunError(f"{path}: field {missing[0]!r} is missing")
    earlier = {name: value for name, value in LATER_FIELDS.items() if name not in record}
    return check_config(TrainConfig(**record, **earlier), source=path)


def config_differences(saved, config, ignore=("out_dir",)):
    """['seed 0 -> 1', ...] for the fields where ``config`` differs from ``saved``."""
    old, new = asdict(saved), asdict(config)
    return [f"{name} {old[name]!r} -> {new[name]!r}" for name in old if name not in ignore and old[name] != new[name]]


def check_same_run(folder, config):
    """Refuse to resume ``folder`` with a configuration other than the one in its config.json."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        raise RunError(f"cannot resume {folder}: {path} is missing, so the checkpoint's configuration "
                       "is unknown")
    differences = config_differences(read_config(path), config)
    if differences:
        raise RunError(f"cannot resume {folder}: the configuration differs from its config.json in "
                       f"{len(differences)} field(s): {'; '.join(differences)} (saved -> now); resume with "
                       "the saved settings, or start a new run in another folder")


def run_folder_config(model_path, description):
    """The TrainConfig of the run a model came from (``tinycnn evaluate``): its folder's config.json
    (every field checked), else what the model file records (seed, preprocessing, its input size as
    ``image_size``), so the validation split is rebuilt exactly."""
    folder = os.path.dirname(os.path.abspath(model_path))
    path = os.path.join(folder, "config.json")
    if os.path.exists(path):
        config = replace(read_config(path), out_dir=folder)
        check_config_is_the_models(config, description, path, model_path)
        return config
    config = TrainConfig(out_dir=folder, image_size=description["input_shape"][0])   # resized to the model's input
    for key in ("seed", "model", "preprocessing", "model_kwargs", "members", "member"):
        if key in description:
            setattr(config, key, description[key])
    if "run_seed" in description:           # an ensemble member: its split is the run's
        config.seed = description["run_seed"]
    return config


def check_config_is_the_models(config, description, config_path, model_path):
    """Refuse a config.json that is not the run the model came from (say, rewritten by a later
    run with another seed): the validation split rebuilt from it would overlap the model's
    training images, and the temperature and threshold fitted on it would be wrong."""
    recorded = {"seed": description.get("run_seed", description.get("seed")), "model": description.get("model"),
                "model_kwargs": description.get("model_kwargs"), "preprocessing": description.get("preprocessing")}
    differ = [f"{key} {getattr(config, key)!r} in config.json, {value!r} in the model"
              for key, value in recorded.items() if value is not None and getattr(config, key) != value]
    side = description["input_shape"][0]
    if config.image_size and config.image_size != side:       # a GAP head would take the wrong size silently
        differ.append(f"image_size {config.image_size} in config.json, input {side} px in the model")
    if differ:
        raise RunError(f"{config_path} is not the run {model_path} came from ({'; '.join(differ)}): "
                       f"its validation split would not be the model's")


def check_images_fit_the_model(image_shape, description, model_path, config):
    """Refuse images (the data prepared from ``config``) whose shape is not the model's
    input_shape, say a config.json with image_size 0 (the data's own 64 px) next to a 28 px
    model: a network with a global-average-pooling head would take them without an error."""
    expected, got = tuple(description["input_shape"]), tuple(int(s) for s in image_shape)
    if got != expected:
        source = os.path.join(config.out_dir, "config.json")
        source = source if os.path.exists(source) else "its description"
        raise RunError(f"{model_path} takes images of shape {expected}, but {source} gives images of shape "
                       f"{got} (image_size {config.image_size}); evaluate with the model's image size")
