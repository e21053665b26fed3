"""The model zoo reproduces the lecture's / papers' figures, trains, and matches PyTorch."""

import numpy as np
import pytest

import tinycnn as tc
from tinycnn import nn
from tinycnn.models import (compress_table, efficientnet, efficientnet_b0, efficientnet_stage_outputs,
                            efficientnet_stage_table, efficientnet_variant, mobilenet_table,
                            mobilenet_v1, pneumonia_net, round_filters, round_repeats, vgg_like)
from tinycnn.summary import summary_rows

# The lecture's table, as typed on the slide ("Why GAP makes sense").
LECTURE_VGG = [
    ("conv2d", "Conv2D", (None, 224, 224, 32), 896),
    ("conv2d_1", "Conv2D", (None, 224, 224, 32), 9248),
    ("max_pooling2d", "MaxPooling2D", (None, 112, 112, 32), 0),
    ("conv2d_2", "Conv2D", (None, 112, 112, 64), 18496),
    ("conv2d_3", "Conv2D", (None, 112, 112, 64), 36928),
    ("max_pooling2d_1", "MaxPooling2D", (None, 56, 56, 64), 0),
    ("conv2d_4", "Conv2D", (None, 56, 56, 128), 73856),
    ("conv2d_5", "Conv2D", (None, 56, 56, 128), 147584),
    ("max_pooling2d_2", "MaxPooling2D", (None, 28, 28, 128), 0),
    ("conv2d_6", "Conv2D", (None, 28, 28, 256), 295168),
    ("conv2d_7", "Conv2D", (None, 28, 28, 256), 590080),
    ("max_pooling2d_3", "MaxPooling2D", (None, 14, 14, 256), 0),
    ("conv2d_8", "Conv2D", (None, 14, 14, 512), 1180160),
    ("conv2d_9", "Conv2D", (None, 14, 14, 512), 2359888),     # slide typo: see the test
    ("max_pooling2d_4", "MaxPooling2D", (None, 7, 7, 512), 0),
    ("flatten", "Flatten", (None, 25088), 0),
    ("dense", "Dense", (None, 1024), 25691136),
    ("dense_1", "Dense", (None, 1024), 1049600),
    ("dense_2", "Dense", (None, 10), 10250),
]
LECTURE_VGG_TOTAL = 31463210

# The lecture's MobileNet table (the paper's Table 1), in the slide's 22-row form.
LECTURE_MOBILENET = [
    ("Conv / s2", "3 × 3 × 3 × 32", "224 × 224 × 3"),
    ("Conv dw / s1", "3 × 3 × 32 dw", "112 × 112 × 32"),
    ("Conv / s1", "1 × 1 × 32 × 64", "112 × 112 × 32"),
    ("Conv dw / s2", "3 × 3 × 64 dw", "112 × 112 × 64"),
    ("Conv / s1", "1 × 1 × 64 × 128", "56 × 56 × 64"),
    ("Conv dw / s1", "3 × 3 × 128 dw", "56 × 56 × 128"),
    ("Conv / s1", "1 × 1 × 128 × 128", "56 × 56 × 128"),
    ("Conv dw / s2", "3 × 3 × 128 dw", "56 × 56 × 128"),
    ("Conv / s1", "1 × 1 × 128 × 256", "28 × 28 × 128"),
    ("Conv dw / s1", "3 × 3 × 256 dw", "28 × 28 × 256"),
    ("Conv / s1", "1 × 1 × 256 × 256", "28 × 28 × 256"),
    ("Conv dw / s2", "3 × 3 × 256 dw", "28 × 28 × 256"),
    ("Conv / s1", "1 × 1 × 256 × 512", "14 × 14 × 256"),
    ("5x Conv dw / s1", "3 × 3 × 512 dw", "14 × 14 × 512"),
    ("", "1 × 1 × 512 × 512", "14 × 14 × 512"),
    ("Conv dw / s2", "3 × 3 × 512 dw", "14 × 14 × 512"),
    ("Conv / s1", "1 × 1 × 512 × 1024", "7 × 7 × 512"),
    ("Conv dw / s2", "3 × 3 × 1024 dw", "7 × 7 × 1024"),      # the paper's typo: s1
    ("Conv / s1", "1 × 1 × 1024 × 1024", "7 × 7 × 1024"),
    ("Avg Pool / s1", "Pool 7 × 7", "7 × 7 × 1024"),
    ("FC / s1", "1024 × 1000", "1 × 1 × 1024"),
    ("Softmax / s1", "Classifier", "1 × 1 × 1000"),
]

