"""Tests for tinycnn.metrics: hand-computed cases and brute-force properties."""

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycnn import metrics as M

# small label/score lists; scores from a few values so that ties are common
labels_and_scores = st.integers(2, 30).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(0, 5).map(lambda v: v / 5), min_size=n, max_size=n),
    )
).filter(lambda ys: 0 < sum(ys[0]) < len(ys[0]))


def brute_force_auc(y, s):
    """Share of (positive, negative) pairs ordered correctly, ties counting 1/2."""
    y, s = np.asarray(y), np.asarray(s)
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


def trapezoid_area(x, y):
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


# --------------------------------------------------------------------------- AUC and ROC


@pytest.mark.parametrize("y, scores, expected", [
    ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.75),     # 3 of 4 pairs right
    ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], 1.0),
    ([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1], 0.0),
    ([0, 0, 1, 1], [0.7, 0.7, 0.7, 0.7], 0.5),
    ([0, 1, 0, 1], [0.2, 0.5, 0.5, 0.9], 0.875),     # one tie -> 1/2
])
def test_auc_hand_cases(y, scores, expected):
    assert M.roc_auc(y, scores) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_average_ranks():
    assert M.average_ranks([10, 20, 20, 30]).tolist() == [1, 2.5, 2.5, 4]
    assert M.average_ranks([3, 1, 3, 3]).tolist() == [3, 1, 3, 3]


@settings(deadline=None, max_examples=60)
@given(labels_and_scores)
def test_auc_equals_pairwise_brute_force(ys):
    y, s = ys
    assert M.roc_auc(y, s) == pytest.approx(brute_force_auc(y, s))


@settings(deadline=None, max_examples=60)
@given(labels_and_scores)
def test_roc_curve_area_equals_auc_and_is_monotone(ys):
    y, s = ys
    fpr, tpr, thr = M.roc_curve(y, s)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.isinf(thr[0]) and np.all(np.diff(thr) < 0)
    assert len(thr) == len(np.unique(s)) + 1  # ties grouped: one point per distinct score
    assert trapezoid_area(fpr, tpr) == pytest.approx(M.roc_auc(y, s))
    # every point is the rule "score >= threshold"
    for f, t, th in zip(fpr[1:], tpr[1:], thr[1:]):
        pred = (np.asarray(s) >= th).astype(int)
        assert t == pytest.approx(M.sensitivity(y, pred))
        assert f == pytest.approx(1 - M.specificity(y, pred))


def test_roc_curve_hand_case():
    fpr, tpr, thr = M.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1]
    assert tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert thr[1:].tolist() == [0.8, 0.4, 0.35, 0.1]
    fpr, tpr, _ = M.roc_curve([0, 1], [0.5, 0.5])  # a tie is one diagonal step
    assert fpr.tolist() == [0, 1] and tpr.tolist() == [0, 1]


# --------------------------------------------------------------------------- thresholded metrics


Y = [1, 1, 1, 0, 0, 0, 0, 1]
P = [1, 0, 1, 0, 1, 0, 0, 1]  # TP=3, FN=1, TN=3, FP=1


def test_confusion_matrix_and_derived_metrics_by_hand():
    assert M.confusion_matrix(Y, P).tolist() == [[3, 1], [1, 3]]
    assert M.confusion_matrix([0, 0, 1], [1, 1, 1]).tolist() == [[0, 2], [0, 1]]
    assert M.accuracy(Y, P) == 0.75
    assert M.sensitivity(Y, P) == 0.75 and M.specificity(Y, P) == 0.75
    assert M.sensitivity([1, 1, 1, 0], [1, 0, 0, 0]) == pytest.approx(1 / 3)
    assert M.specificity([1, 0, 0, 0], [1, 1, 0, 0]) == pytest.approx(2 / 3)
    assert M.ppv([1, 0, 0, 1], [1, 1, 1, 0]) == pytest.approx(1 / 3)
    assert M.npv([1, 0, 0, 1], [0, 0, 1, 0]) == pytest.approx(1 / 3)
    assert M.f1([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.5)
    assert M.balanced_accuracy([1, 1, 1, 0], [1, 1, 1, 1]) == 0.5


def test_undefined_ratios_are_nan():
    assert np.isnan(M.sensitivity([0, 0], [0, 1]))
    assert np.isnan(M.ppv([0, 1], [0, 0]))


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=50))
def test_confusion_entries_sum_to_n(pairs):
    y, p = map(list, zip(*pairs))
    cm = M.confusion_matrix(y, p)
    assert cm.sum() == len(y)
    assert cm[1].sum() == sum(y) and cm[:, 1].sum() == sum(p)
    assert cm[0, 0] + cm[1, 1] == sum(a == b for a, b in pairs)


