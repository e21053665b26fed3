"""Patient ids from file names, and a validation split that keeps each patient on one side.

Several children have more than one X-ray (other views, later visits, even byte-identical
copies). If one image of a child lands in train and another in validation, the network can
score well on validation by recognising the child, and the validation numbers become too
optimistic. So we split by *patient*, not by image.
"""

from __future__ import annotations

import os
import re
from typing import Callable, Sequence

import numpy as np

_PATIENT_PATTERNS = (
    # person123_bacteria_456.jpeg -> person123.  Whether person123_bacteria and person123_virus
    # are the same child is not documented (808 train numbers carry both, with interleaved
    # image counters), so both go into one group: a coarser grouping can only leak less.
    re.compile(r"^(person\d+)_(?:bacteria|virus)_\d+"),
    # IM-0115-0001.jpeg -> IM-0115; NORMAL2-IM-0587-0001-0001.jpeg -> NORMAL2-IM-0587
    re.compile(r"^((?:NORMAL\d*-)?IM-\d+)-\d+"),
)


def patient_id(filename: str | os.PathLike) -> str:
    """Patient id encoded in a file name of the chest X-ray release.

    >>> patient_id("train/PNEUMONIA/person123_bacteria_456.jpeg")
    'person123'
    >>> patient_id("IM-0115-0001.jpeg")
    'IM-0115'
    >>> patient_id("NORMAL2-IM-0587-0001-0001.jpeg")
    'NORMAL2-IM-0587'

    Raises ``ValueError`` for a name that fits none of the release's patterns.
    """
    name = re.split(r"[\\/]", os.fspath(filename))[-1]
    for pattern in _PATIENT_PATTERNS:
        match = pattern.match(name)
        if match:
            return match.group(1)
    raise ValueError(f"cannot read a patient id from file name {name!r}")


def grouped_stratified_split(
    files: Sequence[str],
    labels: Sequence[int],
    val_fraction: float = 0.15,
    seed: int = 0,
    group_of: Callable[[str], str] = patient_id,
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train_idx, val_idx) with every patient on exactly one side.

    For each class separately (a patient counts for the most common label among their
    images), the patients are shuffled with ``seed`` and taken into validation one by one
    whenever that brings the number of validation images of the class closer to
    ``val_fraction * (images of the class)``. So each class keeps about the same share in
    validation as in the whole set, and the same seed always gives the same split.

    ``group_of`` maps a file name to its group; the default is :func:`patient_id`.
    Both returned index arrays are sorted.
    """
    labels = np.asarray(labels)
    if labels.dtype == bool:
        labels = labels.astype(np.int64)
    if len(files) != len(labels):
        raise ValueError(f"files and labels differ in length: {len(files)} vs {len(labels)}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if labels.size and (labels.min() < 0 or not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError("labels must be non-negative integers")

    members = _indices_by_group([group_of(f) for f in files])
    group_label = {g: int(np.bincount(labels[idx]).argmax()) for g, idx in members.items()}
    rng = np.random.default_rng(seed)

    val_idx: list[int] = []
    for cls in np.unique(labels):
        groups = sorted(g for g in members if group_label[g] == cls)
        target = val_fraction * sum(len(members[g]) for g in groups)
        taken = 0
        for k in rng.permutation(len(groups)):
            size = len(members[groups[k]])
            if abs(taken + size - target) < abs(taken - target):
                val_idx.extend(members[groups[k]])
                taken += size

    is_val = np.zeros(len(labels), dtype=bool)
    is_val[val_idx] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _indices_by_group(groups: Sequence[str]) -> dict[str, list[int]]:
    """{group: [indices of its items]}."""
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    return members