# EfficientNet paper, Table 1 (stage, operator, resolution, channels, layers)
PAPER_EFFICIENTNET_B0 = [
    (1, "Conv3x3", "224x224", 32, 1),
    (2, "MBConv1, k3x3", "112x112", 16, 1),
    (3, "MBConv6, k3x3", "112x112", 24, 2),
    (4, "MBConv6, k5x5", "56x56", 40, 2),
    (5, "MBConv6, k3x3", "28x28", 80, 3),
    (6, "MBConv6, k5x5", "14x14", 112, 3),
    (7, "MBConv6, k5x5", "14x14", 192, 4),
    (8, "MBConv6, k3x3", "7x7", 320, 1),
    (9, "Conv1x1 & Pooling & FC", "7x7", 1280, 1),
]


@pytest.fixture(scope="module")
def vgg():
    return vgg_like()


@pytest.fixture(scope="module")
def b0():
    return efficientnet_b0()


# ---------------------------------------------------------------------- the lecture's plain CNN


def test_vgg_like_every_row_of_the_lecture_table(vgg):
    rows = [(r["name"], r["type"], r["output_shape"], r["params"]) for r in summary_rows(vgg)]
    assert len(rows) == len(LECTURE_VGG)
    for ours, slide in zip(rows, LECTURE_VGG):
        if slide[0] == "conv2d_9":
            # 3*3*512*512 + 512 = 2,359,808; the slide's 2,359,888 contradicts its own total
            assert ours[3] == 3 * 3 * 512 * 512 + 512 == 2359808
            assert sum(r[3] for r in LECTURE_VGG) - 80 == LECTURE_VGG_TOTAL
            assert ours[:3] == slide[:3]
        else:
            assert ours == slide
    counts = vgg.param_counts()
    assert (counts["total"], counts["trainable"], counts["non_trainable"]) == (31463210, 31463210, 0)
    assert vgg.output_shape() == (10,)


def test_gap_head_saving(vgg):
    gap = vgg_like(head="gap")
    assert vgg.get_layer("dense").count_params() == 25691136 == 25088 * 1024 + 1024
    assert gap.get_layer("dense").count_params() == 512 * 1024 + 1024
    assert vgg.count_params() - gap.count_params() == 25691136 - 525312
    assert gap.get_layer("global_average_pooling2d").output_shape((7, 7, 512)) == (512,)


# ---------------------------------------------------------------------- MobileNetV1


def test_mobilenet_v1_totals():
    counts = mobilenet_v1().param_counts()
    assert (counts["total"], counts["trainable"], counts["non_trainable"]) == (4253864, 4231976, 21888)


def test_mobilenet_table_equals_the_lecture_except_the_papers_stride_typo():
    model = mobilenet_v1()
    rows = mobilenet_table(model)
    assert len(rows) == 30                         # 27 convs + avg pool + FC + softmax
    layers = [r for r in rows if r[0].startswith(("Conv", "FC"))]
    assert len(layers) == 28                       # "MobileNet has 28 layers"
    compressed = compress_table(rows)
    assert len(compressed) == len(LECTURE_MOBILENET) == 22
    diffs = [(ours, slide) for ours, slide in zip(compressed, LECTURE_MOBILENET) if ours != slide]
    assert diffs == [(("Conv dw / s1", "3 × 3 × 1024 dw", "7 × 7 × 1024"),
                      ("Conv dw / s2", "3 × 3 × 1024 dw", "7 × 7 × 1024"))]
    # a stride of 2 there would leave 4x4, not the 7x7 that the next rows (and Avg Pool 7x7) need
    assert nn.DepthwiseConv2D(1024, 3, strides=2, padding="same").output_shape((7, 7, 1024))[:2] == (4, 4)