def test_binary_report_is_consistent_and_json_friendly():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    probs = np.array([0.1, 0.6, 0.3, 0.8, 0.4, 0.9, 0.7, 0.55])
    r = M.binary_report(y, probs, threshold=0.5)
    assert (r["tn"], r["fp"], r["fn"], r["tp"]) == (2, 1, 1, 4)
    assert r["sensitivity"] == 0.8 and r["specificity"] == pytest.approx(2 / 3)
    # pairs by hand: positives 0.8, 0.9, 0.7 beat all 3 negatives (0.1, 0.6, 0.3), 0.4 and 0.55 beat 2
    assert r["auc"] == pytest.approx(13 / 15)
    assert r["n"] == 8 and r["n_positive"] == 5
    json.dumps(r)  # plain Python numbers only
    assert np.isnan(M.binary_report([1, 1], [0.2, 0.9])["auc"])


def test_threshold_for_sensitivity_hand_case():
    y = [1, 1, 1, 1, 0, 0]
    p = [0.9, 0.8, 0.6, 0.3, 0.5, 0.1]
    assert M.threshold_for_sensitivity(y, p, 0.75) == 0.6  # 3 of 4 positives kept
    assert M.threshold_for_sensitivity(y, p, 0.76) == 0.3
    assert M.threshold_for_sensitivity(y, p, 1.0) == 0.3
    assert M.threshold_for_sensitivity(y, p, 0.25) == 0.9


@settings(deadline=None, max_examples=60)
@given(labels_and_scores, st.floats(0.05, 1.0))
def test_threshold_for_sensitivity_is_largest_meeting_target(ys, target):
    y, p = ys
    t = M.threshold_for_sensitivity(y, p, target)
    assert M.sensitivity(y, M.predict(p, t)) >= target
    higher = [c for c in set(p) if c > t]  # any larger candidate fails the target
    assert all(M.sensitivity(y, M.predict(p, c)) < target for c in higher)


# --------------------------------------------------------------------------- bootstrap


def _separable_sample(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.6).astype(int)
    return y, rng.normal(0, 1, n) + 1.2 * y


def test_bootstrap_ci_contains_point_and_is_deterministic():
    y, s = _separable_sample()
    point, low, high = M.bootstrap_ci(M.roc_auc, y, s, n_boot=300, seed=0)
    assert point == pytest.approx(brute_force_auc(y, s))
    assert low < point < high and high - low < 0.2
    assert M.bootstrap_ci(M.roc_auc, y, s, n_boot=300, seed=0) == (point, low, high)
    assert M.bootstrap_ci(M.roc_auc, y, s, n_boot=300, seed=1) != (point, low, high)
    plain = M.bootstrap_ci(M.roc_auc, y, s, n_boot=300, stratified=False)
    assert plain[1] < point < plain[2]
    narrow = M.bootstrap_ci(M.roc_auc, y, s, n_boot=300, alpha=0.5)
    assert low < narrow[1] < narrow[2] < high


def test_bootstrap_plain_skips_single_class_resamples():
    y = [0, 0, 0, 0, 1]  # many plain resamples have no positive
    s = [0.1, 0.2, 0.3, 0.4, 0.9]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        point, low, high = M.bootstrap_ci(M.roc_auc, y, s, n_boot=200, stratified=False)
    assert point == 1.0 and low == high == 1.0


def test_bootstrap_with_thresholded_metric():
    y, s = _separable_sample()
    metric = lambda yt, sc: M.sensitivity(yt, M.predict(sc, 0.5))
    point, low, high = M.bootstrap_ci(metric, y, s, n_boot=200)
    assert low <= point <= high


# --------------------------------------------------------------------------- calibration


