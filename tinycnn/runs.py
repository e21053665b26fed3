"""A run's files: its configuration, the model file (weights + how to rebuild the network)
and its calibration.

    model, description = load_model("runs/pneumonia/model.npz")
    temperature, threshold = read_calibration("runs/pneumonia")
    p = metrics.sigmoid(predict_logits(model, x) / temperature)     # P(pneumonia) per image

A model file is an ``.npz`` with one array per weight (``weights/<dotted name>``) and a JSON
``description``: the model's registry name (``tinycnn.models.build``), input shape, seed,
builder arguments, number of members, and what the run adds (epoch, validation AUC, the
preprocessing method).  An ensemble's weights are ``weights/member0.<name>``, ... .  Files
are written atomically and read with ``allow_pickle=False``.

Nothing here trains: the CLI's ``predict``, ``summary`` and ``gradcam`` and the examples read
a run through this module alone.
"""

import json
import os
from dataclasses import dataclass, field

import numpy as np

from . import models
from .files import atomic_savez

IMBALANCE_MODES = ("pos_weight", "balanced_batches", "none")


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
    data_path: str = ""                # "" = the NPZ shipped with tinycnn
    n_bootstrap: int = 1000
    out_dir: str = "runs/pneumonia"


def make_config(quick=False, epochs=None, seed=0, out=None, imbalance=None, members=None):
    """The default run, or with quick=True a smoke test (768 images, 2 members, 2 epochs, under a minute)."""
    config = TrainConfig(seed=seed)
    if quick:
        config.subset, config.epochs, config.n_bootstrap, config.members = 768, 2, 200, 2
        config.out_dir = "runs/pneumonia_quick"
    if epochs is not None:
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        config.epochs = epochs
    if members is not None:
        if members < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        config.members = members
    if out:
        config.out_dir = out
    if imbalance:
        config.imbalance = imbalance
    return config


def save_model(path, model, model_name, input_shape, seed, model_kwargs, extra=None):
    """Save weights plus what is needed to rebuild the model (``load_model``)."""
    description = {"model": model_name, "input_shape": list(input_shape), "seed": seed,
                   "model_kwargs": model_kwargs, "members": len(model.members), **(extra or {})}
    arrays = {f"weights/{k}": v for k, v in model.state_dict().items()}
    arrays["description"] = np.array(json.dumps(description))
    atomic_savez(path, arrays)


def ensemble_size(state):
    """K for the weights of an ``Ensemble`` (keys ``member0.*`` ... ``member{K-1}.*``), None otherwise."""
    prefixes = {key.split(".")[0] for key in state}
    if all(p.startswith("member") and p[6:].isdigit() for p in prefixes):
        return len(prefixes)
    return None


def build_network(name, input_shape, seed, members=None, **kwargs):
    """The registry's ``name`` with one output logit (a detector), or an ``Ensemble`` of them."""
    return models.build(name, input_shape, seed, members=members, num_classes=1, **kwargs)


def load_model(path):
    """Rebuild a model saved by ``save_model``, in eval mode; returns (model, description dict)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            description = json.loads(str(f["description"]))
            state = {k[len("weights/"):]: f[k] for k in f.files if k.startswith("weights/")}
        model = build_network(description["model"], description["input_shape"], description["seed"],
                              ensemble_size(state), **description["model_kwargs"])
        model.load_state_dict(state)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{path} is not a tinycnn model file this version can read "
                         f"({type(err).__name__}: {err})") from None
    model.eval()
    return model, description


def read_calibration(run_folder):
    """(temperature, threshold) fitted on validation, from the run's metrics.json; (1, 0.5) without one."""
    path = os.path.join(run_folder, "metrics.json")
    if not os.path.exists(path):
        return 1.0, 0.5
    with open(path) as f:
        report = json.load(f)
    return float(report.get("temperature", 1.0)), float(report.get("threshold_val_sens", {}).get("threshold", 0.5))


def predict_logits(model, x, batch_size=256):
    """The one logit per image of a detector, (N,), in eval mode without a graph."""
    return model.predict(x, batch_size).reshape(-1)