def test_mobilenet_small_variant_any_channels_single_logit():
    model = mobilenet_v1(input_shape=(64, 64, 1), num_classes=1, alpha=0.25)
    assert model.output_shape() == (1,)
    assert model.layers[0].kernel.shape == (3, 3, 1, 8)
    assert model.last_spatial_layer().name == "conv_pw_13_relu"
    assert model.last_spatial_layer().output_shape((2, 2, 256)) == (2, 2, 256)
    dm = mobilenet_v1(input_shape=(32, 32, 5), num_classes=3, alpha=0.5, depth_multiplier=2)
    assert dm.output_shape() == (3,)
    assert dm.get_layer("conv_dw_1").out_channels == 32


# ---------------------------------------------------------------------- EfficientNet


def test_efficientnet_b0_totals_and_stages(b0):
    counts = b0.param_counts()
    assert (counts["total"], counts["trainable"], counts["non_trainable"]) == (5330564, 5288548, 42016)
    assert efficientnet_stage_outputs(b0) == [
        (112, 112, 32), (112, 112, 16), (56, 56, 24), (28, 28, 40), (14, 14, 80), (14, 14, 112),
        (7, 7, 192), (7, 7, 320), (7, 7, 1280)]
    assert efficientnet_stage_table(b0) == PAPER_EFFICIENTNET_B0
    blocks = [layer for layer in b0.layers if isinstance(layer, nn.MBConv)]
    assert len(blocks) == 16
    assert [b.name for b in blocks[:3]] == ["block1a", "block2a", "block2b"]
    # drop-connect grows linearly: block b gets 0.2 * b / 16
    rates = [b.drop.rate if b.drop is not None else None for b in blocks]
    assert rates[2] == pytest.approx(0.2 * 2 / 16) and rates[-2] == pytest.approx(0.2 * 14 / 16)
    assert b0.last_spatial_layer().name == "top_activation"


def test_compound_scaling_rules():
    assert [round_filters(c, 1.0) for c in (32, 16, 24, 40, 80, 112, 192, 320, 1280)] == \
        [32, 16, 24, 40, 80, 112, 192, 320, 1280]
    assert round_filters(32, 1.4) == 48 and round_filters(1280, 1.2) == 1536
    assert round_filters(1280, 2.0) == 2560 and round_filters(16, 0.25) == 8
    assert round_repeats(3, 1.4) == 5 and round_repeats(1, 3.1) == 4
    b3 = efficientnet_variant("b3", num_classes=10)
    assert b3.input_shape == (300, 300, 3) and b3.get_layer("top_conv").filters == 1536


# ---------------------------------------------------------------------- training on small inputs

SMALL_MODELS = {
    "pneumonia_net": (lambda: pneumonia_net(), (64, 64, 1)),
    "mobilenet_v1_0.25": (lambda: mobilenet_v1(input_shape=(64, 64, 1), num_classes=1, alpha=0.25),
                          (64, 64, 1)),
    "efficientnet_b0_32px": (lambda: efficientnet_b0(input_shape=(32, 32, 3), num_classes=3), (32, 32, 3)),
    "efficientnet_tiny": (lambda: efficientnet(0.25, 0.34, 48, 0.2, 0.2, 1, (48, 48, 1), seed=1),
                          (48, 48, 1)),
    "vgg_like_gap": (lambda: vgg_like(input_shape=(32, 32, 3), num_classes=4, head="gap"), (32, 32, 3)),
}


