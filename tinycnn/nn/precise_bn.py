"""Precise batch norm: re-estimate every batch norm's moving statistics for the final weights."""

import numpy as np

from ..tensor import Tensor, no_grad
from .layers import BatchNorm2D


def refresh_batch_norm_statistics(model, x, batch_size=64, max_images=2048, seed=0):
    """Recompute every batch norm's moving mean/variance for the current weights ("precise BN").

    During training the moving averages trail the weights by about 1 / (1 - momentum)
    steps (100 with Keras's 0.99); while the activations' scale still moves, that lag
    makes evaluation-mode outputs wrong.  Here the statistics are re-estimated with the
    final weights: reset them and average the batch statistics of up to max_images
    images of ``x``, drawn at random (the training arrays are sorted by class), with equal
    weight (momentum k / (k + 1) at the k-th batch, so after batch k the moving mean is the
    plain mean of the k + 1 batch means).
    Nothing else changes: no gradients, no parameter updates, dropout off.
    """
    norms = [m for m in model.modules() if isinstance(m, BatchNorm2D)]
    if not norms:
        return
    saved_momentum = [m.momentum for m in norms]
    sample = np.random.default_rng(seed).permutation(len(x))[:max_images]   # both classes, mixed
    try:
        with model.evaluating():
            for m in norms:
                m.moving_mean[...] = 0
                m.moving_variance[...] = 0
                m.train()
            with no_grad():
                for k, start in enumerate(range(0, len(sample), batch_size)):
                    for m in norms:
                        m.momentum = k / (k + 1)
                    model(Tensor(x[np.sort(sample[start:start + batch_size])]))
    finally:
        for m, momentum in zip(norms, saved_momentum):
            m.momentum = momentum
