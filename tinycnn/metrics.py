"""Metrics for a binary classifier (1 = positive = PNEUMONIA), in NumPy only.

Conventions used throughout:

* ``y_true``: labels 0/1 (ints, bools or floats equal to 0/1).
* ``scores`` / ``probs``: one number per example, larger = more likely positive.
  ``probs`` must lie in [0, 1]; ``scores`` may be any real number (a logit is fine).
* A threshold ``t`` predicts positive when ``prob >= t``.
* Confusion matrix: ``[[TN, FP], [FN, TP]]`` (rows = true class, columns = predicted).
* A ratio whose denominator is 0 (e.g. sensitivity with no positives) is ``nan``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

# --------------------------------------------------------------------------- input checks


def _check_labels(y_true, name: str = "labels") -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {y.shape}")
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        raise ValueError(f"{name} must be 0 or 1, got values {np.unique(y)[:10]}")
    return y.astype(np.int64)


def _check_scores(scores, n: int, name: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {s.shape}")
    if len(s) != n:
        raise ValueError(f"labels and {name} differ in length: {n} vs {len(s)}")
    if np.isnan(s).any():
        raise ValueError(f"{name} contain {int(np.isnan(s).sum())} NaN value(s)")
    return s


def _check_probs(probs, n: int) -> np.ndarray:
    p = _check_scores(probs, n, "probs")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"probs must lie in [0, 1], got range [{p.min()}, {p.max()}]")
    return p


def _check_both_classes(y: np.ndarray, what: str) -> None:
    if y.size == 0 or y.min() == y.max():
        raise ValueError(f"{what} needs both classes in y_true, got only {np.unique(y)}")


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


# --------------------------------------------------------------------------- ranking: ROC


def average_ranks(values) -> np.ndarray:
    """Ranks 1..n of ``values``; tied values all get the mean of the ranks they span.

    ``average_ranks([10, 20, 20, 30]) -> [1, 2.5, 2.5, 4]``.
    """
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # start index of each run of equal values in sorted order
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]  # one past the end of each run
    mean_rank_of_run = (starts + 1 + ends) / 2  # mean of ranks start+1 .. end
    run_of_position = np.repeat(np.arange(len(starts)), ends - starts)
    ranks = np.empty(len(values))
    ranks[order] = mean_rank_of_run[run_of_position]
    return ranks


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve, by the Mann-Whitney rank statistic.

    It equals the probability that a random positive scores higher than a random negative,
    ties counting 1/2. With ranks r (ties averaged), n1 positives and n0 negatives::

        AUC = (sum of r over positives - n1 (n1 + 1) / 2) / (n1 n0)

    So scores that are all equal give 0.5. Needs at least one example of each class.
    """
    y = _check_labels(y_true)
    s = _check_scores(scores, len(y))
    _check_both_classes(y, "roc_auc")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    rank_sum = average_ranks(s)[y == 1].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve: ``(fpr, tpr, thresholds)``, one point per distinct score, plus (0, 0).

    ``thresholds`` decrease; point ``i`` is the rule "positive if score >= thresholds[i]"::

        tpr = TP / (TP + FN),   fpr = FP / (FP + TN)

    Tied scores form a single point (the curve jumps diagonally across a tie).
    The first point (0, 0) has threshold ``+inf``; the last is (1, 1).
    """
    y = _check_labels(y_true)
    s = _check_scores(scores, len(y))
    _check_both_classes(y, "roc_curve")
    order = np.argsort(-s, kind="stable")
    s_desc, y_desc = s[order], y[order]
    last_of_run = np.r_[s_desc[1:] != s_desc[:-1], True]  # last position of each distinct score
    tp = np.cumsum(y_desc)[last_of_run]
    fp = np.cumsum(1 - y_desc)[last_of_run]
    tpr = np.r_[0.0, tp / y.sum()]
    fpr = np.r_[0.0, fp / (len(y) - y.sum())]
    thresholds = np.r_[np.inf, s_desc[last_of_run]]
    return fpr, tpr, thresholds


# --------------------------------------------------------------------------- thresholded


def confusion_matrix(y_true, y_pred) -> np.ndarray:
    """``[[TN, FP], [FN, TP]]`` as an int64 (2, 2) array (rows: truth, columns: prediction)."""
    y = _check_labels(y_true, "y_true")
    p = _check_labels(y_pred, "y_pred")
    if len(y) != len(p):
        raise ValueError(f"y_true and y_pred differ in length: {len(y)} vs {len(p)}")
    cm = np.zeros((2, 2), dtype=np.int64)
    np.add.at(cm, (y, p), 1)
    return cm


def _counts(y_true, y_pred) -> tuple[int, int, int, int]:
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    return int(tn), int(fp), int(fn), int(tp)


def accuracy(y_true, y_pred) -> float:
    """(TP + TN) / n."""
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(tp + tn, tn + fp + fn + tp)


def sensitivity(y_true, y_pred) -> float:
    """TP / (TP + FN): share of the sick that are found (recall, true-positive rate)."""
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(tp, tp + fn)


def specificity(y_true, y_pred) -> float:
    """TN / (TN + FP): share of the healthy that are cleared (true-negative rate)."""
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(tn, tn + fp)


def ppv(y_true, y_pred) -> float:
    """TP / (TP + FP): positive predictive value (precision)."""
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(tp, tp + fp)


def npv(y_true, y_pred) -> float:
    """TN / (TN + FN): negative predictive value."""
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(tn, tn + fn)


def f1(y_true, y_pred) -> float:
    """2 TP / (2 TP + FP + FN), the harmonic mean of PPV and sensitivity."""
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def balanced_accuracy(y_true, y_pred) -> float:
    """(sensitivity + specificity) / 2; 0.5 for any constant prediction."""
    return (sensitivity(y_true, y_pred) + specificity(y_true, y_pred)) / 2


def predict(probs, threshold: float = 0.5) -> np.ndarray:
    """0/1 predictions: 1 where ``prob >= threshold``."""
    return (np.asarray(probs, dtype=np.float64) >= threshold).astype(np.int64)


def binary_report(y_true, probs, threshold: float = 0.5) -> dict:
    """Every metric at one threshold, as a JSON-friendly dict of Python numbers.

    Keys: threshold, n, n_positive, n_negative, tn, fp, fn, tp, accuracy, sensitivity,
    specificity, ppv, npv, f1, balanced_accuracy, auc (``nan`` if one class only), ece.
    """
    y = _check_labels(y_true)
    p = _check_probs(probs, len(y))
    y_pred = predict(p, threshold)
    tn, fp, fn, tp = _counts(y, y_pred)
    has_both = y.size > 0 and y.min() != y.max()
    return {
        "threshold": float(threshold),
        "n": int(len(y)),
        "n_positive": int(y.sum()),
        "n_negative": int(len(y) - y.sum()),
        "tn": tn, "fp": fp, "fn": fn, "tp": tp,
        "accuracy": accuracy(y, y_pred),
        "sensitivity": sensitivity(y, y_pred),
        "specificity": specificity(y, y_pred),
        "ppv": ppv(y, y_pred),
        "npv": npv(y, y_pred),
        "f1": f1(y, y_pred),
        "balanced_accuracy": balanced_accuracy(y, y_pred),
        "auc": roc_auc(y, p) if has_both else float("nan"),
        "ece": ece(y, p),
    }


def threshold_for_sensitivity(y_true, probs, target: float = 0.95) -> float:
    """The largest threshold whose sensitivity is still ``>= target``.

    Sensitivity only drops as the threshold rises, so the largest such threshold also gives
    the best specificity among them. With the positives' scores sorted high to low,
    ``p(1) >= p(2) >= ...``, and ``k`` the smallest count with ``k / n_pos >= target``,
    the answer is ``p(k)``. Choose it on *validation* data, then apply it to test data.
    """
    y = _check_labels(y_true)
    p = _check_scores(probs, len(y), "probs")
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target must be in (0, 1], got {target}")
    positives = np.sort(p[y == 1])[::-1]
    if positives.size == 0:
        raise ValueError("threshold_for_sensitivity needs at least one positive example")
    counts = np.arange(1, positives.size + 1)
    k = counts[np.argmax(counts / positives.size >= target)]  # same division as sensitivity()
    return float(positives[k - 1])


# --------------------------------------------------------------------------- uncertainty


def bootstrap_ci(
    metric_fn: Callable,
    y_true,
    scores,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    stratified: bool = True,
) -> tuple[float, float, float]:
    """Percentile bootstrap: ``(point, low, high)`` for ``metric_fn(y_true, scores)``.

    Draw ``n`` examples with replacement ``n_boot`` times, evaluate the metric on each
    resample, and report the ``alpha/2`` and ``1 - alpha/2`` percentiles.

    * ``stratified=True`` resamples positives and negatives separately, keeping their
      counts, so every resample has both classes.
    * ``stratified=False`` resamples all examples together and skips resamples that
      contain a single class (AUC is undefined there).

    Resamples where the metric is ``nan`` (e.g. PPV with no predicted positive) are skipped.
    """
    y = _check_labels(y_true)
    s = np.asarray(scores)
    if len(s) != len(y):
        raise ValueError(f"labels and scores differ in length: {len(y)} vs {len(s)}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    _check_both_classes(y, "bootstrap_ci")
    point = float(metric_fn(y, s))
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == 0), np.flatnonzero(y == 1)] if stratified else [np.arange(len(y))]
    values = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        if y[idx].min() == y[idx].max():
            continue
        value = float(metric_fn(y[idx], s[idx]))
        if np.isfinite(value):
            values.append(value)
    if not values:
        raise ValueError("no bootstrap resample gave a finite metric value")
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return point, float(low), float(high)


# --------------------------------------------------------------------------- calibration


def reliability_bins(y_true, probs, n_bins: int = 15) -> dict:
    """Equal-width bins of the predicted positive-class probability, for a reliability diagram.

    Bin ``b`` holds ``b/n_bins <= p < (b+1)/n_bins`` (the last bin includes 1.0).
    Returns ``edges`` (n_bins+1,), and per bin ``count``, ``mean_prob`` (mean predicted
    probability, the "confidence") and ``frac_positive`` (share of true positives, the
    "observed frequency"); the last two are ``nan`` for empty bins.
    """
    y = _check_labels(y_true)
    p = _check_probs(probs, len(y))
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    which = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_prob = np.bincount(which, weights=p, minlength=n_bins) / count
        frac_positive = np.bincount(which, weights=y, minlength=n_bins) / count
    return {
        "edges": np.linspace(0.0, 1.0, n_bins + 1),
        "count": count,
        "mean_prob": mean_prob,
        "frac_positive": frac_positive,
    }


def ece(y_true, probs, n_bins: int = 15) -> float:
    """Expected calibration error of the positive-class probability::

        ECE = sum over bins b of (n_b / n) * | frac_positive_b - mean_prob_b |

    with equal-width bins (see :func:`reliability_bins`). 0 means that among the examples
    given probability ~p, a share ~p is positive. (This is the binary, "positive-class"
    ECE; the multi-class "top-label" ECE bins max(p, 1-p) instead.)
    """
    bins = reliability_bins(y_true, probs, n_bins)
    count = bins["count"]
    if count.sum() == 0:
        return float("nan")
    used = count > 0
    gaps = np.abs(bins["frac_positive"][used] - bins["mean_prob"][used])
    return float(np.sum(count[used] / count.sum() * gaps))


def sigmoid(x) -> np.ndarray:
    """1 / (1 + exp(-x)), computed without overflow for large |x|.

    With ``e = exp(-|x|)`` (never overflows): ``1 / (1 + e)`` for x >= 0, ``e / (1 + e)`` for x < 0.
    """
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def binary_nll(logits, y_true, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``sigmoid(logit / T)``::

        NLL = mean( log(1 + exp(z)) - y z ),   z = logit / T

    (``log(1 + exp(z))`` is evaluated as ``logaddexp(0, z)``, stable for any z.)
    """
    y = _check_labels(y_true)
    z = _check_scores(logits, len(y), "logits") / temperature
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_temperature(logits, y_true, t_min: float = 1e-2, t_max: float = 1e2, tol: float = 1e-6) -> float:
    """Temperature ``T > 0`` that minimises :func:`binary_nll` of ``sigmoid(logit / T)``.

    Temperature scaling fixes over- (T > 1) or under-confidence (T < 1) without moving
    the ranking, so AUC is unchanged. As a function of ``1/T`` the NLL is convex (it is a
    one-weight logistic regression), hence it has a single minimum along ``u = log T`` too,
    which golden-section search finds by shrinking the bracket ``[log t_min, log t_max]``
    by the factor 0.618 each step until it is shorter than ``tol``.
    If the classes are perfectly separated the NLL keeps falling as T -> 0 and the answer
    is ``t_min``. Fit T on validation logits, never on test.
    """
    y = _check_labels(y_true)
    z = _check_scores(logits, len(y), "logits")
    if not 0 < t_min < t_max:
        raise ValueError(f"need 0 < t_min < t_max, got {t_min}, {t_max}")

    def loss(u: float) -> float:
        return binary_nll(z, y, temperature=np.exp(u))

    inv_phi = (np.sqrt(5.0) - 1.0) / 2.0  # 0.618...
    lo, hi = np.log(t_min), np.log(t_max)
    a, b = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
    loss_a, loss_b = loss(a), loss(b)
    while hi - lo > tol:
        if loss_a < loss_b:  # minimum lies in [lo, b]
            hi, b, loss_b = b, a, loss_a
            a = hi - inv_phi * (hi - lo)
            loss_a = loss(a)
        else:  # minimum lies in [a, hi]
            lo, a, loss_a = a, b, loss_b
            b = lo + inv_phi * (hi - lo)
            loss_b = loss(b)
    return float(np.exp((lo + hi) / 2))
