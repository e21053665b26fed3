"""Output shapes from the lecture, computed by running the ops (not by restating the formula)."""

import numpy as np
import pytest

import tinycnn.functional as F
from tinycnn.kernels.shapes import conv_output_size, resolve_padding


def zeros(*shape):
    return np.zeros(shape, dtype=np.float32)


# (the op run on zeros, the output shape it must have): the lecture's figures
OP_SHAPES = {
    "conv-32x32x3-valid-30x30": (lambda: F.conv2d(zeros(1, 32, 32, 3), zeros(3, 3, 3, 32)), (1, 30, 30, 32)),
    "depthwise-5x5x3-valid": (lambda: F.depthwise_conv2d(zeros(1, 5, 5, 3), zeros(3, 3, 3)), (1, 3, 3, 3)),
    "depthwise-224x224x32-valid": (lambda: F.depthwise_conv2d(zeros(1, 224, 224, 32), zeros(3, 3, 32)),
                                   (1, 222, 222, 32)),
    "depthwise-5x5x4-valid": (lambda: F.depthwise_conv2d(zeros(1, 5, 5, 4), zeros(3, 3, 4)), (1, 3, 3, 4)),
    "depthwise-14x14x124-valid": (lambda: F.depthwise_conv2d(zeros(1, 14, 14, 124), zeros(3, 3, 124)),
                                  (1, 12, 12, 124)),
    "conv-stride2-same-224-112": (lambda: F.conv2d(zeros(1, 224, 224, 1), zeros(3, 3, 1, 2), stride=2, padding="same"),
                                  (1, 112, 112, 2)),
    "depthwise-stride2-same-224-112": (
        lambda: F.depthwise_conv2d(zeros(1, 224, 224, 2), zeros(3, 3, 2), stride=2, padding="same"), (1, 112, 112, 2)),
    "max_pool-224-112": (lambda: F.max_pool2d(zeros(1, 224, 224, 2)), (1, 112, 112, 2)),
    "avg_pool-7-size3-stride2": (lambda: F.avg_pool2d(zeros(1, 7, 7, 3), size=3, stride=2), (1, 3, 3, 3)),
    "global_avg_pool-7x7x1024": (lambda: F.global_avg_pool2d(zeros(2, 7, 7, 1024)), (2, 1024)),
}


@pytest.mark.parametrize("case", OP_SHAPES)
def test_op_output_shape(case):
    run, expected = OP_SHAPES[case]
    assert run().shape == expected


def test_standard_conv_has_864_weights_depthwise_has_27():
    assert zeros(3, 3, 3, 32).size == 864          # (3 x 3 x 3) x 32
    assert zeros(3, 3, 3).size == 27               # (3 x 3 x 1) x 3


def test_same_padding_is_keras_style_extra_at_bottom_right():
    # H = 224, K = 3, S = 2: H_out = 112, total padding = (112 - 1) * 2 + 3 - 224 = 1 -> (0, 1)
    assert resolve_padding("same", (224, 224), (3, 3), (2, 2)) == ((0, 1), (0, 1))
    assert resolve_padding("same", (7, 7), (4, 4), (1, 1)) == ((1, 2), (1, 2))


def test_pooling_and_gap_shapes():
    assert F.max_pool2d(zeros(1, 224, 224, 2)).shape == (1, 112, 112, 2)
    assert F.avg_pool2d(zeros(1, 7, 7, 3), size=3, stride=2).shape == (1, 3, 3, 3)
    assert F.global_avg_pool2d(zeros(2, 7, 7, 1024)).shape == (2, 1024)


@pytest.mark.parametrize("h, k, s, pt, pb", [(32, 3, 1, 0, 0), (224, 3, 2, 0, 1), (7, 5, 3, 2, 2), (9, 2, 2, 0, 0)])
def test_conv_output_size_matches_running_the_op(h, k, s, pt, pb):
    y = F.conv2d(zeros(1, h, h, 1), zeros(k, k, 1, 1), stride=s, padding=((pt, pb), (pt, pb)))
    assert y.shape[1] == conv_output_size(h, k, s, pt, pb) == (h + pt + pb - k) // s + 1
