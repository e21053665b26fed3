"""Losses from logits: (class-weighted) cross-entropy and binary cross-entropy."""

import numpy as np

from ..kernels import active as K
from ..kernels.arguments import as_real
from ..tensor import Function, Tensor
from .checks import as_input, check_finite, check_not_empty, check_rank

EMPTY_MEAN = "the mean loss over zero examples is undefined (0 / 0)"


class CrossEntropyOp(Function):
    """Mean (optionally class-weighted) cross-entropy from logits.

    forward:  loss = -sum_i w_{y_i} log softmax(x_i)_{y_i} / sum_i w_{y_i}
    backward: dx_i = (softmax(x_i) - onehot(y_i)) * w_{y_i} / sum_i w_{y_i}
    shape:    logits (N, classes), labels (N,) -> a scalar
    """

    @staticmethod
    def forward(ctx, logits, labels, class_weight):
        log_p = K.log_softmax_forward(logits)
        rows = np.arange(len(labels))
        sample_weight = np.ones(len(labels), logits.dtype) if class_weight is None else class_weight[labels]
        total = sample_weight.sum()
        ctx.save(log_p=log_p, labels=labels, rows=rows, scale=sample_weight / total)
        return np.asarray(-(sample_weight * log_p[rows, labels]).sum() / total, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, grad):
        d = np.exp(ctx.log_p)
        d[ctx.rows, ctx.labels] -= 1
        return grad * d * ctx.scale[:, None].astype(d.dtype, copy=False)


def class_labels(labels, logits):
    """The input check of cross_entropy's labels: integers (N,) in [0, classes - 1], copied (so
    that editing the caller's array before backward cannot change the gradient)."""
    labels = np.array(labels.data if isinstance(labels, Tensor) else labels)
    if labels.shape != (logits.shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: labels must be integers of shape ({logits.shape[0]},), "
                         f"got {labels.dtype} of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"cross_entropy: labels must be in [0, {logits.shape[1] - 1}], "
                         f"got values from {labels.min()} to {labels.max()}")
    return labels


def cross_entropy(logits, labels, weight=None):
    """Cross-entropy of integer labels (N,) given logits (N, classes); weight: per-class weights."""
    logits = as_input(logits, "cross_entropy", "logits")
    check_rank(logits, 2, "cross_entropy", "logits", "(N, classes)")
    check_not_empty(logits, "cross_entropy", "logits", EMPTY_MEAN)
    check_finite(logits, "cross_entropy", "logits")
    labels = class_labels(labels, logits)
    if weight is not None:
        weight = np.asarray(weight, dtype=logits.dtype)
        if weight.shape != (logits.shape[1],):
            raise ValueError(f"cross_entropy: weight must have shape ({logits.shape[1]},), got {weight.shape}")
        if not np.all(np.isfinite(weight)) or weight.min() < 0 or weight[labels].sum() <= 0:
            raise ValueError(f"cross_entropy: weight must be finite and >= 0, with a positive sum over "
                             f"this batch's labels; got min {weight.min()}, sum over the batch "
                             f"{weight[labels].sum()}")
    return CrossEntropyOp.apply(logits, labels=labels, class_weight=weight)


def softplus_array(x):
    """log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


class BinaryCrossEntropyWithLogitsOp(Function):
    """Mean binary cross-entropy from logits x and targets t in [0, 1], positives weighted by p.

    forward:  l = (1 - t) * x + (1 + (p - 1) * t) * softplus(-x)     (stable for |x| = 1000)
              which equals -[p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))]
    backward: dl/dx = (1 - t) - (1 + (p - 1) * t) * sigmoid(-x), divided by N for the mean
    shape:    logits and targets of one shape, e.g. (N, 1) -> a scalar
    """

    @staticmethod
    def forward(ctx, x, t, pos_weight):
        weight = 1 + (pos_weight - 1) * t
        loss = (1 - t) * x + weight * softplus_array(-x)
        ctx.save(x=x, t=t, weight=weight)
        return np.asarray(loss.mean(), dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        sig_neg = K.sigmoid_forward(-ctx.x)
        return grad * ((1 - ctx.t) - ctx.weight * sig_neg) / ctx.x.size, None


def binary_targets(targets, logits):
    """The input check of the binary targets: the logits' shape, finite values in [0, 1]."""
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if targets.shape != logits.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: targets must have the logits' shape "
                         f"{logits.shape}, got {targets.shape}")
    targets = targets.astype(logits.dtype)
    if not np.all(np.isfinite(targets)) or targets.min(initial=0) < 0 or targets.max(initial=1) > 1:
        raise ValueError("binary_cross_entropy_with_logits: targets must be finite values in [0, 1]")
    return targets


def binary_cross_entropy_with_logits(logits, targets, pos_weight=None):
    """Binary cross-entropy for single-logit models; pos_weight > 1 up-weights positives."""
    logits = as_input(logits, "binary_cross_entropy_with_logits", "logits")
    check_not_empty(logits, "binary_cross_entropy_with_logits", "logits", EMPTY_MEAN)
    check_finite(logits, "binary_cross_entropy_with_logits", "logits")
    targets = binary_targets(targets, logits)
    pos_weight = 1.0 if pos_weight is None else as_real(pos_weight, "pos_weight",
                                                        "binary_cross_entropy_with_logits", low=0, low_open=True)
    return BinaryCrossEntropyWithLogitsOp.apply(logits, targets, pos_weight=pos_weight)