@pytest.mark.parametrize("key", sorted(SMALL_MODELS))
def test_forward_backward_every_parameter_gets_gradient(key):
    build, shape = SMALL_MODELS[key]
    model = build()
    rng = np.random.default_rng(0)
    x = tc.Tensor(rng.standard_normal((4, *shape)).astype(np.float32))
    out = model(x)
    assert out.shape == (4, *model.output_shape(shape))
    if out.shape[1] == 1:
        loss = tc.functional.binary_cross_entropy_with_logits(out, np.array([[0], [1], [1], [0]], np.float32))
    else:
        loss = tc.functional.cross_entropy(out, np.arange(4) % out.shape[1])
    loss.backward()
    assert np.isfinite(loss.item())
    dead = [n for n, p in model.named_parameters() if p.grad is None or not np.any(p.grad)]
    assert dead == []
    model.eval()
    with tc.no_grad():
        a, b = model(x).data, model(x).data
    np.testing.assert_array_equal(a, b)


def test_same_seed_same_model_weights():
    a = mobilenet_v1(input_shape=(32, 32, 1), alpha=0.25, num_classes=2, seed=3).state_dict()
    b = mobilenet_v1(input_shape=(32, 32, 1), alpha=0.25, num_classes=2, seed=3).state_dict()
    c = mobilenet_v1(input_shape=(32, 32, 1), alpha=0.25, num_classes=2, seed=4).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.kernel"], c["conv1.kernel"])


def test_split_forward_gives_gradcam_ingredients():
    model = pneumonia_net(seed=2).eval()
    x = tc.Tensor(np.random.default_rng(1).standard_normal((2, 64, 64, 1)).astype(np.float32))
    layer = model.last_spatial_layer()
    assert layer.output_shape((8, 8, 128)) == (8, 8, 128)
    (act,), out = model.split_forward(x, model.index(layer))
    assert act.shape == (2, 8, 8, 128) and act.requires_grad
    np.testing.assert_allclose(out.data, model(x).data, rtol=1e-6)
    # the activation is the layer's own output on the same input
    np.testing.assert_array_equal(act.data, model[:model.index(layer) + 1](x).data)
    out.sum().backward()
    # the head is GAP -> dropout (eval) -> Dense(1): d out / d act = w / (8 * 8) everywhere
    w = model.get_layer("predictions").kernel.data[:, 0]
    np.testing.assert_allclose(act.grad, np.broadcast_to(w / 64, act.shape), rtol=1e-5)
    # nothing before the cut was part of the graph
    assert all(p.grad is None for p in model.layers[0].parameters())


# ---------------------------------------------------------------------- PyTorch parity


def _bn_to_torch(bn, tbn):
    import torch
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(bn.gamma.data))
        tbn.bias.copy_(torch.tensor(bn.beta.data))
        tbn.running_mean.copy_(torch.tensor(bn.moving_mean))
        tbn.running_var.copy_(torch.tensor(bn.moving_variance))


def _randomise(module, seed):
    rng = np.random.default_rng(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2D):
            m.gamma.data[:] = rng.uniform(0.5, 1.5, m.channels)
            m.beta.data[:] = rng.normal(0, 0.5, m.channels)
            m.moving_mean[:] = rng.normal(0, 0.3, m.channels)
            m.moving_variance[:] = rng.uniform(0.5, 2.0, m.channels)
        elif isinstance(m, nn.Conv2D) and m.bias is not None:
            m.bias.data[:] = rng.normal(0, 0.3, m.filters)


