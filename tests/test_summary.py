"""tc.summary: Keras 3 layout, sizes, expanded blocks, multiply-add counts."""

import numpy as np
import pytest

import tinycnn as tc
from tinycnn import nn
from tinycnn.models import efficientnet_b0, mobilenet_v1, pneumonia_net, vgg_like
from tinycnn.summary import count_macs, count_params, readable_memory_size, summary, summary_rows


@pytest.fixture(scope="module")
def vgg_text():
    return summary(vgg_like(), (224, 224, 3))


def test_vgg_summary_layout(vgg_text):
    lines = vgg_text.splitlines()
    assert lines[0] == 'Model: "sequential"'
    assert lines[1].startswith("┏") and lines[3].startswith("┡")
    header = [c.strip() for c in lines[2].strip("┃").split("┃")]
    assert header == ["Layer (type)", "Output Shape", "Param #"]
    body = [line for line in lines if line.startswith("│")]
    assert len(body) == 19
    first = [c.strip() for c in body[0].strip("│").split("│")]
    assert first == ["conv2d (Conv2D)", "(None, 224, 224, 32)", "896"]
    assert [c.strip() for c in body[16].strip("│").split("│")] == ["dense (Dense)", "(None, 1024)", "25,691,136"]
    assert lines[-3:] == [" Total params: 31,463,210 (120.02 MB)",
                          " Trainable params: 31,463,210 (120.02 MB)",
                          " Non-trainable params: 0 (0.00 B)"]
    assert len({len(line) for line in lines[1:-3]}) == 1          # a rectangular table
    assert "├" in lines[5] and lines[-4].startswith("└")


def test_readable_memory_size_matches_keras():
    assert readable_memory_size(0) == "0.00 B"
    assert readable_memory_size(1023) == "1023.00 B"
    assert readable_memory_size(1024) == "1.00 KB"
    assert readable_memory_size(31463210 * 4) == "120.02 MB"
    assert readable_memory_size(3 * 1024 ** 3) == "3.00 GB"


def test_mobilenet_and_efficientnet_totals_in_summary():
    text = summary(mobilenet_v1())
    assert text.splitlines()[-3:] == [" Total params: 4,253,864 (16.23 MB)",
                                      " Trainable params: 4,231,976 (16.14 MB)",
                                      " Non-trainable params: 21,888 (85.50 KB)"]
    assert "conv_dw_1 (DepthwiseConv2D)" in text and "conv1_bn (BatchNormalization)" in text
    b0 = efficientnet_b0()
    assert summary(b0).splitlines()[-3:] == [" Total params: 5,330,564 (20.33 MB)",
                                             " Trainable params: 5,288,548 (20.17 MB)",
                                             " Non-trainable params: 42,016 (164.12 KB)"]


def test_blocks_one_row_or_expanded():
    b0 = efficientnet_b0()
    rows = summary_rows(b0)
    block = next(r for r in rows if r["name"] == "block2a")
    assert block["type"] == "MBConv" and block["output_shape"] == (None, 56, 56, 24)
    assert block["params"] == 6436 and block["non_trainable"] == 2 * (96 + 96 + 24)
    expanded = summary_rows(b0, expand=True)
    children = [r for r in expanded if r["name"].startswith("block2a_") and r["depth"] == 1]
    assert [r["name"] for r in children][:4] == ["block2a_expand_conv", "block2a_expand_bn",
                                                 "block2a_expand_activation", "block2a_dwconv"]
    assert sum(r["params"] for r in children) == block["params"]
    dw = next(r for r in children if r["name"] == "block2a_dwconv")
    assert dw["output_shape"] == (None, 56, 56, 96)
    se_rows = [r for r in expanded if r["name"].startswith("block2a_se_")]
    assert [(r["name"], r["output_shape"], r["depth"]) for r in se_rows] == [
        ("block2a_se_reduce", (None, 1, 1, 4), 2), ("block2a_se_expand", (None, 1, 1, 96), 2)]
    text = summary(b0, expand=True)
    assert "   └ block2a_dwconv (DepthwiseConv2D)" in text
    assert text.splitlines()[-3] == " Total params: 5,330,564 (20.33 MB)"


def test_count_params_and_macs():
    assert count_params(pneumonia_net())["total"] == pneumonia_net().count_params()
    conv = nn.Conv2D(3, 32, 3)
    assert count_macs(conv, (32, 32, 3)) == 30 * 30 * 3 * 3 * 3 * 32
    # depthwise separable vs standard: ratio 1/N + 1/D_K^2 (MobileNet eq. 5)
    for n, k in [(64, 3), (128, 5), (7, 3)]:
        standard = count_macs(nn.Conv2D(32, n, k, padding="same"), (56, 56, 32))
        separable = count_macs(nn.Sequential([nn.DepthwiseConv2D(32, k, padding="same"),
                                              nn.Conv2D(32, n, 1)]), (56, 56, 32))
        assert separable / standard == pytest.approx(1 / n + 1 / k ** 2, rel=1e-12)
        assert count_macs(nn.SeparableConv2D(32, n, k, padding="same"), (56, 56, 32)) == separable
    # MobileNetV1 at 224: about 569M multiply-adds (paper, Table 4), 4.2M parameters
    assert count_macs(mobilenet_v1()) == pytest.approx(569e6, rel=0.01)
    # EfficientNet-B0: 0.39B FLOPs in the paper (multiply-adds)
    assert count_macs(efficientnet_b0()) == pytest.approx(0.39e9, rel=0.02)


def test_summary_of_a_single_layer_and_errors():
    rows = summary_rows(nn.Conv2D(3, 8, 3), (10, 10, 3))
    assert rows[0]["output_shape"] == (None, 8, 8, 8) and rows[0]["params"] == 224
    with pytest.raises(ValueError, match="input_shape"):
        summary(nn.Sequential([nn.ReLU()]))


def test_summary_of_a_model_with_shape_argument_does_not_change_model():
    model = vgg_like(input_shape=(64, 64, 3), head="gap")
    text = summary(model, (64, 64, 3))
    assert "(None, 2, 2, 512)" in text and model.input_shape == (64, 64, 3)
    assert "(None, 4, 4, 512)" in summary(model, (128, 128, 3))      # another input size
    assert model.input_shape == (64, 64, 3)
    y = model(tc.Tensor(np.zeros((1, 64, 64, 3), np.float32)))
    assert y.shape == (1, 10)
