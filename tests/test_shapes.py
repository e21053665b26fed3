"""Output shapes from the lecture, computed by running the ops (not by restating the formula)."""

import numpy as np
import pytest

import tinycnn.functional as F
from tinycnn.kernels.shapes import conv_output_size, resolve_padding


def zeros(*shape):
    return np.zeros(shape, dtype=np.float32)


def test_standard_conv_32x32x3_valid_gives_30x30():
    y = F.conv2d(zeros(1, 32, 32, 3), zeros(3, 3, 3, 32))
    assert y.shape == (1, 30, 30, 32)


def test_standard_conv_has_864_weights_depthwise_has_27():
    assert zeros(3, 3, 3, 32).size == 864          # (3 x 3 x 3) x 32
    assert zeros(3, 3, 3).size == 27               # (3 x 3 x 1) x 3
    assert F.depthwise_conv2d(zeros(1, 5, 5, 3), zeros(3, 3, 3)).shape == (1, 3, 3, 3)


@pytest.mark.parametrize("h, c, expected", [(224, 32, 222), (5, 4, 3), (14, 124, 12)])
def test_depthwise_3x3_valid_keeps_channels(h, c, expected):
    y = F.depthwise_conv2d(zeros(1, h, h, c), zeros(3, 3, c))
    assert y.shape == (1, expected, expected, c)


def test_stride_2_same_halves_224_to_112():
    assert F.conv2d(zeros(1, 224, 224, 1), zeros(3, 3, 1, 2), stride=2, padding="same").shape == (1, 112, 112, 2)
    assert F.depthwise_conv2d(zeros(1, 224, 224, 2), zeros(3, 3, 2), stride=2, padding="same").shape == (1, 112, 112, 2)


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