def _tf_same_pad(t, k, s):
    """Pad an NCHW torch tensor the way TF/Keras 'same' does (extra at the bottom/right)."""
    import torch.nn.functional as tF
    h = t.shape[2]
    out = -(-h // s)
    total = max((out - 1) * s + k - h, 0)
    return tF.pad(t, (total // 2, total - total // 2, total // 2, total - total // 2))


def _compare(ours, theirs, pairs, x, rng, training):
    import torch
    ours.train(training)
    theirs.train(training)
    xt = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    xo = tc.Tensor(x, requires_grad=True)
    y = ours(xo)
    yt = theirs(xt)
    np.testing.assert_allclose(y.data, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    ours.zero_grad()
    (y * tc.Tensor(dy)).sum().backward()
    (yt * torch.tensor(dy.transpose(0, 3, 1, 2).copy())).sum().backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    for name, (param, tparam, to_ours) in pairs.items():
        np.testing.assert_allclose(param.grad, to_ours(tparam.grad.numpy()), rtol=1e-4, atol=1e-4,
                                   err_msg=name)


def _conv_w(kernel):            # ours (KH, KW, Cin, Cout) -> torch (Cout, Cin, KH, KW)
    return kernel.transpose(3, 2, 0, 1).copy()


def _dw_w(kernel):              # ours (KH, KW, C, 1) -> torch (C, 1, KH, KW)
    return kernel[..., 0].transpose(2, 0, 1)[:, None].copy()


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("training", [True, False])
def test_mobilenet_block_matches_torch(stride, training):
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    C, Cout = 6, 10
    block = nn.Sequential([
        nn.DepthwiseConv2D(C, 3, strides=stride, padding="same" if stride == 1 else ((0, 1), (0, 1)),
                           use_bias=False, rng=0),
        nn.BatchNorm2D(C), nn.ReLU6(),
        nn.Conv2D(C, Cout, 1, padding="same", use_bias=False, rng=1),
        nn.BatchNorm2D(Cout), nn.ReLU6(),
    ])
    _randomise(block, 2)
    dw, bn1, _, pw, bn2, _ = block.layers

    class TorchBlock(tnn.Module):
        def __init__(self):
            super().__init__()
            self.dw = tnn.Conv2d(C, C, 3, stride=stride, groups=C, bias=False)
            self.bn1 = tnn.BatchNorm2d(C, eps=1e-3, momentum=0.01)
            self.pw = tnn.Conv2d(C, Cout, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(Cout, eps=1e-3, momentum=0.01)

        def forward(self, x):
            x = tnn.functional.pad(x, (1, 1, 1, 1) if stride == 1 else (0, 1, 0, 1))
            x = tnn.functional.relu6(self.bn1(self.dw(x)))
            return tnn.functional.relu6(self.bn2(self.pw(x)))

    t = TorchBlock()
    with torch.no_grad():
        t.dw.weight.copy_(torch.tensor(_dw_w(dw.kernel.data)))
        t.pw.weight.copy_(torch.tensor(_conv_w(pw.kernel.data)))
    _bn_to_torch(bn1, t.bn1)
    _bn_to_torch(bn2, t.bn2)
    pairs = {
        "dw": (dw.kernel, t.dw.weight, lambda g: g[:, 0].transpose(1, 2, 0)[..., None]),
        "pw": (pw.kernel, t.pw.weight, lambda g: g.transpose(2, 3, 1, 0)),
        "bn1.gamma": (bn1.gamma, t.bn1.weight, lambda g: g),
        "bn2.beta": (bn2.beta, t.bn2.bias, lambda g: g),
    }
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 8, 8, C)).astype(np.float32) * 2
    _compare(block, t, pairs, x, rng, training)


@pytest.mark.parametrize("config", [
    dict(in_channels=8, out_channels=8, kernel_size=3, stride=1, expand_ratio=3),
    dict(in_channels=8, out_channels=12, kernel_size=5, stride=2, expand_ratio=6),
    dict(in_channels=8, out_channels=8, kernel_size=3, stride=1, expand_ratio=1),
])
@pytest.mark.parametrize("training", [True, False])
def test_mbconv_matches_torch(config, training):
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    block = nn.MBConv(**config, rng=0)
    _randomise(block, 1)
    k, s, cin, cout = config["kernel_size"], config["stride"], config["in_channels"], config["out_channels"]
    mid, se = block.mid_channels, block.se_channels

    class TorchMBConv(tnn.Module):
        def __init__(self):
            super().__init__()
            if block.expand_conv is not None:
                self.expand = tnn.Conv2d(cin, mid, 1, bias=False)
                self.bn0 = tnn.BatchNorm2d(mid, eps=1e-3, momentum=0.01)
            self.dw = tnn.Conv2d(mid, mid, k, stride=s, groups=mid, bias=False)
            self.bn1 = tnn.BatchNorm2d(mid, eps=1e-3, momentum=0.01)
            self.se_reduce = tnn.Conv2d(mid, se, 1)
            self.se_expand = tnn.Conv2d(se, mid, 1)
            self.project = tnn.Conv2d(mid, cout, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)

        def forward(self, x):
            F = tnn.functional
            h = F.silu(self.bn0(self.expand(x))) if block.expand_conv is not None else x
            h = F.silu(self.bn1(self.dw(_tf_same_pad(h, k, s))))
            z = h.mean(dim=(2, 3), keepdim=True)
            h = h * torch.sigmoid(self.se_expand(F.silu(self.se_reduce(z))))
            h = self.bn2(self.project(h))
            return h + x if block.has_skip else h

    t = TorchMBConv()
    with torch.no_grad():
        if block.expand_conv is not None:
            t.expand.weight.copy_(torch.tensor(_conv_w(block.expand_conv.kernel.data)))
            _bn_to_torch(block.expand_bn, t.bn0)
        t.dw.weight.copy_(torch.tensor(_dw_w(block.dwconv.kernel.data)))
        t.se_reduce.weight.copy_(torch.tensor(_conv_w(block.se.reduce.kernel.data)))
        t.se_reduce.bias.copy_(torch.tensor(block.se.reduce.bias.data))
        t.se_expand.weight.copy_(torch.tensor(_conv_w(block.se.expand.kernel.data)))
        t.se_expand.bias.copy_(torch.tensor(block.se.expand.bias.data))
        t.project.weight.copy_(torch.tensor(_conv_w(block.project_conv.kernel.data)))
    _bn_to_torch(block.bn, t.bn1)
    _bn_to_torch(block.project_bn, t.bn2)
    conv_back = lambda g: g.transpose(2, 3, 1, 0)                      # noqa: E731
    pairs = {
        "dwconv": (block.dwconv.kernel, t.dw.weight, lambda g: g[:, 0].transpose(1, 2, 0)[..., None]),
        "se_reduce": (block.se.reduce.kernel, t.se_reduce.weight, conv_back),
        "se_reduce.bias": (block.se.reduce.bias, t.se_reduce.bias, lambda g: g),
        "se_expand": (block.se.expand.kernel, t.se_expand.weight, conv_back),
        "project": (block.project_conv.kernel, t.project.weight, conv_back),
        "bn.gamma": (block.bn.gamma, t.bn1.weight, lambda g: g),
        "project_bn.beta": (block.project_bn.beta, t.bn2.bias, lambda g: g),
    }
    if block.expand_conv is not None:
        pairs["expand"] = (block.expand_conv.kernel, t.expand.weight, conv_back)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 10, 10, cin)).astype(np.float32)
    _compare(block, t, pairs, x, rng, training)


def test_vgg_dropout_goes_before_every_dense_layer_after_the_first():
    model = vgg_like(input_shape=(32, 32, 3), dropout=0.5)
    types = [type(layer).__name__ for layer in model.layers if type(layer).__name__ in ("Dense", "Dropout")]
    assert types == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]   # 2 hidden Dense + the classifier
    assert [layer.activation for layer in model.layers if isinstance(layer, nn.Dense)] == ["relu", "relu", None]
