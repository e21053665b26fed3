"""The one helper that turns a seed into a random generator (used by data, nn and models)."""

import numpy as np


def as_generator(rng):
    """Accept a ``np.random.Generator``, an int seed or None and return a Generator
    (the Generator itself, unchanged, so the caller's stream goes on)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)
