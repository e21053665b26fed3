"""Bad input gets a clear error naming the op, what it expected and what it got."""

import numpy as np
import pytest

import tinycnn.functional as F

pytestmark = pytest.mark.nojit   # also run with NUMBA_DISABLE_JIT=1 in CI


def f32(*shape):
    return np.ones(shape, dtype=np.float32)


# (the call, the exception it must raise, the message it must match), grouped by what is wrong
BAD_CALLS = {
    # wrong rank
    "conv2d-rank": (lambda: F.conv2d(f32(5, 5, 3), f32(3, 3, 3, 8)),
                    ValueError, r"conv2d: input must have 4 dimensions .*got shape \(5, 5, 3\)"),
    "depthwise-weight-rank": (lambda: F.depthwise_conv2d(f32(1, 5, 5, 3), f32(3, 3, 3, 1)),
                              ValueError, r"depthwise_conv2d: weight must have 3 dimensions"),
    "max_pool-rank": (lambda: F.max_pool2d(f32(5, 5)),
                      ValueError, r"max_pool2d: input must have 4 dimensions"),
    # channel mismatch
    "conv2d-channels": (lambda: F.conv2d(f32(1, 5, 5, 4), f32(3, 3, 3, 8)),
                        ValueError, r"conv2d: input has 4 channels but the weight expects C_in = 3"),
    "depthwise-channels": (lambda: F.depthwise_conv2d(f32(1, 5, 5, 4), f32(3, 3, 3)),
                           ValueError, r"depthwise_conv2d: input has 4 channels but the weight has 3"),
    "pointwise-channels": (lambda: F.pointwise_conv2d(f32(1, 5, 5, 4), f32(2, 8)),
                           ValueError, r"pointwise_conv2d: input has 4 channels .* C_in = 2"),
    "linear-features": (lambda: F.linear(f32(2, 5), f32(4, 3)),
                        ValueError, r"linear: input has 5 features but the weight expects 4"),
    "conv2d-bias-shape": (lambda: F.conv2d(f32(1, 5, 5, 3), f32(3, 3, 3, 8), f32(3)),
                          ValueError, r"conv2d: bias must have shape \(8,\), got \(3,\)"),
    # kernel larger than the padded input
    "conv2d-kernel-too-large": (lambda: F.conv2d(f32(1, 4, 9, 1), f32(5, 3, 1, 1)),
                                ValueError, r"conv2d: kernel height 5 is larger than the padded input height 4"),
    # stride below one
    "conv2d-stride-0": (lambda: F.conv2d(f32(1, 5, 5, 1), f32(3, 3, 1, 1), stride=0),
                        ValueError, r"conv2d: stride must be >= 1, got 0"),
    "depthwise-stride-negative": (lambda: F.depthwise_conv2d(f32(1, 5, 5, 1), f32(3, 3, 1), stride=(1, -2)),
                                  ValueError, r"depthwise_conv2d: stride must be >= 1"),
    # unknown padding
    "conv2d-padding-full": (lambda: F.conv2d(f32(1, 5, 5, 1), f32(3, 3, 1, 1), padding="full"),
                            ValueError, r"conv2d: unknown padding 'full'"),
    "avg_pool-padding-3-tuple": (lambda: F.avg_pool2d(f32(1, 5, 5, 1), padding=(1, 2, 3)),
                                 ValueError, r"avg_pool2d: padding must be"),
    # data that is not floating point
    "conv2d-int64": (lambda: F.conv2d(np.ones((1, 5, 5, 1), dtype=np.int64), f32(3, 3, 1, 1)),
                     TypeError, r"conv2d: x must hold floats .* got dtype int64"),
    "relu-bool": (lambda: F.relu(np.array([True, False])),
                  TypeError, r"relu: x must hold floats"),
    # NaN or inf in loss inputs
    "cross_entropy-nan": (lambda: F.cross_entropy(np.array([[0.0, np.nan]]), np.array([1])),
                          ValueError, r"cross_entropy: logits contains NaN or inf"),
    "bce-inf": (lambda: F.binary_cross_entropy_with_logits(np.array([np.inf]), np.array([1.0])),
                ValueError, r"binary_cross_entropy_with_logits: logits contains NaN or inf"),
    # bad labels and targets
    "cross_entropy-label-range": (lambda: F.cross_entropy(f32(2, 3), np.array([0, 3])),
                                  ValueError, r"cross_entropy: labels must be in \[0, 2\]"),
    "bce-target-shape": (lambda: F.binary_cross_entropy_with_logits(f32(4), np.ones(3)),
                         ValueError, r"targets must have the logits' shape"),
    "bce-target-range": (lambda: F.binary_cross_entropy_with_logits(f32(2), np.array([0.0, 2.0])),
                         ValueError, r"targets must be finite values in \[0, 1\]"),
    # parameter shapes and ranges
    "batch_norm-gamma-shape": (lambda: F.batch_norm(f32(2, 4, 4, 3), f32(2), f32(3), f32(3), f32(3), training=True),
                               ValueError, r"batch_norm: gamma must have shape \(3,\)"),
    "dropout-rate-1": (lambda: F.dropout(f32(3), 1, training=True),
                       ValueError, r"dropout: rate must be in \[0, 1\), got 1"),
}


@pytest.mark.parametrize("case", BAD_CALLS)
def test_bad_input_is_refused_with_a_clear_message(case):
    call, error, message = BAD_CALLS[case]
    with pytest.raises(error, match=message):
        call()


def test_padding_makes_a_large_kernel_fit():
    F.conv2d(f32(1, 4, 9, 1), f32(5, 3, 1, 1), padding=1)    # refused above without padding
