"""A run's model file: the weights plus a JSON description of how to rebuild the network.

A model file is an ``.npz`` with one array per weight (``weights/<dotted name>``, float32)
and a text ``description``: the model's registry name (``tinycnn.models.build``), input
shape, seed, builder arguments, number of members, and what the run adds (epoch, validation
AUC, the preprocessing method).  An ensemble's weights are ``weights/member0.<name>``, ... .

Reading one never trusts it: the description is checked field by field (``architecture``
gives the bounds), the network it describes is built, and only then are the weights read,
each array's header checked against the shape and dtype that network needs before its data
is touched.  Every problem is one line naming the file and what is wrong.
"""

import json
import os

import numpy as np

from ..files import NpzArchive, atomic_savez
from ..models import member_seed
from ..nn import Ensemble
from .architecture import (build_network, check_described_shape, check_members, check_model_kwargs,
                           check_model_name, ensemble_size)
from .checks import RunError, check_choice, check_dict, check_int, check_list, check_number, field
from .config import PREPROCESSING_METHODS

MAX_DESCRIPTION_CHARS = 100_000      # a description is a few hundred characters
MAX_MODEL_BYTES = 2**30              # all members' weights together (4 pneumonia_nets: 0.6 MB)


def save_model(path, model, model_name, input_shape, seed, model_kwargs, extra=None):
    """Save weights plus what is needed to rebuild the model (``load_model``)."""
    description = {"model": model_name, "input_shape": list(input_shape), "seed": seed,
                   "model_kwargs": model_kwargs, "members": len(model.members), **(extra or {})}
    check_description(description, path)
    arrays = {f"weights/{k}": v for k, v in model.state_dict().items()}
    arrays["description"] = np.array(json.dumps(description))
    atomic_savez(path, arrays)


def check_description(description, path):
    """Every field of a model file's description that tinycnn uses, checked; returns it."""
    source = f"model file {path}: description"
    check_dict(description, "description", f"model file {path}")
    model = check_model_name(field(description, "model", source), source)
    check_described_shape(field(description, "input_shape", source), source)
    check_int(field(description, "seed", source), "seed", source, low=0, high=2**63 - 1)
    check_model_kwargs(model, field(description, "model_kwargs", source), source)
    check_members(field(description, "members", source), source)
    d = description            # the fields a run adds, checked when present
    if "preprocessing" in d:
        check_choice(d["preprocessing"], "preprocessing", source, PREPROCESSING_METHODS)
    if "run_seed" in d:
        check_int(d["run_seed"], "run_seed", source, low=0, high=2**63 - 1)
    if "member" in d:
        check_int(d["member"], "member", source, low=0)
    if "epoch" in d:
        check_int(d["epoch"], "epoch", source, low=1)
    if "val_auc" in d:
        check_number(d["val_auc"], "val_auc", source, low=0, high=1)
    for auc in check_list(d.get("member_val_auc", []), "member_val_auc", source):
        check_number(auc, "member_val_auc", source, low=0, high=1)
    return description


def read_description(archive):
    """The checked description of an open model file."""
    text = archive.read_text("description", MAX_DESCRIPTION_CHARS)
    try:
        description = json.loads(text)
    except json.JSONDecodeError as err:
        raise RunError(f"model file {archive.path}: description is not valid JSON ({err})") from None
    return check_description(description, archive.path)


def build_described(description, weight_names, path):
    """The (untrained) network a description and its weights' names describe.

    One network is built first; the ensemble's other members only if all of them together
    stay within MAX_MODEL_BYTES (a description of 32 large members is refused unbuilt)."""
    found = ensemble_size(weight_names) if weight_names else None
    members = found or 1
    if members != description["members"]:
        raise RunError(f"model file {path}: description says members {description['members']}, "
                       f"but the weights are those of {members} network(s)")
    name, shape, seed, kwargs = (description[k] for k in ("model", "input_shape", "seed", "model_kwargs"))
    try:
        networks = [build_network(name, shape, member_seed(seed, 0) if found else seed, **kwargs)]
    except (ValueError, TypeError) as err:
        raise RunError(f"model file {path}: cannot build {name} from its description ({err})") from None
    size = sum(array.nbytes for array in networks[0].state_dict().values())
    if size * members > MAX_MODEL_BYTES:
        raise RunError(f"model file {path}: its description asks for {members} x {size:,} bytes of weights, "
                       f"more than the {MAX_MODEL_BYTES:,} tinycnn builds from a file")
    if found is None:
        return networks[0]
    networks += [build_network(name, shape, member_seed(seed, k), **kwargs) for k in range(1, found)]
    return Ensemble(networks)


def load_model(path):
    """Rebuild a model saved by ``save_model``, in eval mode; returns (model, description dict)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path}")
    with NpzArchive(path, "model file") as archive:
        description = read_description(archive)
        weight_names = [n[len("weights/"):] for n in archive.names if n.startswith("weights/")]
        model = build_described(description, weight_names, path)
        expected = {f"weights/{k}": (v.shape, v.dtype) for k, v in model.state_dict().items()}
        arrays = archive.read_arrays(expected, also=("description",), finite=True)
    model.load_state_dict({k[len("weights/"):]: v for k, v in arrays.items()})
    model.eval()
    return model, description


def predict_logits(model, x, batch_size=256):
    """The one logit per image of a detector, (N,), in eval mode without a graph.

    A NaN or infinite logit is refused (it has no probability, and ``p >= threshold`` would
    silently call it NORMAL)."""
    logits = model.predict(x, batch_size).reshape(-1)
    broken = np.flatnonzero(~np.isfinite(logits))
    if broken.size:
        raise RunError(f"the model's output is NaN or infinite for {broken.size} of {len(logits)} image(s) "
                       f"(the first is image {broken[0]}): no probability can be given; the weights or "
                       "the input are broken")
    return logits
