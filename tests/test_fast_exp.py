"""fastmath.exp and fastmath.sigmoid against NumPy's exp and the reference sigmoid, in ulp.

An ulp (unit in the last place) is the gap between a float and the next one; for two
non-negative floats of one dtype, their distance in ulp is the difference of their bit
patterns read as integers.  The bounds (float32 in float32, float64 in float64):

* exp, float32: within 1 ulp of the correctly rounded exp (np.exp in float64, rounded);
* exp, float64: within 2 ulp of np.exp (each of the two is within 1 ulp of the true exp);
* sigmoid, float32: within 2 ulp of the reference sigmoid computed in float64, rounded;
* sigmoid, float64: within 4 ulp of the float64 reference (each within 2 of the truth);
* where the true sigmoid is below the smallest normal float, fastmath returns 0: off by
  less than that smallest normal;
* exp(-inf) = 0, exp(inf) = inf, sigmoid(-inf) = 0, sigmoid(inf) = 1, NaN gives NaN, as NumPy;
  exp(0) = 1 and sigmoid(0) = 1/2 exactly (the formula has no branch at 0 to get wrong).
"""

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import njit, prange

from tinycnn.kernels import fastmath
from tinycnn.kernels import reference as ref

SETTINGS = settings(deadline=None, max_examples=200)
EXTREMES = [0.0, -0.0, 1.0, -1.0, 88.0, -88.0, 88.72, -87.4, 89.0, -104.0, 709.78, -745.1,
            1e4, -1e4, 1e-30, -1e-30, 1e-45, -1e-45, np.inf, -np.inf, np.nan]


@njit(parallel=True)
def exp_array(x):
    y = np.empty_like(x)
    for i in prange(x.size):
        y[i] = fastmath.exp(x[i])
    return y


@njit(parallel=True)
def sigmoid_array(x):
    y = np.empty_like(x)
    for i in prange(x.size):
        y[i] = fastmath.sigmoid(x[i])
    return y


def ulp_distance(a, b):
    """|a - b| in ulp, element-wise, for non-negative a and b of one float dtype (0 and inf too)."""
    as_int = np.int32 if a.dtype == np.float32 else np.int64
    return np.abs(a.view(as_int).astype(np.int64) - b.view(as_int).astype(np.int64))


def numpy_exp(x):
    """exp rounded to x's dtype: float32 computed in float64 (then correctly rounded but for ties)."""
    with np.errstate(over="ignore"):
        return np.exp(x.astype(np.float64)).astype(x.dtype) if x.dtype == np.float32 else np.exp(x)


def reference_sigmoid(x):
    return ref.sigmoid_forward(x.astype(np.float64)).astype(x.dtype)


def assert_within_ulp(got, want, bound):
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    distance = ulp_distance(got[~nan], want[~nan])
    assert distance.max(initial=0) <= bound, (got[~nan][distance.argmax()], want[~nan][distance.argmax()])


def assert_sigmoid_close(got, want, bound):
    """Within ``bound`` ulp where the sigmoid is a normal float; below, 0 or within the smallest normal."""
    tiny = np.finfo(want.dtype).tiny
    normal = np.isnan(want) | (want >= tiny)
    assert_within_ulp(got[normal], want[normal], bound)
    assert np.all(np.abs(got[~normal].astype(np.float64) - want[~normal]) < tiny)


def floats(width):
    return st.lists(st.floats(width=width, allow_nan=True, allow_infinity=True), min_size=1, max_size=50)


@SETTINGS
@given(values=floats(32))
@example(values=EXTREMES)
def test_exp_float32_within_1_ulp(values):
    x = np.array(values, dtype=np.float32)
    assert_within_ulp(exp_array(x), numpy_exp(x), 1)


@SETTINGS
@given(values=floats(64))
@example(values=EXTREMES)
def test_exp_float64_within_2_ulp(values):
    x = np.array(values, dtype=np.float64)
    assert_within_ulp(exp_array(x), numpy_exp(x), 2)


@SETTINGS
@given(values=floats(32))
@example(values=EXTREMES)
def test_sigmoid_float32_within_2_ulp(values):
    x = np.array(values, dtype=np.float32)
    assert_sigmoid_close(sigmoid_array(x), reference_sigmoid(x), 2)


@SETTINGS
@given(values=floats(64))
@example(values=EXTREMES)
def test_sigmoid_float64_within_4_ulp(values):
    x = np.array(values, dtype=np.float64)
    assert_sigmoid_close(sigmoid_array(x), reference_sigmoid(x), 4)


def test_float32_sweep_of_the_whole_range():
    """Every 997th float32 bit pattern from 0 to 104 and to -104: the whole range where exp is
    neither 0 nor inf, and beyond it for exp(-v) in the sigmoid (2.2 million values)."""
    top = np.float32(104.0).view(np.int32)
    magnitudes = np.arange(0, top, 997, dtype=np.int32).view(np.float32)
    x = np.concatenate([magnitudes, -magnitudes])
    assert_within_ulp(exp_array(x), numpy_exp(x), 1)
    assert_sigmoid_close(sigmoid_array(x), reference_sigmoid(x), 2)


def test_float64_sample_of_the_whole_range():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-750.0, 715.0, 200_000), rng.standard_normal(100_000),
                        rng.standard_normal(100_000) * 1e-9])
    assert_within_ulp(exp_array(x), numpy_exp(x), 2)
    assert_sigmoid_close(sigmoid_array(x), reference_sigmoid(x), 4)


def test_limits_and_zero_are_exact():
    for dtype in (np.float32, np.float64):
        x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e4, -1e4], dtype=dtype)
        e, s = exp_array(x), sigmoid_array(x)
        assert e.dtype == s.dtype == dtype
        np.testing.assert_array_equal(e, [1.0, 1.0, np.inf, 0.0, np.nan, np.inf, 0.0])
        np.testing.assert_array_equal(s, [0.5, 0.5, 1.0, 0.0, np.nan, 1.0, 0.0])


def test_sigmoid_is_symmetric_around_zero():
    """sigmoid(v) + sigmoid(-v) = 1: both sides of 0 through the same formula, no branch."""
    for dtype in (np.float32, np.float64):
        v = np.geomspace(1e-30, 30.0, 2000).astype(dtype)
        total = sigmoid_array(v).astype(np.float64) + sigmoid_array(-v)
        np.testing.assert_allclose(total, 1.0, rtol=0, atol=2 * np.finfo(dtype).eps)
