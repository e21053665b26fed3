"""The fast kernels (tinycnn.kernels.fast) must return what the reference kernels return.

Hypothesis draws the shapes: batch 1.., C = 1.., odd sizes, kernel sizes 1..5, strides 1..3,
paddings "valid" / "same" / int / asymmetric tuple, and inputs that are contiguous,
transposed views or strided slices.  float32 results are checked against the reference
computed in float64 (rtol 1e-4), float64 results tightly.

A few small cases are marked ``nojit``:  NUMBA_DISABLE_JIT=1 python -m pytest -m nojit
runs the same kernels as plain Python.
"""

import inspect
import os
import subprocess
import sys
import time

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tinycnn.functional as F
from tinycnn.kernels import _threads, fast, shapes
from tinycnn.kernels import reference as ref
from tinycnn.kernels.shapes import conv_output_size, resolve_padding

SETTINGS = settings(deadline=None, max_examples=25,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")


# ----------------------------------------------------------------------------- helpers


def make(rng, shape, dtype, layout="contiguous", scale=1.0, offset=0.0):
    """scale * N(0, 1) + offset of the given shape: contiguous, a transposed view, or a strided slice."""
    def draw(s):
        return (scale * rng.standard_normal(s) + offset).astype(dtype)
    if layout == "transposed" and len(shape) >= 3:
        return draw((shape[0], shape[2], shape[1], *shape[3:])).swapaxes(1, 2)
    if layout == "sliced":
        return draw((*shape[:-1], 2 * shape[-1]))[..., ::2]
    return draw(shape)


def check(fast_out, ref_out, dtype):
    fast_out, ref_out = np.asarray(fast_out), np.asarray(ref_out)
    assert fast_out.shape == ref_out.shape
    assert fast_out.dtype == np.dtype(dtype), (fast_out.dtype, dtype)
    finite = np.abs(ref_out[np.isfinite(ref_out)])
    scale = 1.0 + float(finite.max(initial=0.0))
    if np.dtype(dtype) == np.float32:
        np.testing.assert_allclose(fast_out, ref_out, rtol=1e-4, atol=1e-5 * scale)
    else:
        np.testing.assert_allclose(fast_out, ref_out, rtol=1e-10, atol=1e-12 * scale)


def to64(a):
    return np.asarray(a, dtype=np.float64)


dtypes = st.sampled_from([np.float32, np.float64])
layouts = st.sampled_from(["contiguous", "transposed", "sliced"])


@st.composite
def conv_case(draw, max_c=4):
    """(x_shape, kernel (KH, KW), stride, pads) with the kernel fitting the padded input."""
    N = draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    C = draw(st.integers(1, max_c))
    KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    kind = draw(st.sampled_from(["valid", "same", "int", "tuple"]))
    if kind == "int":
        padding = draw(st.integers(0, 2))
    elif kind == "tuple":
        padding = ((draw(st.integers(0, 3)), draw(st.integers(0, 3))),
                   (draw(st.integers(0, 3)), draw(st.integers(0, 3))))
    else:
        padding = kind
    pads = resolve_padding(padding, (H, W), (KH, KW), stride)
    # shrink the kernel until it fits the padded input (valid padding on a small image)
    KH = min(KH, H + pads[0][0] + pads[0][1])
    KW = min(KW, W + pads[1][0] + pads[1][1])
    if kind == "same":
        pads = resolve_padding("same", (H, W), (KH, KW), stride)
    return (N, H, W, C), (KH, KW), stride, pads


@st.composite
def pool_case(draw, max_c=5):
    """(x_shape, size (K_h, K_w), stride, pads) as the public pools accept them: at most half
    the window of padding on each side (so no window holds padding only), window fits."""
    KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    pads = ((draw(st.integers(0, KH // 2)), draw(st.integers(0, KH // 2))),
            (draw(st.integers(0, KW // 2)), draw(st.integers(0, KW // 2))))
    H = draw(st.integers(max(1, KH - sum(pads[0])), 9))
    W = draw(st.integers(max(1, KW - sum(pads[1])), 9))
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, max_c))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (N, H, W, C), (KH, KW), stride, pads


def out_hw(x_shape, kernel, stride, pads):
    return (conv_output_size(x_shape[1], kernel[0], stride[0], *pads[0]),
            conv_output_size(x_shape[2], kernel[1], stride[1], *pads[1]))


# ----------------------------------------------------------------------------- convolutions


@SETTINGS
@given(case=conv_case(), F=st.integers(1, 4), dtype=dtypes, layout=layouts, seed=st.integers(0, 99))
def test_conv2d_matches_reference(case, F, dtype, layout, seed):
    x_shape, (KH, KW), stride, pads = case
    rng = np.random.default_rng(seed)
    x = make(rng, x_shape, dtype, layout)
    w = make(rng, (KH, KW, x_shape[3], F), dtype)
    dy = make(rng, (x_shape[0], *out_hw(x_shape, (KH, KW), stride, pads), F), dtype, layout)
    check(fast.conv2d_forward(x, w, stride, pads), ref.conv2d_forward(to64(x), to64(w), stride, pads), dtype)
    check(fast.conv2d_backward_input(dy, w, x.shape, stride, pads),
          ref.conv2d_backward_input(to64(dy), to64(w), x.shape, stride, pads), dtype)
    check(fast.conv2d_backward_weight(dy, x, w.shape, stride, pads),
          ref.conv2d_backward_weight(to64(dy), to64(x), w.shape, stride, pads), dtype)


def test_conv2d_many_chunks(monkeypatch):
    """Tiny chunks: rows of one image split across chunks must still add up."""
    from tinycnn.kernels import conv
    monkeypatch.setattr(conv, "CHUNK_BYTES", 64)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4))
    stride, pads = (2, 1), ((1, 2), (0, 1))
    dy = rng.standard_normal((2, *out_hw(x.shape, (3, 2), stride, pads), 4))
    check(conv.conv2d_forward(x, w, stride, pads), ref.conv2d_forward(x, w, stride, pads), np.float64)
    check(conv.conv2d_backward_input(dy, w, x.shape, stride, pads),
          ref.conv2d_backward_input(dy, w, x.shape, stride, pads), np.float64)
    check(conv.conv2d_backward_weight(dy, x, w.shape, stride, pads),
          ref.conv2d_backward_weight(dy, x, w.shape, stride, pads), np.float64)


@SETTINGS
@given(case=conv_case(max_c=6), dtype=dtypes, layout=layouts, seed=st.integers(0, 99))
def test_depthwise_matches_reference(case, dtype, layout, seed):
    x_shape, (KH, KW), stride, pads = case
    rng = np.random.default_rng(seed)
    x = make(rng, x_shape, dtype, layout)
    w = make(rng, (KH, KW, x_shape[3]), dtype)
    dy = make(rng, (x_shape[0], *out_hw(x_shape, (KH, KW), stride, pads), x_shape[3]), dtype, layout)
    check(fast.depthwise_conv2d_forward(x, w, stride, pads),
          ref.depthwise_conv2d_forward(to64(x), to64(w), stride, pads), dtype)
    check(fast.depthwise_conv2d_backward_input(dy, w, x.shape, stride, pads),
          ref.depthwise_conv2d_backward_input(to64(dy), to64(w), x.shape, stride, pads), dtype)
    check(fast.depthwise_conv2d_backward_weight(dy, x, w.shape, stride, pads),
          ref.depthwise_conv2d_backward_weight(to64(dy), to64(x), w.shape, stride, pads), dtype)


@SETTINGS
@given(N=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7), C=st.integers(1, 5),
       F=st.integers(1, 5), dtype=dtypes, layout=layouts, seed=st.integers(0, 99))
def test_pointwise_matches_reference(N, H, W, C, F, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    x = make(rng, (N, H, W, C), dtype, layout)
    w = make(rng, (C, F), dtype, "sliced" if layout == "sliced" else "contiguous")
    dy = make(rng, (N, H, W, F), dtype, layout)
    check(fast.pointwise_conv2d_forward(x, w), ref.pointwise_conv2d_forward(to64(x), to64(w)), dtype)
    check(fast.pointwise_conv2d_backward_input(dy, w),
          ref.pointwise_conv2d_backward_input(to64(dy), to64(w)), dtype)
    check(fast.pointwise_conv2d_backward_weight(dy, x),
          ref.pointwise_conv2d_backward_weight(to64(dy), to64(x)), dtype)


# ----------------------------------------------------------------------------- pooling


@SETTINGS
@given(case=pool_case(), dtype=dtypes, layout=layouts, seed=st.integers(0, 99),
       ties=st.booleans())
def test_pools_match_reference(case, dtype, layout, seed, ties):
    x_shape, size, stride, pads = case
    rng = np.random.default_rng(seed)
    x = make(rng, x_shape, dtype, layout)
    if ties:   # many equal values: the first maximum of each window must get the gradient
        x = np.round(x)
    dy = make(rng, (x_shape[0], *out_hw(x_shape, size, stride, pads), x_shape[3]), dtype)
    check(fast.max_pool2d_forward(x, size, stride, pads), ref.max_pool2d_forward(to64(x), size, stride, pads), dtype)
    check(fast.max_pool2d_backward(dy, x, size, stride, pads),
          ref.max_pool2d_backward(to64(dy), to64(x), size, stride, pads), dtype)
    check(fast.avg_pool2d_forward(x, size, stride, pads), ref.avg_pool2d_forward(to64(x), size, stride, pads), dtype)
    check(fast.avg_pool2d_backward(dy, x.shape, size, stride, pads),
          ref.avg_pool2d_backward(to64(dy), x.shape, size, stride, pads), dtype)


@SETTINGS
@given(N=st.integers(1, 3), H=st.integers(1, 8), W=st.integers(1, 8), C=st.integers(1, 6),
       dtype=dtypes, layout=layouts, seed=st.integers(0, 99))
def test_global_avg_pool_matches_reference(N, H, W, C, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    x = make(rng, (N, H, W, C), dtype, layout)
    dy = make(rng, (N, C), dtype)
    check(fast.global_avg_pool2d_forward(x), ref.global_avg_pool2d_forward(to64(x)), dtype)
    check(fast.global_avg_pool2d_backward(dy, x.shape), ref.global_avg_pool2d_backward(to64(dy), x.shape), dtype)


# ----------------------------------------------------------------------------- activations, bn, softmax

ACTIVATIONS = ["relu", "relu6", "sigmoid", "tanh", "silu"]


@SETTINGS
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=4), dtype=dtypes, layout=layouts,
       name=st.sampled_from(ACTIVATIONS), seed=st.integers(0, 99))
def test_activations_match_reference(shape, dtype, layout, name, seed):
    rng = np.random.default_rng(seed)
    x = make(rng, tuple(shape), dtype, layout, scale=5.0)
    x[(0,) * x.ndim] = 0.0             # the kink: gradient 0 at exactly 0
    dy = make(rng, tuple(shape), dtype)
    fwd, bwd = getattr(fast, name + "_forward"), getattr(fast, name + "_backward")
    rfwd, rbwd = getattr(ref, name + "_forward"), getattr(ref, name + "_backward")
    y = fwd(x)
    check(y, rfwd(to64(x)), dtype)
    saved = y if name in ("sigmoid", "tanh") else x   # their backward takes the output
    check(bwd(dy, saved), rbwd(to64(dy), to64(saved)), dtype)


@SETTINGS
@given(shape=st.sampled_from([(2, 3, 4, 5), (1, 1, 1, 1), (3, 5), (1, 7, 3, 1), (4, 2, 2, 33)]),
       activation=st.sampled_from([None, "relu", "relu6", "sigmoid", "tanh", "silu"]),
       bias=st.booleans(), dtype=dtypes, seed=st.integers(0, 99))
def test_bias_activation_matches_separate_ops(shape, activation, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    y = make(rng, shape, dtype, scale=5.0)
    b = make(rng, shape[-1:], dtype) if bias else None
    z = to64(y) + (to64(b) if bias else 0.0)
    expected = z if activation is None else getattr(ref, activation + "_forward")(z)
    out = fast.bias_activation_forward(y, b, activation)
    assert out is y
    check(out, expected, dtype)
    dy = make(rng, shape, dtype)
    if activation == "silu":
        with pytest.raises(ValueError):
            fast.bias_activation_backward(dy, out, activation)
        return
    if activation is None:
        dz_ref = to64(dy)
    elif activation in ("sigmoid", "tanh"):            # their backward takes the output
        dz_ref = getattr(ref, activation + "_backward")(to64(dy), expected)
    else:
        dz_ref = getattr(ref, activation + "_backward")(to64(dy), z)
    dz, db = fast.bias_activation_backward(dy, out, activation)
    check(dz, dz_ref, dtype)
    check(db, dz_ref.reshape(-1, shape[-1]).sum(axis=0), dtype)


@SETTINGS
@given(shape=st.sampled_from([(2, 3, 4, 5), (1, 1, 1, 1), (3, 5), (1, 7, 3, 1), (4, 5, 3, 9), (6, 1)]),
       dtype=dtypes, layout=layouts, seed=st.integers(0, 99), offset=st.sampled_from([0.0, 3.0]))
def test_batch_norm_matches_reference(shape, dtype, layout, seed, offset):
    rng = np.random.default_rng(seed)
    C = shape[-1]
    x = make(rng, shape, dtype, layout, scale=2.0, offset=offset)
    gamma, beta = make(rng, (C,), dtype), make(rng, (C,), dtype)
    dy = make(rng, shape, dtype, layout)
    eps = 1e-3
    y, mean, var = fast.batch_norm_train_forward(x, gamma, beta, eps)
    ry, rmean, rvar = ref.batch_norm_train_forward(to64(x), to64(gamma), to64(beta), eps)
    for got, want in [(y, ry), (mean, rmean), (var, rvar)]:
        check(got, want, dtype)
    got = fast.batch_norm_train_backward(dy, x, gamma, mean, var, eps)
    want = ref.batch_norm_train_backward(to64(dy), to64(x), to64(gamma), to64(mean), to64(var), eps)
    for g, w in zip(got, want):
        check(g, w, dtype)
    rm, rv = np.abs(make(rng, (C,), dtype)), np.abs(make(rng, (C,), dtype)) + 0.5
    check(fast.batch_norm_eval_forward(x, gamma, beta, rm, rv, eps),
          ref.batch_norm_eval_forward(to64(x), to64(gamma), to64(beta), to64(rm), to64(rv), eps), dtype)
    got = fast.batch_norm_eval_backward(dy, x, gamma, rm, rv, eps)
    want = ref.batch_norm_eval_backward(to64(dy), to64(x), to64(gamma), to64(rm), to64(rv), eps)
    for g, w in zip(got, want):
        check(g, w, dtype)


@pytest.mark.parametrize("kernels", [fast, ref], ids=["fast", "reference"])
def test_batch_norm_update_running_in_place(kernels):
    # fast.batch_norm_update_running *is* the reference one, so compare both with the formula
    # worked by hand: running = 0.9 running + 0.1 batch, the variance Bessel-corrected (10 / 9)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    mean, var = np.array([1.0, 2.0, 3.0], np.float32), np.array([0.5, 1.0, 2.0], np.float32)
    assert kernels.batch_norm_update_running(rm, rv, mean, var, 10, 0.9) is None
    np.testing.assert_allclose(rm, [0.1, 0.2, 0.3], rtol=1e-6)
    np.testing.assert_allclose(rv, [0.9 + 0.1 * 0.5 * 10 / 9, 0.9 + 0.1 * 1.0 * 10 / 9,
                                    0.9 + 0.1 * 2.0 * 10 / 9], rtol=1e-6)


@SETTINGS
@given(shape=st.lists(st.integers(1, 12), min_size=1, max_size=3), dtype=dtypes,
       layout=layouts, seed=st.integers(0, 99), big=st.booleans())
def test_softmax_matches_reference(shape, dtype, layout, seed, big):
    rng = np.random.default_rng(seed)
    x = make(rng, tuple(shape), dtype, layout, scale=50.0 if big else 1.0)
    dy = make(rng, tuple(shape), dtype)
    for name in ["softmax", "log_softmax"]:
        y = getattr(fast, name + "_forward")(x)
        check(y, getattr(ref, name + "_forward")(to64(x)), dtype)
        check(getattr(fast, name + "_backward")(dy, y),
              getattr(ref, name + "_backward")(to64(dy), to64(y)), dtype)


# ----------------------------------------------------------------------------- nojit subset


@pytest.mark.nojit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_cases_without_jit(dtype):
    """Fixed tiny shapes of every kernel family (also run with NUMBA_DISABLE_JIT=1)."""
    rng = np.random.default_rng(1)
    x = make(rng, (2, 5, 4, 3), dtype, "transposed")
    stride, pads = (2, 1), ((1, 0), (0, 2))
    w = make(rng, (3, 2, 3, 2), dtype)
    Ho, Wo = out_hw(x.shape, (3, 2), stride, pads)
    dy = make(rng, (2, Ho, Wo, 2), dtype)
    check(fast.conv2d_forward(x, w, stride, pads), ref.conv2d_forward(to64(x), to64(w), stride, pads), dtype)
    check(fast.conv2d_backward_input(dy, w, x.shape, stride, pads),
          ref.conv2d_backward_input(to64(dy), to64(w), x.shape, stride, pads), dtype)
    check(fast.conv2d_backward_weight(dy, x, w.shape, stride, pads),
          ref.conv2d_backward_weight(to64(dy), to64(x), w.shape, stride, pads), dtype)

    wd = make(rng, (3, 2, 3), dtype)
    dyd = make(rng, (2, Ho, Wo, 3), dtype)
    check(fast.depthwise_conv2d_forward(x, wd, stride, pads),
          ref.depthwise_conv2d_forward(to64(x), to64(wd), stride, pads), dtype)
    check(fast.depthwise_conv2d_backward_input(dyd, wd, x.shape, stride, pads),
          ref.depthwise_conv2d_backward_input(to64(dyd), to64(wd), x.shape, stride, pads), dtype)
    check(fast.depthwise_conv2d_backward_weight(dyd, x, wd.shape, stride, pads),
          ref.depthwise_conv2d_backward_weight(to64(dyd), to64(x), wd.shape, stride, pads), dtype)

    check(fast.pointwise_conv2d_forward(x, w[0, 0]), ref.pointwise_conv2d_forward(to64(x), to64(w[0, 0])), dtype)

    size, pool_pads = (3, 2), ((1, 0), (0, 1))     # at most half the window: what the pools accept
    dyp = make(rng, (2, *out_hw(x.shape, size, stride, pool_pads), 3), dtype)
    check(fast.max_pool2d_forward(x, size, stride, pool_pads),
          ref.max_pool2d_forward(to64(x), size, stride, pool_pads), dtype)
    check(fast.max_pool2d_backward(dyp, x, size, stride, pool_pads),
          ref.max_pool2d_backward(to64(dyp), to64(x), size, stride, pool_pads), dtype)
    check(fast.avg_pool2d_forward(x, size, stride, pool_pads),
          ref.avg_pool2d_forward(to64(x), size, stride, pool_pads), dtype)
    check(fast.avg_pool2d_backward(dyp, x.shape, size, stride, pool_pads),
          ref.avg_pool2d_backward(to64(dyp), x.shape, size, stride, pool_pads), dtype)
    check(fast.global_avg_pool2d_forward(x), ref.global_avg_pool2d_forward(to64(x)), dtype)

    for name in ACTIVATIONS:
        y = getattr(fast, name + "_forward")(x)
        check(y, getattr(ref, name + "_forward")(to64(x)), dtype)
        saved = y if name == "sigmoid" else x
        check(getattr(fast, name + "_backward")(x, saved),
              getattr(ref, name + "_backward")(to64(x), to64(saved)), dtype)
    out = fast.bias_activation_forward(x.copy(), w[0, 0, :, 0].copy(), "relu6")
    check(out, ref.relu6_forward(to64(x) + to64(w[0, 0, :, 0])), dtype)

    gamma, beta = make(rng, (3,), dtype), make(rng, (3,), dtype)
    y, mean, var = fast.batch_norm_train_forward(x, gamma, beta, 1e-3)
    check(y, ref.batch_norm_train_forward(to64(x), to64(gamma), to64(beta), 1e-3)[0], dtype)
    for g, r in zip(fast.batch_norm_train_backward(x, x, gamma, mean, var, 1e-3),
                    ref.batch_norm_train_backward(to64(x), to64(x), to64(gamma), to64(mean), to64(var), 1e-3)):
        check(g, r, dtype)
    check(fast.log_softmax_forward(x), ref.log_softmax_forward(to64(x)), dtype)


# ----------------------------------------------------------------------------- threading setup


@pytest.mark.skipif(JIT_DISABLED, reason="no parallel kernels run without the JIT")
def test_threading_layer_is_the_chosen_one():
    """The kernels package picks the layer (see _threads.py); a parallel call must use it."""
    fast.relu_forward(np.ones((4, 4), np.float32))        # a parallel kernel has run
    assert numba.threading_layer() == _threads.CHOSEN_LAYER
    if "NUMBA_THREADING_LAYER" not in os.environ:
        assert _threads.CHOSEN_LAYER in ("omp", "workqueue")
    if "OPENBLAS_NUM_THREADS" not in os.environ:     # GEMMs on the calling thread (see _threads.py)
        assert _threads.SETUP.blas_threads in (1, None)


@pytest.mark.timing
@pytest.mark.skipif(JIT_DISABLED, reason="no parallel kernels run without the JIT")
def test_gemm_after_parallel_kernel_is_not_slowed_down():
    """The trap: idle Numba workers spinning while OpenBLAS runs made GEMMs many times slower.

    A 256x256 sgemm alone and right after a tiny parallel kernel, timed alternately so that
    a busy neighbour slows both alike; spinning OpenMP workers made the second many times
    slower (see benchmarks/RESULTS.md).  Up to three attempts, so one noisy moment does not
    fail the test.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256)).astype(np.float32)
    small = np.ones(1024, np.float32)

    def seconds(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def alone():
        return a @ a

    def mixed():
        fast.relu_forward(small)
        return a @ a

    alone(), mixed()
    for _ in range(3):
        pairs = np.array([(seconds(alone), seconds(mixed)) for _ in range(40)]) * 1e3
        t_alone, t_mixed = np.median(pairs, axis=0)
        if t_mixed < 4 * t_alone + 1.0:
            break
    assert t_mixed < 4 * t_alone + 1.0, (t_alone, t_mixed)


@pytest.mark.parametrize("activation", [None, "relu", "relu6", "sigmoid", "tanh", "silu"])
def test_fused_bias_activation_equals_its_reference_twin(activation):
    from tinycnn.kernels import reference
    rng = np.random.default_rng(1)
    y = (rng.standard_normal((3, 5, 4, 6)) * 4).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    out_ref = reference.bias_activation_forward(y.copy(), b, activation)
    out_fast = fast.bias_activation_forward(y.copy(), b, activation)
    np.testing.assert_allclose(out_fast, out_ref, rtol=1e-5, atol=1e-6)
    if activation != "silu":
        dy = rng.standard_normal(y.shape).astype(np.float32)
        for got, want in zip(fast.bias_activation_backward(dy, out_fast, activation),
                             reference.bias_activation_backward(dy, out_ref, activation)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- the two kernel modules


def kernel_functions(module):
    """The public kernel functions a kernel module exports (not what it imports from shapes)."""
    return {name: value for name, value in vars(module).items()
            if inspect.isfunction(value) and not name.startswith("_")
            and value.__module__ != shapes.__name__}


#: reference.py's own array helpers, written for reading the loops; not kernels.
REFERENCE_HELPERS = {"pad_hw", "unpad_hw", "tap_slice"}


def test_fast_and_reference_export_the_same_kernels():
    fast_kernels, ref_kernels = kernel_functions(fast), kernel_functions(ref)
    assert set(fast_kernels) == set(ref_kernels) - REFERENCE_HELPERS
    for name, function in fast_kernels.items():
        assert inspect.signature(function) == inspect.signature(ref_kernels[name]), name


def test_unknown_kernel_backend_is_an_error():
    """TINYCNN_KERNELS is fast or reference; anything else stops the import (no silent fallback).
    (That importing the reference kernels loads no Numba is checked in test_layout.py.)"""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", "import tinycnn.kernels"], cwd=root,
                            env={**os.environ, "TINYCNN_KERNELS": "fastest"},
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "TINYCNN_KERNELS must be 'fast' or 'reference', got 'fastest'" in result.stderr


@pytest.mark.parametrize("activation", [name for name, spec in F.ACTIVATIONS.items() if spec.fusable])
def test_every_fusable_activation_of_the_table_runs_in_both_epilogues(activation):
    # F.ACTIVATIONS is the one table of names; the kernels know the fusable ones by name too,
    # so a name marked fusable there must work forward and backward in both kernel modules
    rng = np.random.default_rng(2)
    y = (rng.standard_normal((2, 3, 3, 4)) * 3).astype(np.float64)
    b = rng.standard_normal(4)
    dy = rng.standard_normal(y.shape)
    out_ref = ref.bias_activation_forward(y.copy(), b, activation)
    out_fast = fast.bias_activation_forward(y.copy(), b, activation)
    np.testing.assert_allclose(out_fast, out_ref, rtol=1e-12, atol=1e-12)
    for got, want in zip(fast.bias_activation_backward(dy, out_fast, activation),
                         ref.bias_activation_backward(dy, out_ref, activation)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
