"""A run's configuration: ``TrainConfig``, its checks, and reading it back from config.json.

Every field has one rule (``FIELD_RULES``); the same rules check a configuration before
training starts and a config.json read from a run folder, so a value that could not have
been trained with is never read back either.
"""

import os
from dataclasses import asdict, dataclass, field, fields

from ..files import read_json
from .architecture import MAX_MEMBERS, check_members, check_model_kwargs, check_model_name
from .checks import RunError, check_bool, check_choice, check_dict, check_int, check_number, check_str

IMBALANCE_MODES = ("pos_weight", "balanced_batches", "none")
OPTIMIZERS = ("adamw", "adam", "sgd")
PREPROCESSING_METHODS = ("per_image", "dataset")


@dataclass
class TrainConfig:
    """Everything that defines a run (written to config.json in the run folder)."""

    model: str = "pneumonia_net"
    model_kwargs: dict = field(default_factory=dict)
    members: int = 4                   # networks in the ensemble (1 = a single network)
    member: int = 0                    # which member this config trains (fit sets it)
    epochs: int = 12
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    imbalance: str = "pos_weight"      # one of IMBALANCE_MODES
    preprocessing: str = "per_image"  # "per_image" (each X-ray standardised alone) | "dataset"
    augment: bool = True
    brightness: float = 0.1            # augmentation: +- this many image standard deviations
    contrast: float = 0.1              # augmentation: contrast scaled by 1 +- this
    val_fraction: float = 0.15
    target_sensitivity: float = 0.95
    seed: int = 0
    subset: int = 0                    # > 0: use only this many training images (quick runs)
    data_path: str = ""                # "" = the NPZ shipped with tinycnn; an .npz or a chest_xray/ folder
    n_bootstrap: int = 1000
    out_dir: str = "runs/pneumonia"


def check_config(config, source="TrainConfig"):
    """Raise RunError naming the first field of ``config`` outside its range; returns config."""
    c, s = config, source
    check_model_name(c.model, s)
    check_model_kwargs(c.model, c.model_kwargs, s)
    check_members(c.members, s)
    check_int(c.member, "member", s, low=0, high=MAX_MEMBERS - 1)
    check_int(c.epochs, "epochs", s, low=1, high=10_000)
    check_int(c.batch_size, "batch_size", s, low=1, high=65_536)
    check_choice(c.optimizer, "optimizer", s, OPTIMIZERS)
    check_number(c.lr, "lr", s, above=0, high=10)
    check_number(c.weight_decay, "weight_decay", s, low=0, high=1)
    check_number(c.warmup_epochs, "warmup_epochs", s, low=0, high=10_000)
    check_choice(c.imbalance, "imbalance", s, IMBALANCE_MODES)
    check_choice(c.preprocessing, "preprocessing", s, PREPROCESSING_METHODS)
    check_bool(c.augment, "augment", s)
    check_number(c.brightness, "brightness", s, low=0, high=5)
    check_number(c.contrast, "contrast", s, low=0, below=1)
    check_number(c.val_fraction, "val_fraction", s, above=0, below=1)
    check_number(c.target_sensitivity, "target_sensitivity", s, above=0, high=1)
    check_int(c.seed, "seed", s, low=0, high=2**63 - 1)
    check_int(c.subset, "subset", s, low=0)
    check_str(c.data_path, "data_path", s)
    check_int(c.n_bootstrap, "n_bootstrap", s, low=1, high=1_000_000)
    if not isinstance(c.out_dir, str) or not c.out_dir:
        raise RunError(f"{s}: out_dir must be a folder name, got {c.out_dir!r}")
    return config


def make_config(quick=False, epochs=None, seed=0, out=None, imbalance=None, members=None):
    """The default run, or with quick=True a smoke test (768 images, 2 members, 2 epochs, under a minute)."""
    config = TrainConfig(seed=seed)
    if quick:
        config.subset, config.epochs, config.n_bootstrap, config.members = 768, 2, 200, 2
        config.out_dir = "runs/pneumonia_quick"
    for name, value in (("epochs", epochs), ("members", members), ("out_dir", out), ("imbalance", imbalance)):
        if value is not None and value != "":
            setattr(config, name, value)
    return check_config(config)


def read_config(path):
    """The TrainConfig in a run's config.json, every field present and checked."""
    record = read_json(path, "run configuration")
    check_dict(record, "the file", path)
    known = [f.name for f in fields(TrainConfig)]
    unknown = [key for key in record if key not in known]
    if unknown:
        raise RunError(f"{path}: unknown field {unknown[0]!r} (a TrainConfig has {', '.join(known)})")
    missing = [name for name in known if name not in record]
    if missing:
        raise RunError(f"{path}: field {missing[0]!r} is missing")
    return check_config(TrainConfig(**record), source=path)


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
