"""Bad input gets a clear error naming the op, what it expected and what it got."""

import numpy as np
import pytest

import tinycnn.functional as F

pytestmark = pytest.mark.nojit   # also run with NUMBA_DISABLE_JIT=1 in CI


def f32(*shape):
    return np.ones(shape, dtype=np.float32)


def test_wrong_rank():
    with pytest.raises(ValueError, match=r"conv2d: input must have 4 dimensions .*got shape \(5, 5, 3\)"):
        F.conv2d(f32(5, 5, 3), f32(3, 3, 3, 8))
    with pytest.raises(ValueError, match=r"depthwise_conv2d: weight must have 3 dimensions"):
        F.depthwise_conv2d(f32(1, 5, 5, 3), f32(3, 3, 3, 1))
    with pytest.raises(ValueError, match=r"max_pool2d: input must have 4 dimensions"):
        F.max_pool2d(f32(5, 5))


def test_channel_mismatch():
    with pytest.raises(ValueError, match=r"conv2d: input has 4 channels but the weight expects C_in = 3"):
        F.conv2d(f32(1, 5, 5, 4), f32(3, 3, 3, 8))
    with pytest.raises(ValueError, match=r"depthwise_conv2d: input has 4 channels but the weight has 3"):
        F.depthwise_conv2d(f32(1, 5, 5, 4), f32(3, 3, 3))
    with pytest.raises(ValueError, match=r"pointwise_conv2d: input has 4 channels .* C_in = 2"):
        F.pointwise_conv2d(f32(1, 5, 5, 4), f32(2, 8))
    with pytest.raises(ValueError, match=r"linear: input has 5 features but the weight expects 4"):
        F.linear(f32(2, 5), f32(4, 3))
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(8,\), got \(3,\)"):
        F.conv2d(f32(1, 5, 5, 3), f32(3, 3, 3, 8), f32(3))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"conv2d: kernel height 5 is larger than the padded input height 4"):
        F.conv2d(f32(1, 4, 9, 1), f32(5, 3, 1, 1))
    F.conv2d(f32(1, 4, 9, 1), f32(5, 3, 1, 1), padding=1)    # padding makes it fit


def test_stride_below_one():
    with pytest.raises(ValueError, match=r"conv2d: stride must be >= 1, got 0"):
        F.conv2d(f32(1, 5, 5, 1), f32(3, 3, 1, 1), stride=0)
    with pytest.raises(ValueError, match=r"depthwise_conv2d: stride must be >= 1"):
        F.depthwise_conv2d(f32(1, 5, 5, 1), f32(3, 3, 1), stride=(1, -2))


def test_unknown_padding():
    with pytest.raises(ValueError, match=r"conv2d: unknown padding 'full'"):
        F.conv2d(f32(1, 5, 5, 1), f32(3, 3, 1, 1), padding="full")
    with pytest.raises(ValueError, match=r"avg_pool2d: padding must be"):
        F.avg_pool2d(f32(1, 5, 5, 1), padding=(1, 2, 3))


def test_non_float_data():
    with pytest.raises(TypeError, match=r"conv2d: x must hold floats .* got dtype int64"):
        F.conv2d(np.ones((1, 5, 5, 1), dtype=np.int64), f32(3, 3, 1, 1))
    with pytest.raises(TypeError, match=r"relu: x must hold floats"):
        F.relu(np.array([True, False]))


def test_nan_or_inf_in_loss_inputs():
    with pytest.raises(ValueError, match=r"cross_entropy: logits contains NaN or inf"):
        F.cross_entropy(np.array([[0.0, np.nan]]), np.array([1]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: logits contains NaN or inf"):
        F.binary_cross_entropy_with_logits(np.array([np.inf]), np.array([1.0]))


def test_bad_labels_and_targets():
    with pytest.raises(ValueError, match=r"cross_entropy: labels must be in \[0, 2\]"):
        F.cross_entropy(f32(2, 3), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"targets must have the logits' shape"):
        F.binary_cross_entropy_with_logits(f32(4), np.ones(3))
    with pytest.raises(ValueError, match=r"targets must be finite values in \[0, 1\]"):
        F.binary_cross_entropy_with_logits(f32(2), np.array([0.0, 2.0]))


def test_batch_norm_parameter_shapes():
    with pytest.raises(ValueError, match=r"batch_norm: gamma must have shape \(3,\)"):
        F.batch_norm(f32(2, 4, 4, 3), f32(2), f32(3), f32(3), f32(3), training=True)


def test_dropout_rate_range():
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\), got 1"):
        F.dropout(f32(3), 1, training=True)
