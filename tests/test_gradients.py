"""Every differentiable op: analytic gradients == central finite differences (float64, all entries)."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tinycnn as tc
import tinycnn.functional as F
from gradcheck import check_gradients
from tinycnn.kernels.shapes import as_pair, resolve_padding

PADDINGS = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.integers(0, 2),
    st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
              st.tuples(st.integers(0, 2), st.integers(0, 2))),
)


@st.composite
def image_geometry(draw, max_kernel=5):
    """A random (N, H, W, C), kernel (K_h, K_w), stride and padding where the kernel fits."""
    n, h, w, c = draw(st.integers(1, 2)), draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = draw(st.integers(1, 3))
    padding = draw(PADDINGS)
    pads = resolve_padding(padding, (h, w), kernel, as_pair(stride, "stride", "test"))
    assume(h + sum(pads[0]) >= kernel[0] and w + sum(pads[1]) >= kernel[1])
    return (n, h, w, c), kernel, stride, padding


def rng_for(seed):
    return np.random.default_rng(seed)


SEEDS = st.integers(0, 2**16)


@given(image_geometry(), st.integers(1, 3), st.booleans(), SEEDS)
def test_conv2d_gradients(geometry, filters, with_bias, seed):
    shape, kernel, stride, padding = geometry
    rng = rng_for(seed)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((*kernel, shape[3], filters))
    if with_bias:
        check_gradients(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding),
                        x, w, rng.standard_normal(filters))
    else:
        check_gradients(lambda x, w: F.conv2d(x, w, stride=stride, padding=padding), x, w)


@given(image_geometry(), SEEDS)
def test_depthwise_conv2d_gradients(geometry, seed):
    shape, kernel, stride, padding = geometry
    rng = rng_for(seed)
    check_gradients(lambda x, w, b: F.depthwise_conv2d(x, w, b, stride=stride, padding=padding),
                    rng.standard_normal(shape), rng.standard_normal((*kernel, shape[3])),
                    rng.standard_normal(shape[3]))


@given(st.integers(1, 2), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4), SEEDS)
def test_pointwise_conv2d_gradients(n, h, w, c_in, c_out, seed):
    rng = rng_for(seed)
    check_gradients(F.pointwise_conv2d, rng.standard_normal((n, h, w, c_in)),
                    rng.standard_normal((c_in, c_out)), rng.standard_normal(c_out))


def fits_pool(geometry):
    """Pools accept padding of at most half the window on each side (as PyTorch)."""
    (n, h, w, c), size, stride, padding = geometry
    pads = resolve_padding(padding, (h, w), size, (stride, stride))
    return all(max(p) <= k // 2 for p, k in zip(pads, size))


@given(image_geometry(max_kernel=3), SEEDS)
def test_max_pool2d_gradients(geometry, seed):
    shape, size, stride, padding = geometry
    assume(fits_pool(geometry))
    x = rng_for(seed).permutation(np.prod(shape)).reshape(shape) * 0.1   # distinct values: no ties
    check_gradients(lambda x: F.max_pool2d(x, size, stride, padding), x)


@given(image_geometry(max_kernel=3), SEEDS)
def test_avg_pool2d_gradients(geometry, seed):
    shape, size, stride, padding = geometry
    assume(fits_pool(geometry))
    check_gradients(lambda x: F.avg_pool2d(x, size, stride, padding), rng_for(seed).standard_normal(shape))


@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4), SEEDS)
def test_global_avg_pool2d_gradients(n, h, w, c, seed):
    check_gradients(F.global_avg_pool2d, rng_for(seed).standard_normal((n, h, w, c)))


@pytest.mark.parametrize("activation", [F.relu, F.relu6, F.sigmoid, F.tanh, F.silu])
@given(st.integers(1, 30), SEEDS)
def test_activation_gradients(activation, size, seed):
    x = rng_for(seed).uniform(-8, 8, size)
    assume(np.all(np.abs(x) > 1e-3) and np.all(np.abs(x - 6) > 1e-3))   # away from the kinks
    check_gradients(activation, x)


@pytest.mark.parametrize("op", [F.softmax, F.log_softmax])
@given(st.integers(1, 4), st.integers(1, 5), st.sampled_from([-1, 0]), SEEDS)
def test_softmax_gradients(op, rows, cols, axis, seed):
    check_gradients(lambda x: op(x, axis=axis), rng_for(seed).standard_normal((rows, cols)) * 3)


@given(st.integers(2, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.booleans(), SEEDS)
def test_batch_norm_train_gradients(n, h, w, c, image_input, seed):
    rng = rng_for(seed)
    shape = (n, h, w, c) if image_input else (n * h, c)
    x = rng.standard_normal(shape) * 2 + 1
    running_mean, running_var = np.zeros(c), np.ones(c)
    check_gradients(lambda x, g, b: F.batch_norm(x, g, b, running_mean, running_var, training=True),
                    x, rng.standard_normal(c), rng.standard_normal(c), rtol=1e-4, atol=1e-6)


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), SEEDS)
def test_batch_norm_eval_gradients(n, h, c, seed):
    rng = rng_for(seed)
    mean, var = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    check_gradients(lambda x, g, b: F.batch_norm(x, g, b, mean, var, training=False),
                    rng.standard_normal((n, h, h, c)), rng.standard_normal(c), rng.standard_normal(c))


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), SEEDS)
def test_linear_gradients(n, fan_in, fan_out, seed):
    rng = rng_for(seed)
    check_gradients(F.linear, rng.standard_normal((n, fan_in)), rng.standard_normal((fan_in, fan_out)),
                    rng.standard_normal(fan_out))


@given(st.integers(1, 3), st.integers(1, 5), SEEDS)
def test_dropout_gradients(n, d, seed):
    x = rng_for(seed).standard_normal((n, d))
    check_gradients(lambda x: F.dropout(x, 0.4, training=True, rng=np.random.default_rng(seed)), x)


@given(st.integers(1, 5), st.integers(2, 4), st.booleans(), SEEDS)
def test_cross_entropy_gradients(n, classes, weighted, seed):
    rng = rng_for(seed)
    labels = rng.integers(0, classes, n)
    weight = rng.uniform(0.5, 2, classes) if weighted else None
    check_gradients(lambda z: F.cross_entropy(z, labels, weight=weight), rng.standard_normal((n, classes)) * 3)


@given(st.integers(1, 6), st.sampled_from([None, 0.3, 2.9]), SEEDS)
def test_binary_cross_entropy_gradients(n, pos_weight, seed):
    rng = rng_for(seed)
    targets = rng.integers(0, 2, n).astype(np.float64)
    check_gradients(lambda z: F.binary_cross_entropy_with_logits(z, targets, pos_weight=pos_weight),
                    rng.standard_normal(n) * 4)


# --------------------------------------------------------------------------- tensor ops


@given(SEEDS)
def test_broadcasting_arithmetic_gradients(seed):
    rng = rng_for(seed)
    a, b, c = rng.standard_normal((3, 1)), rng.standard_normal(4), rng.uniform(1, 2, (1, 4))
    check_gradients(lambda a, b, c: (a + b) * c - a / c + (-b), a, b, c)


@given(SEEDS)
def test_matmul_pow_exp_log_gradients(seed):
    rng = rng_for(seed)
    check_gradients(lambda a, b: (a @ b) ** 2 + (a @ b).exp() + (a @ b).maximum(b[:1]) * 0.5,
                    rng.standard_normal((2, 3)), rng.standard_normal((3, 4)))
    check_gradients(lambda a: a.log(), rng.uniform(0.5, 3, (3, 2)))


@given(st.sampled_from([None, 0, 1, (0, 2), -1]), st.booleans(), SEEDS)
def test_sum_mean_gradients(axis, keepdims, seed):
    x = rng_for(seed).standard_normal((2, 3, 4))
    check_gradients(lambda x: x.sum(axis=axis, keepdims=keepdims) + x.mean(axis=axis, keepdims=keepdims) * 3, x)


@given(SEEDS)
def test_reshape_transpose_index_concat_gradients(seed):
    x = rng_for(seed).standard_normal((2, 3, 4))
    check_gradients(lambda x: x.reshape(6, 4).T[1:3], x)
    check_gradients(lambda x: x.transpose(2, 0, 1)[..., np.array([0, 0, 2])], x)   # repeated index
    check_gradients(lambda x, y: tc.concatenate([x, y * 2, x], axis=1), x, rng_for(seed + 1).standard_normal((2, 1, 4)))


@pytest.mark.parametrize("activation", list(F.ACTIVATIONS))
@given(image_geometry(max_kernel=3), SEEDS)
def test_conv2d_with_fused_bias_activation_gradients(activation, geometry, seed):
    shape, kernel, stride, padding = geometry
    rng = rng_for(seed)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((*kernel, shape[3], 2)), rng.standard_normal(2)
    z = F.conv2d(x, w, b, stride=stride, padding=padding).data
    assume(np.all(np.abs(z) > 1e-3) and np.all(np.abs(z - 6) > 1e-3))    # away from relu/relu6 kinks
    check_gradients(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding, activation=activation),
                    x, w, b)


@pytest.mark.parametrize("activation", [name for name, entry in F.ACTIVATIONS.items() if entry.function])
def test_fused_epilogue_equals_separate_ops(activation):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32) * 4
    w = rng.standard_normal((3, 3, 3, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    fused = F.conv2d(x, w, b, padding="same", activation=activation)
    separate = F.activate(F.conv2d(x, w, padding="same") + b, activation)
    np.testing.assert_allclose(fused.data, separate.data, rtol=1e-5, atol=1e-5)
    xd = rng.standard_normal((4, 7))
    wd = rng.standard_normal((7, 3))
    np.testing.assert_allclose(F.linear(xd, wd, activation=activation).data,
                               F.activate(F.linear(xd, wd), activation).data, rtol=1e-12)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        F.linear(xd, wd, activation="gelu")
