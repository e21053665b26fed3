"""Squeeze-excite's channel scaling y = x * s[n, c] as one op (kernels/scale.py, F.channel_scale,
nn.SqueezeExcite).

- the fast kernels agree with their reference twins (float32 and float64, N = 1, C = 1,
  H*W = 1, transposed and strided inputs): y and dx bit for bit, ds to rounding;
- F.channel_scale == the broadcast Tensor product x * s.reshape(N, 1, 1, C): y and dx bit
  for bit, ds to rounding; gradient-checked in float64; equal to PyTorch;
- ds has the same bits with 1 and 2 Numba threads (fixed blocks, float64 partial sums);
- bad shapes get a one-line error naming the op and both shapes;
- SqueezeExcite gates with it and gives the numbers of x * s.
"""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycnn as tc
import tinycnn.functional as F
from gradcheck import check_gradients
from tinycnn import nn
from tinycnn.kernels import fast
from tinycnn.kernels import reference as ref

SEEDS = st.integers(0, 2**16)
JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")


@st.composite
def image_shape(draw):
    """(N, H, W, C) with N = 1, H*W = 1 and C = 1 all possible, odd sizes included."""
    return tuple(draw(st.integers(1, hi)) for hi in (4, 7, 7, 9))


def make(rng, shape, dtype, layout):
    """N(0, 1) of ``shape``: contiguous, a transposed view (H and W swapped) or a strided slice."""
    if layout == "transposed" and len(shape) == 4:
        return rng.standard_normal((shape[0], shape[2], shape[1], shape[3])).astype(dtype).swapaxes(1, 2)
    if layout == "sliced":
        return rng.standard_normal((*shape[:-1], 2 * shape[-1])).astype(dtype)[..., ::2]
    return rng.standard_normal(shape).astype(dtype)


def inputs(seed, shape, dtype=np.float32, layout="contiguous"):
    """x (N, H, W, C), s (N, C) in (0, 1) like a sigmoid's output, dy like x."""
    rng = np.random.default_rng(seed)
    x, dy = make(rng, shape, dtype, layout), make(rng, shape, dtype, layout)
    s = 1 / (1 + np.exp(-make(rng, (shape[0], shape[3]), dtype, layout)))
    return x, s.astype(dtype), dy


def close_sums(got, want, dtype):
    rtol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * (1 + np.abs(want).max(initial=0)))


# ----------------------------------------------------------------------------- kernels


@settings(deadline=None)
@given(image_shape(), st.sampled_from([np.float32, np.float64]),
       st.sampled_from(["contiguous", "transposed", "sliced"]), SEEDS)
def test_fast_kernels_agree_with_their_reference_twins(shape, dtype, layout, seed):
    x, s, dy = inputs(seed, shape, dtype, layout)
    y = fast.channel_scale_forward(x, s)
    assert y.dtype == dtype and y.shape == shape
    np.testing.assert_array_equal(y, ref.channel_scale_forward(x, s))        # one multiply: same bits
    dx, ds = fast.channel_scale_backward(dy, x, s)
    rdx, rds = ref.channel_scale_backward(dy, x, s)
    assert dx.dtype == ds.dtype == dtype and dx.shape == shape and ds.shape == s.shape
    np.testing.assert_array_equal(dx, rdx)
    exact = ref.channel_scale_backward(*(a.astype(np.float64) for a in (dy, x, s)))[1]
    close_sums(ds, exact, dtype)
    close_sums(rds, exact, dtype)


@pytest.mark.nojit
def test_fast_kernels_equal_their_reference_twins_on_a_fixed_input():
    """One fixed (2, 3, 5, 4) input (also run with NUMBA_DISABLE_JIT=1)."""
    x, s, dy = inputs(3, (2, 3, 5, 4))
    np.testing.assert_array_equal(fast.channel_scale_forward(x, s), ref.channel_scale_forward(x, s))
    (dx, ds), (rdx, rds) = fast.channel_scale_backward(dy, x, s), ref.channel_scale_backward(dy, x, s)
    np.testing.assert_array_equal(dx, rdx)
    close_sums(ds, rds, np.float32)


def test_the_gradient_of_s_sums_over_every_pixel_of_its_image_and_channel():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2)
    s = np.array([[1.0, 2.0], [3.0, 4.0]])
    dx, ds = fast.channel_scale_backward(np.ones_like(x), x, s)
    np.testing.assert_array_equal(ds, [[0 + 2 + 4 + 6 + 8 + 10, 1 + 3 + 5 + 7 + 9 + 11],
                                       [12 + 14 + 16 + 18 + 20 + 22, 13 + 15 + 17 + 19 + 21 + 23]])
    np.testing.assert_array_equal(dx[1, :, :, 0], np.full((3, 2), 3.0))


@pytest.mark.parametrize("kernels", [fast, ref], ids=["fast", "reference"])
def test_an_empty_batch_gives_empty_outputs(kernels):
    x, s = np.ones((0, 3, 3, 4), np.float32), np.ones((0, 4), np.float32)
    assert kernels.channel_scale_forward(x, s).shape == (0, 3, 3, 4)
    dx, ds = kernels.channel_scale_backward(x, x, s)
    assert dx.shape == (0, 3, 3, 4) and ds.shape == (0, 4)


