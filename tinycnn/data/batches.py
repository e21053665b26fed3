"""Mini-batches: plain (shuffled or in order) and class-balanced.

All randomness comes from a ``numpy.random.Generator``, so a seed fixes the batch order.

Class balance: the pneumonia train set is 74 % PNEUMONIA. With ``balanced=True`` every
batch holds (about) the same number of images of each class: images of the rarer class are
shown more than once per epoch, images of the common class less often. The other usual
remedy is to weight the loss (``pos_weight`` in the binary cross-entropy); use one, not both.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Iterator

import numpy as np

from ..rng import as_generator


def _generator_if_needed(rng, needed: bool) -> np.random.Generator | None:
    """``as_generator(rng)``; None stays None unless shuffling needs a generator."""
    if rng is None:
        if needed:
            raise ValueError("shuffling needs a random generator: pass rng=np.random.default_rng(seed)")
        return None
    return as_generator(rng)


def number_of_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """``floor(n / batch_size)`` if the last, smaller batch is dropped, else ``ceil(n / batch_size)``."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def minibatch_indices(
    y: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    rng: np.random.Generator | int | None = None,
    drop_last: bool = False,
    balanced: bool = False,
) -> Iterator[np.ndarray]:
    """Yield the index array of each batch of one epoch over the labels ``y``.

    * plain: indices ``0..n-1`` (shuffled if ``shuffle``) cut into pieces of ``batch_size``;
      the last piece is shorter unless ``drop_last``.
    * ``balanced=True``: ``number_of_batches(n, batch_size, drop_last)`` batches of exactly
      ``batch_size``, each with ``batch_size // n_classes`` images per class (the remainder
      goes to randomly chosen classes). Each class is walked through in a fresh random
      order, starting over when used up. Balanced batches are always random.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(y)
    rng = _generator_if_needed(rng, needed=shuffle or balanced)
    n_batches = number_of_batches(n, batch_size, drop_last)
    if balanced:
        yield from _balanced_indices(np.asarray(y), batch_size, n_batches, rng)
        return
    order = rng.permutation(n) if shuffle else np.arange(n)
    for b in range(n_batches):
        yield order[b * batch_size : (b + 1) * batch_size]


def _endless_shuffled(indices: np.ndarray, rng: np.random.Generator) -> Iterator[int]:
    """indices in random order, again and again in a new random order."""
    while True:
        yield from rng.permutation(indices)


def _balanced_indices(y: np.ndarray, batch_size: int, n_batches: int, rng: np.random.Generator):
    classes = np.unique(y)
    streams = [_endless_shuffled(np.flatnonzero(y == c), rng) for c in classes]
    k = len(classes)
    for _ in range(n_batches):
        per_class = np.full(k, batch_size // k)
        per_class[rng.choice(k, size=batch_size % k, replace=False)] += 1
        batch = np.concatenate(
            [np.fromiter(itertools.islice(s, m), dtype=np.int64, count=m) for s, m in zip(streams, per_class)]
        )
        yield rng.permutation(batch)


def iterate_minibatches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    rng: np.random.Generator | int | None = None,
    drop_last: bool = False,
    balanced: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(x[idx], y[idx])`` for each batch of one epoch (see :func:`minibatch_indices`)."""
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    for idx in minibatch_indices(y, batch_size, shuffle, rng, drop_last, balanced):
        yield x[idx], y[idx]


class DataLoader:
    """Iterate over ``(x_batch, y_batch)``; each ``for`` loop over it is one new epoch.

    Example::

        loader = DataLoader(x, y, batch_size=32, seed=0, balanced=True, transform=augment_xray)
        for epoch in range(10):
            for xb, yb in loader:
                ...

    ``transform(x_batch, rng)`` (e.g. :func:`tinycnn.data.augment_xray`) is applied to each
    batch with the loader's own generator, so one seed fixes order and augmentation alike.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int = 32,
        shuffle: bool = True,
        drop_last: bool = False,
        balanced: bool = False,
        seed: int = 0,
        transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    ):
        if len(x) != len(y):
            raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
        self.x, self.y = x, y
        self.batch_size, self.shuffle = batch_size, shuffle
        self.drop_last, self.balanced = drop_last, balanced
        self.transform = transform
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return number_of_batches(len(self.y), self.batch_size, self.drop_last)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for idx in minibatch_indices(
            self.y, self.batch_size, self.shuffle, self.rng, self.drop_last, self.balanced
        ):
            xb = self.x[idx]
            if self.transform is not None:
                xb = self.transform(xb, self.rng)
            yield xb, self.y[idx]
