"""The module system and the layers: names, parameters, state, modes, shapes, gradients."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycnn as tc
import tinycnn.functional as F
from tinycnn import nn
from tinycnn.kernels import reference as R
from gradcheck import check_module_gradients


def tensor(shape, seed=0, dtype=np.float32):
    return tc.Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def small_net(seed=0):
    return nn.Sequential([
        nn.Conv2D(3, 8, 3, padding="same", use_bias=False, rng=seed),
        nn.BatchNorm2D(8),
        nn.ReLU(),
        nn.MaxPool2D(2),
        nn.DepthwiseConv2D(8, 3, padding="same", rng=seed + 1),
        nn.GlobalAveragePooling2D(),
        nn.Dropout(0.5, seed=seed),
        nn.Dense(8, 3, rng=seed + 2),
    ], input_shape=(8, 8, 3))


# ---------------------------------------------------------------------- names and the tree


def test_keras_auto_names_are_per_model():
    a, b = small_net(), small_net()
    names = [layer.name for layer in a.layers]
    assert names == ["conv2d", "batch_normalization", "re_lu", "max_pooling2d",
                     "depthwise_conv2d", "global_average_pooling2d", "dropout", "dense"]
    assert [layer.name for layer in b.layers] == names          # no leak between models
    two = nn.Sequential([nn.Conv2D(3, 4, 1), nn.Conv2D(4, 4, 1, name="conv2d"), nn.Conv2D(4, 4, 1)])
    assert [layer.name for layer in two.layers] == ["conv2d_1", "conv2d", "conv2d_2"]


def test_duplicate_explicit_names_rejected():
    with pytest.raises(ValueError, match="unique.*'x'"):
        nn.Sequential([nn.ReLU(name="x"), nn.ReLU(name="x")])


def test_named_parameters_buffers_and_counts():
    model = small_net()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["conv2d.kernel", "batch_normalization.gamma", "batch_normalization.beta",
                     "depthwise_conv2d.kernel", "depthwise_conv2d.bias", "dense.kernel", "dense.bias"]
    assert [n for n, _ in model.named_buffers()] == ["batch_normalization.moving_mean",
                                                     "batch_normalization.moving_variance"]
    assert all(p.requires_grad for p in model.parameters())
    counts = model.param_counts()
    assert counts["trainable"] == 3 * 3 * 3 * 8 + 16 + 9 * 8 + 8 + 8 * 3 + 3
    assert counts["non_trainable"] == 16
    assert model.count_params() == counts["total"]
    assert counts["total_bytes"] == 4 * counts["total"]


def test_block_children_named_after_the_block_and_dotted_state_keys():
    block = nn.MBConv(8, 8, 3, 1, 2, name="block9z", rng=0)
    names = [m.name for m in block.children()]
    assert names == ["block9z_expand_conv", "block9z_expand_bn", "block9z_expand_activation",
                     "block9z_dwconv", "block9z_bn", "block9z_activation", "block9z_se",
                     "block9z_project_conv", "block9z_project_bn"]
    assert block.se.reduce.name == "block9z_se_reduce"
    model = nn.Sequential([nn.Conv2D(3, 8, 1), block])
    keys = list(model.state_dict())
    assert "block9z.se.reduce.kernel" in keys and "block9z.expand_bn.moving_variance" in keys
    auto = nn.Sequential([nn.MBConv(8, 8, 3, 1, 2), nn.MBConv(8, 8, 3, 1, 2)])
    assert [b.name for b in auto.layers] == ["mb_conv", "mb_conv_1"]
    assert auto.layers[1].dwconv.name == "mb_conv_1_dwconv"


# ---------------------------------------------------------------------- shapes, counts, errors


def test_lecture_shapes_and_weight_counts():
    conv = nn.Conv2D(3, 32, 3, use_bias=False)
    assert conv.kernel.data.size == 864                       # (3x3x3) x 32
    assert nn.DepthwiseConv2D(3, 3, use_bias=False).kernel.data.size == 27   # (3x3x1) x 3
    assert nn.Conv2D(3, 1, 3).output_shape((32, 32, 3))[:2] == (30, 30)
    assert nn.DepthwiseConv2D(32, 3).output_shape((224, 224, 32)) == (222, 222, 32)
    assert nn.DepthwiseConv2D(4, 3).output_shape((5, 5, 4)) == (3, 3, 4)
    assert nn.DepthwiseConv2D(124, 3).output_shape((14, 14, 124)) == (12, 12, 124)
    assert nn.Conv2D(3, 32, 3).count_params() == 896


def test_clear_channel_errors_name_the_layer():
    bad = nn.Sequential([nn.Conv2D(3, 32, 3), nn.Conv2D(32, 64, 3), nn.Conv2D(32, 64, 3)])
    with pytest.raises(ValueError, match="Conv2D 'conv2d_2': expected input with 32 channels, got 64"):
        bad.output_shape((16, 16, 3))
    with pytest.raises(ValueError, match="Conv2D 'conv2d_2': expected input with 32 channels, got 64"):
        bad(tensor((1, 16, 16, 3)))
    with pytest.raises(ValueError, match="Dense 'dense'.*expected input with 10 features, got 12"):
        nn.Sequential([nn.Dense(10, 2)]).output_shape((12,))
    with pytest.raises(ValueError, match="BatchNormalization 'batch_normalization'.*4 channels, got 3"):
        nn.Sequential([nn.BatchNorm2D(4)])(tensor((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="kernel .* larger than"):
        nn.Conv2D(1, 1, 5).output_shape((3, 3, 1))


conv_cases = st.tuples(
    st.integers(1, 9), st.integers(1, 9), st.integers(1, 4),      # H, W, C
    st.integers(1, 3), st.integers(1, 3),                          # kernel, stride
    st.sampled_from(["valid", "same", 1, ((0, 1), (1, 0))]),
    st.integers(1, 2), st.integers(1, 4))                          # depth multiplier, filters


@settings(deadline=None, max_examples=40)
@given(conv_cases)
def test_output_shape_matches_forward(case):
    H, W, C, k, s, padding, M, filters = case
    layers = [nn.Conv2D(C, filters, k, strides=s, padding=padding),
              nn.DepthwiseConv2D(C, k, strides=s, padding=padding, depth_multiplier=M),
              nn.SeparableConv2D(C, filters, k, strides=s, padding=padding, depth_multiplier=M)]
    if k >= 2 and padding != 1 and padding != ((0, 1), (1, 0)):
        layers += [nn.MaxPool2D(k, s, padding=padding), nn.AvgPool2D(k, s, padding=padding)]
    x = tensor((2, H, W, C))
    for layer in layers:
        try:
            expected = layer.output_shape((H, W, C))
        except ValueError:
            with pytest.raises(ValueError):
                layer(x)
            continue
        assert layer(x).shape == (2, *expected), layer.describe()


@pytest.mark.nojit
def test_depth_multiplier_follows_keras_channel_order():
    rng = np.random.default_rng(1)
    layer = nn.DepthwiseConv2D(3, 3, padding="valid", depth_multiplier=2, rng=1)
    layer.bias.data[:] = rng.standard_normal(6)
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    y = layer(tc.Tensor(x)).data
    w = layer.kernel.data
    for c in range(3):
        for m in range(2):
            expect = R.depthwise_conv2d_forward(x[..., c:c + 1], w[:, :, c:c + 1, m], (1, 1),
                                                ((0, 0), (0, 0)))[..., 0] + layer.bias.data[c * 2 + m]
            np.testing.assert_allclose(y[..., c * 2 + m], expect, rtol=1e-5, atol=1e-5)


def test_separable_equals_depthwise_then_pointwise():
    sep = nn.SeparableConv2D(4, 6, 3, strides=2, padding="same", rng=3)
    sep.bias.data[:] = 0.5
    x = tensor((2, 7, 7, 4), seed=3)
    dw = F.depthwise_conv2d(x, sep.depthwise_kernel.data[..., 0], stride=2, padding="same")
    expect = F.pointwise_conv2d(dw, sep.pointwise_kernel.data[0, 0], sep.bias.data)
    np.testing.assert_allclose(sep(x).data, expect.data, rtol=1e-5, atol=1e-5)
    assert sep.count_params() == 9 * 4 + 4 * 6 + 6


def test_conv1x1_fast_path_equals_general_conv():
    conv = nn.Conv2D(5, 7, 1, padding="same", rng=2)
    conv.bias.data[:] = np.arange(7)
    x = tensor((2, 4, 3, 5), seed=4)
    expect = F.conv2d(x, conv.kernel.data, conv.bias.data)
    np.testing.assert_allclose(conv(x).data, expect.data, rtol=1e-5, atol=1e-5)


def test_tanh_layer_and_fused_tanh_activation():
    # the op README's "How to add an op" walks through: a layer of its own, and activation="tanh"
    conv = nn.Conv2D(3, 4, 3, padding="same", rng=5)
    conv.bias.data[:] = 0.25
    fused = nn.Conv2D(3, 4, 3, padding="same", activation="tanh", rng=5)
    fused.bias.data[:] = 0.25
    x = tensor((2, 5, 5, 3), seed=6)
    np.testing.assert_allclose(fused(x).data, np.tanh(conv(x).data), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x.data), rtol=1e-6, atol=1e-7)
    assert nn.Tanh().output_shape((5, 5, 3)) == (5, 5, 3)


# ---------------------------------------------------------------------- modes


def test_batchnorm_train_eval_behaviour():
    bn = nn.BatchNorm2D(3, momentum=0.9)
    x = tensor((8, 4, 4, 3), seed=5) * 3.0 + 2.0
    y = bn(x).data
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-5)   # batch statistics
    mean = x.data.mean(axis=(0, 1, 2))
    np.testing.assert_allclose(bn.moving_mean, 0.1 * mean, rtol=1e-5)  # Keras momentum
    bn.eval()
    before = bn.moving_mean.copy()
    y_eval = bn(x).data
    np.testing.assert_array_equal(bn.moving_mean, before)               # no update in eval
    expect = (x.data - bn.moving_mean) / np.sqrt(bn.moving_variance + 1e-3)
    np.testing.assert_allclose(y_eval, expect, rtol=1e-5, atol=1e-5)
    assert not np.allclose(y_eval, y)


def test_train_eval_propagates_and_dropout_behaviour():
    model = small_net()
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())
    x = tensor((4, 8, 8, 3))
    np.testing.assert_array_equal(model(x).data, model(x).data)          # deterministic in eval
    drop = nn.Dropout(0.5, seed=0)
    ones = tc.Tensor(np.ones((1000,), np.float32))
    y = drop(ones).data
    assert set(np.unique(y)) <= {0.0, 2.0} and 400 < (y == 0).sum() < 600
    assert not np.array_equal(y, drop(ones).data)                         # a fresh mask each call
    np.testing.assert_array_equal(nn.Dropout(0.5, seed=7)(ones).data, nn.Dropout(0.5, seed=7)(ones).data)
    drop.eval()
    np.testing.assert_array_equal(drop(ones).data, ones.data)


def test_drop_connect_is_per_sample_and_train_only():
    dc = nn.DropConnect(0.5, seed=0)
    x = tc.Tensor(np.ones((64, 3, 3, 2), np.float32))
    y = dc(x).data
    per_sample = y.reshape(64, -1)
    assert np.all(per_sample.min(axis=1) == per_sample.max(axis=1))      # whole sample kept or not
    assert set(np.unique(y)) == {0.0, 2.0}
    dc.eval()
    np.testing.assert_array_equal(dc(x).data, x.data)


def test_zero_grad_clears_every_gradient():
    model = small_net()
    model(tensor((2, 8, 8, 3))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------------- state


@pytest.mark.nojit
def test_state_dict_roundtrip_npz_bit_identical(tmp_path):
    model = small_net(seed=0)
    model(tensor((8, 8, 8, 3), seed=9))               # move the BN statistics off their defaults
    model.eval()
    x = tensor((3, 8, 8, 3), seed=10)
    expected = model(x).data
    path = tmp_path / "weights.npz"
    model.save(path)
    assert sorted(os.listdir(tmp_path)) == ["weights.npz"]          # no temp file left behind
    other = small_net(seed=123).eval()
    assert not np.array_equal(other(x).data, expected)
    other.load(path)
    np.testing.assert_array_equal(other(x).data, expected)
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), other.state_dict().items()):
        assert k1 == k2 and v1.dtype == v2.dtype and np.array_equal(v1, v2)


@pytest.mark.parametrize("damage, words", [
    (lambda path: path.write_bytes(b""), "is not an .npz archive"),
    (lambda path: path.write_bytes(path.read_bytes()[:200]), "is not an .npz archive"),
    (lambda path: np.savez(path, **{"dense.bias": np.zeros(3, np.float32)}), "is missing"),
    (lambda path: np.savez(path, **{k: v.astype(np.int32) for k, v in small_net().state_dict().items()}),
     "dtype int32, expected float32"),
])
def test_module_load_refuses_a_bad_weights_file_in_one_line(tmp_path, damage, words):
    from tinycnn.files import BadFileError
    path = tmp_path / "weights.npz"
    small_net().save(path)
    damage(path)
    model = small_net(seed=5)
    before = model.state_dict()
    with pytest.raises(BadFileError, match=words) as caught:
        model.load(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert "allow_pickle" not in str(caught.value)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())   # nothing changed


def test_load_state_dict_errors_name_the_key():
    model = small_net()
    state = model.state_dict()
    missing = dict(state)
    del missing["dense.bias"]
    with pytest.raises(KeyError, match="missing key.*'dense.bias'"):
        model.load_state_dict(missing)
    extra = dict(state, **{"dense.gamma": np.zeros(3)})
    with pytest.raises(KeyError, match="unexpected key.*'dense.gamma'"):
        model.load_state_dict(extra)
    bad = dict(state)
    bad["conv2d.kernel"] = np.zeros((3, 3, 1, 8), np.float32)
    bad["dense.kernel"] = np.full((8, 3), 7.0, np.float32)
    before = model.get_layer("dense").kernel.data.copy()
    with pytest.raises(ValueError, match=r"'conv2d.kernel': expected \(3, 3, 3, 8\), got \(3, 3, 1, 8\)"):
        model.load_state_dict(bad)
    np.testing.assert_array_equal(model.layers[-1].kernel.data, before)    # nothing half-loaded
    model.load_state_dict(missing, strict=False)                              # non-strict: fine


def test_same_seed_same_weights():
    a, b, c = small_net(seed=4), small_net(seed=4), small_net(seed=5)
    for (ka, va), (_, vb), (_, vc) in zip(a.state_dict().items(), b.state_dict().items(),
                                          c.state_dict().items()):
        np.testing.assert_array_equal(va, vb)
        if ka.endswith("kernel"):
            assert not np.array_equal(va, vc)


def test_initializers_follow_keras():
    rng = np.random.default_rng(0)
    w = nn.init.glorot_uniform((300, 200), rng)
    limit = np.sqrt(6 / 500)
    assert w.dtype == np.float32 and np.abs(w).max() <= limit and np.abs(w).max() > 0.98 * limit
    k = nn.init.efficientnet_conv((3, 3, 64, 128), rng)          # fan_out = 9 * 128
    assert abs(k.std() - np.sqrt(2 / (9 * 128))) < 0.03 * np.sqrt(2 / (9 * 128))
    assert np.abs(k).max() <= 2 * np.sqrt(2 / (9 * 128)) / 0.87962566103423978 + 1e-7
    d = nn.init.efficientnet_dense((1280, 1000), rng)
    assert np.abs(d).max() <= np.sqrt(1 / 1000) + 1e-7
    assert nn.Dense(4, 5).bias.data.tolist() == [0.0] * 5
    assert nn.init.compute_fans((3, 3, 32, 1)) == (288, 9)


# ---------------------------------------------------------------------- gradients (float64)


def _perturb_bn(module, seed):
    rng = np.random.default_rng(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2D):
            m.gamma.data[:] = rng.uniform(0.5, 1.5, m.channels)
            m.beta.data[:] = rng.normal(0, 0.3, m.channels)
            m.moving_mean[:] = rng.normal(0, 0.2, m.channels)
            m.moving_variance[:] = rng.uniform(0.5, 1.5, m.channels)


@pytest.mark.parametrize("training", [True, False])
def test_squeeze_excite_gradients(training):
    se = nn.SqueezeExcite(6, 2, rng=0)
    for conv in (se.reduce, se.expand):
        conv.bias.data[:] = np.random.default_rng(1).normal(0, 0.3, conv.filters)
    se.train(training)
    check_module_gradients(se, np.random.default_rng(2).standard_normal((2, 3, 4, 6)))


@pytest.mark.parametrize("config", [
    dict(in_channels=4, out_channels=4, kernel_size=3, stride=1, expand_ratio=2),   # skip
    dict(in_channels=4, out_channels=6, kernel_size=5, stride=2, expand_ratio=3),   # no skip
    dict(in_channels=4, out_channels=4, kernel_size=3, stride=1, expand_ratio=1),   # no expand
])
@pytest.mark.parametrize("training", [True, False])
def test_mbconv_gradients(config, training):
    block = nn.MBConv(**config, rng=0)
    _perturb_bn(block, 1)
    block.train(training)
    check_module_gradients(block, np.random.default_rng(3).standard_normal((2, 6, 6, 4)))


def test_mbconv_structure_and_skip():
    b = nn.MBConv(16, 16, 3, 1, 6, se_ratio=0.25)
    assert b.has_skip and b.se.se_channels == 4 and b.mid_channels == 96   # SE width from the input
    assert b.output_shape((10, 10, 16)) == (10, 10, 16)
    s2 = nn.MBConv(16, 24, 5, 2, 6)
    assert not s2.has_skip and s2.output_shape((11, 11, 16)) == (6, 6, 24)
    assert nn.MBConv(32, 16, 3, 1, 1).expand_conv is None
    # identity skip: with the projection BN zeroed the block is the identity
    b.project_bn.gamma.data[:] = 0
    b.project_bn.beta.data[:] = 0
    b.eval()
    x = tensor((2, 5, 5, 16))
    np.testing.assert_allclose(b(x).data, x.data, atol=1e-6)


def test_residual_wrapper():
    body = nn.Sequential([nn.Conv2D(4, 4, 3, padding="same"), nn.ReLU()])
    res = nn.Residual(body)
    x = tensor((2, 5, 5, 4))
    np.testing.assert_allclose(res(x).data, x.data + body(x).data, rtol=1e-6)
    with pytest.raises(ValueError, match="residual"):
        nn.Residual(nn.Conv2D(4, 4, 3)).output_shape((5, 5, 4))


def test_assigning_a_buffer_keeps_attribute_and_state_dict_the_same_array():
    bn = nn.BatchNorm2D(3)
    bn.moving_mean = [1.0, 2.0, 3.0]
    assert isinstance(bn.moving_mean, np.ndarray) and bn.moving_mean.dtype == np.float32
    assert bn._buffers["moving_mean"] is bn.moving_mean          # state_dict copies from this
    bn.moving_mean[0] = 7.0
    assert bn.state_dict()["moving_mean"][0] == 7.0


@pytest.mark.parametrize("layer", [nn.DepthwiseConv2D, lambda c, k, **kw: nn.SeparableConv2D(c, 6, k, **kw)])
def test_depth_multiplier_below_one_is_refused(layer):
    with pytest.raises(ValueError, match="depth_multiplier must be >= 1, got 0"):
        layer(4, 3, depth_multiplier=0)
