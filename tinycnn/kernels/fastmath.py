"""exp and sigmoid written as plain arithmetic, so that Numba's loops over them vectorise.

Why: ``np.exp`` inside a Numba loop becomes a call to the C library's ``exp``, one value
at a time; LLVM can only turn it into SIMD code when a vector maths library (Intel's
SVML) is installed, and often it is not.  An exp made of multiplies, adds, a rounding and
some integer bit work is ordinary code that LLVM vectorises like any other: 16 float32
(or 8 float64) values per AVX-512 instruction.  The sigmoid and SiLU kernels
(elementwise.py, fused.py) spend most of their time in exp, so this is where they gain.

exp(x), the algorithm (the one of Cody & Waite, and of most C libraries):

    n = round(x / ln 2),   r = x - n ln 2   (|r| <= ln 2 / 2 = 0.3466)
    exp(x) = 2^n * exp(r),   exp(r) ~ p(r) = sum_{k=0..d} r^k / k!   (Horner's rule)

* range reduction: r = x - n ln 2 is computed as (x - n*LN2_HI) - n*LN2_LO with ln 2 split
  in two (Cody-Waite): LN2_HI has its last mantissa bits zero, so n*LN2_HI is exact for
  every n that occurs and x - n*LN2_HI loses nothing; LN2_LO carries the rest of ln 2.
* the polynomial: the Taylor series of exp truncated after degree d, d = 7 for float32
  and d = 13 for float64.  On |r| <= 0.3466 the remainder is at most
  r^(d+1) / (d+1)! * e^r: 7e-9 for d = 7 (float32's ulp is 6e-8 at 1) and 5e-18 for
  d = 13 (float64's is 1.1e-16); well under one ulp, rounding dominates.  (A minimax fit
  would save a degree or two; the Taylor coefficients 1/k! need no fitting.)
* 2^n is made from its bits: a float is sign | exponent | mantissa, and 2^n has exponent
  field n + bias (127 or 1023) and a zero mantissa; ``(n + bias) << mantissa_bits`` viewed
  as a float is 2^n.  n is split as n1 + n2 and exp(x) = (p * 2^n1) * 2^n2, so that
  each factor stays a normal number while the product may overflow to inf or go
  subnormal: the results near the ends of the range are rounded once, like the C library.
* the argument is clamped first to [-104, 89] (float32) or [-746, 710] (float64), just
  beyond where exp(x) is 0 or inf, so that n fits the bit work: exp(-inf) = 0,
  exp(+inf) = inf, and NaN stays NaN (the clamp is written so that NaN passes through).

Measured: float32 within 1 ulp of the correctly rounded exp at every 7th float32 from -104
to 89 (3.2e8 values; NumPy's own float32 exp is within 2); float64 within 1 ulp of a
120-bit mpmath exp on 1e4 values and of np.exp on 5e6 (tests/test_fast_exp.py checks
bounds of 1 and 2 ulp).  Every step is a multiply, an add, a compare-and-select or an
integer op: no branch, no table, no call, so nothing stops LLVM from vectorising.

sigmoid(v) = 1 / (1 + exp(-v)), branch-free: for v -> -inf, exp(-v) overflows to inf and
the sigmoid is 0; for v -> +inf, exp(-v) -> 0 and it is 1.  The relative error of exp
passes into the sigmoid at most once, plus two roundings; measured: float32 within 2 ulp
of the float64 sigmoid rounded, float64 within 2 ulp of mpmath's (and 3 of the reference
kernel's, itself within 2).  Only
where the true sigmoid is below the smallest normal float (v < -88.7 for float32, < -709.8
for float64) is 0 returned for a subnormal number.

Numba's cache (``cache=True``) recompiles a kernel when its own file changes, not when a
function it calls changes: after editing this file, delete tinycnn/kernels/__pycache__.
"""

import numpy as np
from numba import njit

#: Taylor coefficients 1/k! of exp, highest degree first (Horner's order)
_TAYLOR_64 = tuple(1.0 / np.prod(np.arange(1.0, k + 1)) for k in range(13, -1, -1))
_TAYLOR_32 = tuple(np.float32(c) for c in _TAYLOR_64[-8:])

_LOG2E = 1.4426950408889634                      # 1 / ln 2
_LN2_HI_64, _LN2_LO_64 = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # fdlibm
_LN2_HI_32, _LN2_LO_32 = np.float32(0.693359375), np.float32(-2.12194440e-4)      # Cephes


@njit(inline="always")
def _clamp(x, lo, hi):
    """x limited to [lo, hi]; NaN passes through (each comparison with NaN is false)."""
    x = hi if x > hi else x
    return lo if x < lo else x


@njit(inline="always")
def _exp32(x):
    """exp(x) for a float32 x, in float32 (the algorithm in the module docstring)."""
    x = _clamp(x, np.float32(-104.0), np.float32(89.0))
    nf = np.rint(x * np.float32(_LOG2E))
    r = (x - nf * _LN2_HI_32) - nf * _LN2_LO_32
    p = _TAYLOR_32[0]
    for c in _TAYLOR_32[1:]:
        p = p * r + c
    n = np.int32(nf)
    n1 = np.int32(n >> 1)
    n2 = np.int32(n - n1)
    scale1 = np.int32((n1 + 127) << 23).view(np.float32)
    scale2 = np.int32((n2 + 127) << 23).view(np.float32)
    return (p * scale1) * scale2


@njit(inline="always")
def _exp64(x):
    """exp(x) for a float64 x, in float64 (the algorithm in the module docstring)."""
    x = _clamp(x, -746.0, 710.0)
    nf = np.rint(x * _LOG2E)
    r = (x - nf * _LN2_HI_64) - nf * _LN2_LO_64
    p = _TAYLOR_64[0]
    for c in _TAYLOR_64[1:]:
        p = p * r + c
    n = np.int64(nf)
    n1 = n >> 1
    n2 = n - n1
    scale1 = np.int64((n1 + 1023) << 52).view(np.float64)
    scale2 = np.int64((n2 + 1023) << 52).view(np.float64)
    return (p * scale1) * scale2


@njit(inline="always")
def exp(x):
    """exp(x) of one float32 or float64 value, in its own precision, vectorisable."""
    if isinstance(x, np.float32):
        return _exp32(x)
    return _exp64(x)


@njit(inline="always")
def sigmoid(v):
    """sigmoid(v) = 1 / (1 + exp(-v)) of one float32 or float64 value, branch-free."""
    if isinstance(v, np.float32):
        return np.float32(1) / (np.float32(1) + _exp32(-v))
    return 1.0 / (1.0 + _exp64(-v))


@njit(inline="always")
def silu_grad(v):
    """d/dv [v * sigmoid(v)] = s + v s (1 - s) with s = sigmoid(v), in v's own precision.

    ``np.float32(1)``, not ``1``: Numba types a literal 1 as an int64, and int64 - float32
    is float64, which would turn the float32 kernels' arithmetic into float64 (half as many
    values per vector instruction); with a float64 v it is just 1.0.
    """
    s = sigmoid(v)
    return s + v * s * (np.float32(1) - s)