THREADS = """
import sys
import numba
import numpy as np
from tinycnn.kernels import fast
numba.set_num_threads(int(sys.argv[1]))
rng = np.random.default_rng(0)
x, dy = (rng.standard_normal((3, 37, 29, 24)).astype(np.float32) for _ in range(2))
s = rng.uniform(0, 1, (3, 24)).astype(np.float32)
np.save(sys.argv[2], np.concatenate([a.ravel() for a in fast.channel_scale_backward(dy, x, s)]))
"""


def test_the_backward_does_not_depend_on_the_number_of_threads(tmp_path):
    if JIT_DISABLED or numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads and the JIT")
    for threads in (1, 2):
        subprocess.run([sys.executable, "-c", THREADS, str(threads), str(tmp_path / f"{threads}.npy")],
                       check=True, timeout=300)
    assert np.array_equal(np.load(tmp_path / "1.npy"), np.load(tmp_path / "2.npy"))


# ----------------------------------------------------------------------------- the op


def op_and_product(x, s, dy, s_needs_grad=True):
    """(y, dx, ds) of F.channel_scale and of the broadcast product x * s.reshape(N, 1, 1, C)."""
    results = []
    for fused in (True, False):
        xt, st_ = tc.Tensor(x.copy(), requires_grad=True), tc.Tensor(s.copy(), requires_grad=s_needs_grad)
        y = F.channel_scale(xt, st_) if fused else xt * st_.reshape(s.shape[0], 1, 1, s.shape[1])
        y.backward(dy)
        results.append((y.data, xt.grad, st_.grad))
    return results


@settings(deadline=None)
@given(image_shape(), st.sampled_from([np.float32, np.float64]), SEEDS)
def test_the_op_equals_the_broadcast_product(shape, dtype, seed):
    x, s, dy = inputs(seed, shape, dtype)
    (y, dx, ds), (y2, dx2, ds2) = op_and_product(x, s, dy)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(dx, dx2)
    assert ds.dtype == ds2.dtype == dtype
    close_sums(ds, ds2, dtype)


def test_without_a_gradient_for_s_only_dx_is_computed():
    x, s, dy = inputs(5, (2, 4, 3, 5))
    (y, dx, ds), (_, dx2, _) = op_and_product(x, s, dy, s_needs_grad=False)
    assert ds is None
    np.testing.assert_array_equal(dx, dx2)


@settings(deadline=None, max_examples=15)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), SEEDS)
def test_channel_scale_gradients(n, h, w, c, seed):
    x, s, _ = inputs(seed, (n, h, w, c), np.float64)
    check_gradients(F.channel_scale, x, s)


def test_channel_scale_matches_torch():
    torch = pytest.importorskip("torch")
    x, s, dy = inputs(7, (3, 5, 6, 4))
    (y, dx, ds), _ = op_and_product(x, s, dy)
    tx = torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)
    ts = torch.tensor(s, requires_grad=True)
    ty = tx * ts[:, :, None, None]
    ty.backward(torch.tensor(np.ascontiguousarray(dy.transpose(0, 3, 1, 2))))
    tol = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), **tol)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), **tol)
    np.testing.assert_allclose(ds, ts.grad.numpy(), **tol)


@pytest.mark.parametrize("x_shape, s_shape, message", [
    ((2, 3, 3, 4), (2, 5), r"channel_scale: s must have shape \(N, C\) = \(2, 4\) for an input of shape "
                           r"\(2, 3, 3, 4\), got \(2, 5\)"),
    ((2, 3, 3, 4), (1, 4), r"channel_scale: s must have shape \(N, C\) = \(2, 4\) .*, got \(1, 4\)"),
    ((2, 3, 3, 4), (2, 1, 1, 4), r"channel_scale: s must have shape \(N, C\) = \(2, 4\) .*, got \(2, 1, 1, 4\)"),
    ((2, 3, 4), (2, 4), r"channel_scale: input must have 4 dimensions \(N, H, W, C\), got shape \(2, 3, 4\)"),
])
def test_bad_shapes_are_refused_naming_the_op_and_both_shapes(x_shape, s_shape, message):
    with pytest.raises(ValueError, match=message):
        F.channel_scale(np.ones(x_shape, np.float32), np.ones(s_shape, np.float32))


def test_integer_scales_are_refused_naming_the_argument():
    with pytest.raises(TypeError, match=r"channel_scale: s must hold floats \(float32 or float64\), got dtype int64"):
        F.channel_scale(np.ones((1, 2, 2, 3), np.float32), np.ones((1, 3), np.int64))


# ----------------------------------------------------------------------------- the layer


def test_squeeze_excite_gates_with_the_op_and_gives_the_numbers_of_x_times_s():
    se = nn.SqueezeExcite(6, 2, rng=0)
    x, _, dy = inputs(9, (2, 4, 5, 6))

    def by_hand(t):
        s = F.global_avg_pool2d(t).reshape(2, 1, 1, 6)
        return t * se.expand(se.reduce(s))
    got, want = [], []
    for run, into in ((se, got), (by_hand, want)):
        se.zero_grad()
        xt = tc.Tensor(x, requires_grad=True)
        y = run(xt)
        y.backward(dy)
        into.extend([y.data, xt.grad] + [p.grad.copy() for p in se.parameters()])
    np.testing.assert_array_equal(got[0], want[0])            # the forward: bit for bit
    for g, w in zip(got[1:], want[1:]):                       # ds only summed in another order
        close_sums(g, w, np.float32)
    assert se(tc.Tensor(x, requires_grad=True))._node.function is F.ChannelScaleOp