def test_reliability_bins_and_ece_by_hand():
    p = [0.0, 0.25, 0.25, 0.25, 0.25, 1.0]
    y = [0, 1, 0, 0, 0, 1]
    bins = M.reliability_bins(y, p, n_bins=4)
    assert bins["count"].tolist() == [1, 4, 0, 1]  # 1.0 falls into the last bin
    assert bins["frac_positive"][1] == 0.25 and np.isnan(bins["mean_prob"][2])
    assert M.ece(y, p, n_bins=4) == pytest.approx(0.0)
    assert M.ece([0, 0], [0.9, 0.9]) == pytest.approx(0.9)
    # two bins: |0 - 0.2| with weight 1/2, |1 - 0.6| with weight 1/2
    assert M.ece([0, 1], [0.2, 0.6], n_bins=10) == pytest.approx(0.3)


@settings(deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=1, max_size=60), st.integers(1, 20))
def test_ece_is_between_zero_and_one_and_counts_sum_to_n(pairs, n_bins):
    y, p = map(list, zip(*pairs))
    bins = M.reliability_bins(y, p, n_bins)
    assert bins["count"].sum() == len(y) and len(bins["edges"]) == n_bins + 1
    assert 0.0 <= M.ece(y, p, n_bins) <= 1.0


def test_sigmoid_is_stable_and_symmetric():
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = M.sigmoid(x)
    assert s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5
    assert np.allclose(s + M.sigmoid(-x), 1.0)
    assert np.allclose(s[1:-1], 1 / (1 + np.exp(-x[1:-1])))


def test_fit_temperature_undoes_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 20_000)
    y = (rng.random(20_000) < M.sigmoid(true_logits)).astype(int)
    overconfident = 5 * true_logits
    t = M.fit_temperature(overconfident, y)
    assert t == pytest.approx(5, rel=0.1)
    assert M.binary_nll(overconfident, y, t) < M.binary_nll(overconfident, y) - 0.1
    assert M.fit_temperature(true_logits, y) == pytest.approx(1, rel=0.1)
    assert M.fit_temperature(true_logits / 4, y) == pytest.approx(0.25, rel=0.1)
    # temperature never changes the ranking
    assert M.roc_auc(y, overconfident / t) == pytest.approx(M.roc_auc(y, true_logits))


def test_fit_temperature_separable_goes_to_lower_bound():
    assert M.fit_temperature([-1.0, 1.0], [0, 1], t_min=0.01) == pytest.approx(0.01, rel=1e-3)


def test_binary_nll_by_hand():
    assert M.binary_nll([0.0, 0.0], [0, 1]) == pytest.approx(np.log(2))
    assert M.binary_nll([2.0], [1], temperature=2.0) == pytest.approx(np.log(1 + np.exp(-1)))


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: M.roc_auc([0, 1, 1], [0.1, 0.2]), "length"),
        (lambda: M.roc_auc([0, 2], [0.1, 0.2]), "0 or 1"),
        (lambda: M.roc_auc([1, 1], [0.1, 0.2]), "both classes"),
        (lambda: M.roc_curve([0, 0], [0.1, 0.2]), "both classes"),
        (lambda: M.roc_auc([0, 1], [0.1, np.nan]), "NaN"),
        (lambda: M.confusion_matrix([0, 1], [1]), "length"),
        (lambda: M.confusion_matrix([0, 1], [0, 3]), "y_pred must be 0 or 1"),
        (lambda: M.ece([0, 1], [0.5, 1.5]), r"\[0, 1\]"),
        (lambda: M.threshold_for_sensitivity([0, 0], [0.1, 0.2]), "positive"),
        (lambda: M.bootstrap_ci(M.roc_auc, [1, 1, 1], [0.1, 0.2, 0.3]), "both classes"),
        (lambda: M.fit_temperature([0.1, np.nan], [0, 1]), "NaN"),
        (lambda: M.roc_auc(["a", "b"], [0.1, 0.2]), "0 or 1"),
    ],
)
def test_bad_inputs_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bool_and_float_labels_are_accepted():
    assert M.roc_auc(np.array([False, True]), [0.2, 0.8]) == 1.0
    assert M.roc_auc(np.array([0.0, 1.0]), [0.2, 0.8]) == 1.0
