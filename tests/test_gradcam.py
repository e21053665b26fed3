"""Grad-CAM: the CAM identity, localisation on a task with a known answer, gradients against
finite differences, the weight-randomisation sanity check, no side effects, clear errors, and
the shortcut report's numbers on a case worked out by hand."""

import warnings

import numpy as np
import pytest

import tinycnn as tc
from tinycnn import functional as F
from tinycnn import nn
from tinycnn.cam import (GradCAM, GradCAMPlusPlus, HiResCAM, cam_mass_shares, deletion_curve, grad_cam,
                         gradcam_figure_for_image, overlay, plot_overlay_grid, region_masks, shortcut_report,
                         upsample)
from tinycnn.cam.audit import _area_under
from tinycnn.metrics import average_ranks, sigmoid
from tinycnn.optim import Adam

from gradcheck import numerical_gradients


def tiny_gap_model(classes=3, seed=0, channels=5, dtype=np.float32):
    """conv -> relu -> conv -> relu -> GAP -> Dense: the head the CAM identity is about."""
    rng = np.random.default_rng(seed)
    return nn.Sequential([
        nn.Conv2D(2, 4, 3, padding="same", activation="relu", rng=rng, dtype=dtype),
        nn.Conv2D(4, channels, 3, padding="same", activation="relu", rng=rng, dtype=dtype),
        nn.GlobalAveragePooling2D(),
        nn.Dense(channels, classes, rng=rng, bias_initializer="ones", dtype=dtype),
    ], input_shape=(6, 7, 2))


def activations(model, x, upto):
    with tc.no_grad():
        return model[:upto + 1](tc.Tensor(x)).data.astype(np.float64)


def spearman(a, b):
    ra, rb = average_ranks(np.ravel(a)), average_ranks(np.ravel(b))
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def quadrant_of_peak(maps):
    n, h, w = maps.shape
    peak = maps.reshape(n, -1).argmax(axis=1)
    return (peak // w >= h // 2) * 2 + (peak % w >= w // 2)


# ----------------------------------------------------------------------------- the CAM identity


@pytest.mark.parametrize("target", [0, 1, 2])
def test_gap_dense_head_gives_the_cam_identity(target):
    model = tiny_gap_model()
    x = np.random.default_rng(1).normal(size=(4, 6, 7, 2)).astype(np.float32)
    maps = GradCAM(model)(x, target=target)
    A = activations(model, x, 1)
    w = model.layers[-1].kernel.data[:, target].astype(np.float64)
    expected = np.maximum(np.einsum("nhwc,c->nhw", A, w), 0)
    expected /= expected.reshape(4, -1).max(axis=1)[:, None, None]
    assert maps.shape == (4, 6, 7)
    np.testing.assert_allclose(maps, expected, atol=1e-5)
    # for a GAP -> Dense head the gradient is constant over space, so HiResCAM = Grad-CAM
    np.testing.assert_allclose(HiResCAM(model)(x, target=target), expected, atol=1e-5)


def test_single_logit_model_explains_plus_and_minus_logit():
    model = tiny_gap_model(classes=1, seed=3)
    x = np.random.default_rng(2).normal(size=(3, 6, 7, 2)).astype(np.float32)
    A = activations(model, x, 1)
    w = model.layers[-1].kernel.data[:, 0].astype(np.float64)
    cam = GradCAM(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # one sign may leave nothing
        for target, sign in ((1, 1.0), (0, -1.0)):
            expected = np.maximum(sign * np.einsum("nhwc,c->nhw", A, w), 0)
            peak = expected.reshape(3, -1).max(axis=1)[:, None, None]
            expected = np.divide(expected, peak, out=np.zeros_like(expected), where=peak > 0)
            np.testing.assert_allclose(cam(x, target=target), expected, atol=1e-5)
    # default target: 1 where the logit is positive, 0 where not
    result = cam.explain(x)
    np.testing.assert_array_equal(result.targets, (result.logits[:, 0] > 0).astype(int))


def test_grad_cam_plus_plus_matches_its_closed_form_on_a_gap_head():
    model = tiny_gap_model(seed=4)
    x = np.random.default_rng(3).normal(size=(2, 6, 7, 2)).astype(np.float32)
    A = activations(model, x, 1)
    g = model.layers[-1].kernel.data[:, 1].astype(np.float64) / (6 * 7)     # dS/dA, same everywhere
    a = g ** 2 / (2 * g ** 2 + A.sum(axis=(1, 2)) * g ** 3)                    # (N, C)
    weights = (a * np.maximum(g, 0) * 6 * 7)                                   # sum over the 42 positions
    expected = np.maximum(np.einsum("nhwc,nc->nhw", A, weights), 0)
    expected /= expected.reshape(2, -1).max(axis=1)[:, None, None]
    np.testing.assert_allclose(GradCAMPlusPlus(model)(x, target=1), expected, atol=1e-5)


# ----------------------------------------------------------------------------- a task with a known answer


def blob_images(n, rng, size=16):
    """Noise plus one Gaussian blob in a random quadrant: bright blob = class 1, dark = class 0."""
    y = rng.integers(0, 2, n)
    quadrant = rng.integers(0, 4, n)
    half = size // 2
    cy = (quadrant // 2) * half + rng.uniform(2.5, half - 2.5, n)
    cx = (quadrant % 2) * half + rng.uniform(2.5, half - 2.5, n)
    r, c = np.arange(size)[None, :, None], np.arange(size)[None, None, :]
    blob = np.exp(-((r - cy[:, None, None]) ** 2 + (c - cx[:, None, None]) ** 2) / (2 * 1.5 ** 2))
    x = rng.normal(0, 0.3, (n, size, size)) + np.where(y == 1, 2.0, -2.0)[:, None, None] * blob
    return x[..., None].astype(np.float32), y, quadrant


def blob_net(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential([
        nn.Conv2D(1, 8, 3, padding="same", activation="relu", rng=rng),
        nn.MaxPool2D(2),
        nn.Conv2D(8, 16, 3, padding="same", activation="relu", rng=rng),
        nn.GlobalAveragePooling2D(),
        nn.Dense(16, 2, rng=rng),
    ], input_shape=(16, 16, 1))


@pytest.fixture(scope="module")
def blob_task():
    rng = np.random.default_rng(0)
    x_train, y_train, _ = blob_images(512, rng)
    x_test, y_test, q_test = blob_images(160, rng)
    model = blob_net(0)
    optimizer = Adam(model.parameters(), lr=0.01)
    for epoch in range(2):
        order = np.random.default_rng(epoch).permutation(len(x_train))
        for start in range(0, len(order), 32):
            idx = order[start:start + 32]
            optimizer.zero_grad()
            F.cross_entropy(model(tc.Tensor(x_train[idx])), y_train[idx]).backward()
            optimizer.step()
    model.eval()
    with tc.no_grad():
        accuracy = (model(tc.Tensor(x_test)).data.argmax(axis=1) == y_test).mean()
    assert accuracy >= 0.95, f"the blob network did not learn its task (accuracy {accuracy:.2f})"
    return model, x_test, y_test, q_test


def test_cam_peaks_in_the_blob_quadrant_and_the_other_class_looks_elsewhere(blob_task):
    model, x, y, quadrant = blob_task
    cam = GradCAM(model)
    maps = cam(x, target=y)
    assert maps.shape == (len(x), 8, 8)
    assert np.mean(quadrant_of_peak(maps) == quadrant) >= 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        other = cam(x, target=1 - y)
    assert np.mean(quadrant_of_peak(other) == quadrant) < 0.5
    assert np.mean([spearman(a, b) for a, b in zip(maps, other)]) < 0.3
    # rescaled to the input: the peak stays in the quadrant
    big = cam.upsample(maps, (16, 16))
    assert big.shape == (len(x), 16, 16)
    assert np.mean(quadrant_of_peak(big) == quadrant) >= 0.9


def test_randomising_the_weights_changes_the_maps(blob_task):
    """Adebayo et al. 2018, cascading randomisation from the top layer to the bottom one: a map
    that explains the model must change when the model's weights are replaced by random ones."""
    model, x, y, _ = blob_task
    maps = GradCAM(model)(x, target=y)
    randomised = blob_net(0)
    randomised.load_state_dict(model.state_dict())
    rng = np.random.default_rng(123)
    correlations = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for layer in reversed([lay for lay in randomised.layers if lay.parameters()]):
            for p in layer.parameters():
                p.data[...] = rng.normal(0, p.data.std() + 0.05, p.data.shape)
            new = GradCAM(randomised)(x, target=y)
            correlations.append(np.mean([spearman(a, b) for a, b in zip(maps, new)]))
    assert correlations[-1] < 0.5, correlations
    assert np.all(np.isfinite(correlations))


# ----------------------------------------------------------------------------- the gradient


def test_gradient_matches_central_finite_differences():
    rng = np.random.default_rng(5)
    model = nn.Sequential([
        nn.Conv2D(2, 3, 3, padding="same", rng=rng),
        nn.BatchNorm2D(3),
        nn.ReLU(),
        nn.Conv2D(3, 4, 3, padding="same", activation="relu", rng=rng),
        nn.GlobalAveragePooling2D(),
        nn.Dense(4, 3, rng=rng),
    ], input_shape=(5, 5, 2))
    model.double()
    bn = model.layers[1]
    bn.moving_mean[...] = rng.normal(size=3)
    bn.moving_variance[...] = rng.uniform(0.5, 2, size=3)
    x = rng.normal(size=(2, 5, 5, 2))
    cam = GradCAM(model, "re_lu")
    A, G, logits, targets = cam.activations_and_gradients(x, target=[2, 0])
    assert A.dtype == np.float64 and G.shape == A.shape == (2, 5, 5, 3)
    a = A.copy()

    def score():
        with tc.no_grad():
            out = model[3:](tc.Tensor(a)).data
        return out[0, 2] + out[1, 0]

    (numeric,) = numerical_gradients(score, [a])
    np.testing.assert_allclose(G, numeric, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- no side effects


def test_leaves_grads_weights_and_modes_as_they_were():
    model = nn.Sequential([
        nn.Conv2D(2, 4, 3, padding="same", rng=0),
        nn.BatchNorm2D(4),
        nn.ReLU(),
        nn.GlobalAveragePooling2D(),
        nn.Dropout(0.5, seed=0),
        nn.Dense(4, 3, rng=0),
    ], input_shape=(6, 6, 2))
    model.train()
    model.layers[1].eval()                       # a mixed state must come back as it was
    params = model.parameters()
    params[0].grad = np.full_like(params[0].data, 7.0)
    before = [None if p.grad is None else p.grad.copy() for p in params]
    state = model.state_dict()
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 2)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for method in (GradCAM, GradCAMPlusPlus, HiResCAM):
            method(model)(x)
            with tc.no_grad():                    # works inside no_grad too
                method(model)(x)
        grad_cam(model, x, 2)
    for p, old in zip(params, before):
        if old is None:
            assert p.grad is None
        else:
            np.testing.assert_array_equal(p.grad, old)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)
    assert [m.training for m in model.layers] == [True, False, True, True, True, True]
    assert tc.is_grad_enabled()


def test_eval_mode_is_used_so_dropout_does_not_change_the_map():
    model = nn.Sequential([
        nn.Conv2D(1, 4, 3, padding="same", activation="relu", rng=1),
        nn.Dropout(0.5, seed=0),
        nn.GlobalAveragePooling2D(),
        nn.Dense(4, 2, rng=1),
    ], input_shape=(6, 6, 1))
    model.train()
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 1)).astype(np.float32)
    cam = GradCAM(model, model.layers[1])
    np.testing.assert_array_equal(cam(x, target=1), cam(x, target=1))


def test_batches_give_the_same_maps_as_one_call():
    model = tiny_gap_model()
    x = np.random.default_rng(7).normal(size=(5, 6, 7, 2)).astype(np.float32)
    np.testing.assert_allclose(GradCAM(model, batch_size=2)(x, target=[0, 1, 2, 0, 1]),
                               GradCAM(model)(x, target=[0, 1, 2, 0, 1]), atol=1e-6)


# ----------------------------------------------------------------------------- all-zero maps


def test_all_zero_map_gives_zeros_and_a_warning():
    model = tiny_gap_model(classes=2)
    head = model.layers[-1]
    head.kernel.data[:, 0] = -np.abs(head.kernel.data[:, 0]) - 0.1     # A >= 0 (ReLU): every sum < 0
    x = np.random.default_rng(0).normal(size=(3, 6, 7, 2)).astype(np.float32)
    for method in (GradCAM, GradCAMPlusPlus, HiResCAM):
        with pytest.warns(RuntimeWarning, match="all zero"):
            maps = method(model)(x, target=0)
        assert np.all(np.isfinite(maps))
        assert np.all(maps == 0)


# ----------------------------------------------------------------------------- upsample and overlay


def test_upsample_is_bilinear_like_torch():
    torch = pytest.importorskip("torch")
    maps = np.random.default_rng(0).random((2, 4, 5))
    ours = upsample(maps, (9, 13))
    theirs = torch.nn.functional.interpolate(torch.tensor(maps)[:, None], size=(9, 13), mode="bilinear",
                                             align_corners=False)[:, 0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert upsample(maps[0], 8).shape == (8, 8)


@pytest.mark.parametrize("image", [
    np.random.default_rng(0).integers(0, 256, (16, 12)).astype(np.uint8),      # grey uint8
    np.random.default_rng(1).random((16, 12)),                                   # grey float in [0, 1]
    np.random.default_rng(2).normal(size=(16, 12)) * 40 + 3,                     # grey float, any range
    np.random.default_rng(3).integers(0, 256, (16, 12, 3)).astype(np.uint8),   # RGB uint8
    np.random.default_rng(4).random((16, 12, 3)).astype(np.float32),            # RGB float
    np.random.default_rng(5).integers(0, 256, (16, 12, 1)).astype(np.uint8),   # grey with a channel axis
])
def test_overlay_gives_uint8_rgb_at_the_image_size(image):
    heat = np.random.default_rng(9).random((4, 3))
    out = overlay(image, heat)
    assert out.dtype == np.uint8 and out.shape == (16, 12, 3)
    assert overlay(image, heat, alpha=0.0).shape == (16, 12, 3)


def test_overlay_blends_with_alpha():
    grey = np.zeros((4, 4), np.uint8)
    hot = overlay(grey, np.ones((2, 2)), alpha=1.0)
    np.testing.assert_array_equal(hot, np.broadcast_to([128, 0, 0], (4, 4, 3)))   # jet(1) = dark red
    np.testing.assert_array_equal(overlay(np.full((4, 4), 200, np.uint8), np.ones((2, 2)), alpha=0.0),
                                  np.full((4, 4, 3), 200))


def test_overlay_upsamples_the_heatmap_bilinearly_and_stretches_float_images():
    small = np.array([[1.0, 0.0], [0.0, 0.0]])
    grey = np.random.default_rng(0).integers(0, 256, (8, 8)).astype(np.uint8)
    np.testing.assert_array_equal(overlay(grey, small, alpha=0.7),
                                  overlay(grey, upsample(small, 8), alpha=0.7))
    wide = grey.astype(np.float64) * 3 - 100                 # any float range: stretched to [0, 1]
    stretched = (wide - wide.min()) / (wide.max() - wide.min())
    np.testing.assert_array_equal(overlay(wide, small), overlay(stretched, small))


def test_regions_and_mass_shares():
    masks = region_masks(64, 64)
    assert masks["border"].mean() == pytest.approx(1 - 0.75 ** 2)
    assert masks["corners"].sum() == 4 * 13 * 13
    assert not np.any(masks["central"] & masks["border"])
    uniform = cam_mass_shares(np.ones((1, 64, 64)), masks)
    for name, m in masks.items():
        assert uniform[name][0] == pytest.approx(m.mean())
    corner_only = np.zeros((1, 64, 64))
    corner_only[0, :5, :5] = 1
    shares = cam_mass_shares(corner_only, masks)
    assert shares["corners"][0] == 1 and shares["border"][0] == 1 and shares["central"][0] == 0


def test_figures_are_written(tmp_path):
    model = nn.Sequential([
        nn.Conv2D(1, 4, 3, strides=2, padding="same", activation="relu", rng=0),
        nn.GlobalAveragePooling2D(),
        nn.Dense(4, 1, rng=0),
    ], input_shape=(16, 16, 1))
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16)).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        path = gradcam_figure_for_image(model, pixels, tmp_path / "one.png", temperature=1.5, threshold=0.3,
                                        title="x.jpeg")
    assert str(path).endswith("one.png") and (tmp_path / "one.png").stat().st_size > 1000
    rows = [{"title": "some", "images": np.stack([pixels] * 2), "heatmaps": np.random.rand(2, 4, 4),
             "probs": [0.2, 0.9], "labels": [0, 0]},
            {"title": "none", "images": np.zeros((0, 16, 16), np.uint8), "heatmaps": np.zeros((0, 4, 4)),
             "probs": [], "labels": []}]
    grid = plot_overlay_grid(rows, tmp_path / "grid.png", threshold=0.5, ncols=3, title="t")
    assert (tmp_path / "grid.png").stat().st_size > 1000 and str(grid).endswith("grid.png")


# ----------------------------------------------------------------------------- clear errors


def test_wrong_image_rank_names_expected_and_got():
    cam = GradCAM(tiny_gap_model())
    with pytest.raises(ValueError, match=r"\(N, H, W, C\).*got an array of shape \(6, 7, 2\).*x\[None\]"):
        cam(np.zeros((6, 7, 2), np.float32))
    with pytest.raises(ValueError, match=r"expected a grey \(H, W\) or RGB \(H, W, 3\) image, "
                                         r"got shape \(2, 3, 4, 5\)"):
        overlay(np.zeros((2, 3, 4, 5)), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="uint8"):
        cam(np.zeros((1, 6, 7, 2), np.uint8))


def test_unknown_layer_name():
    model = tiny_gap_model()
    with pytest.raises(ValueError, match=r"no top-level layer named 'conv9'.*expected one with a spatial "
                                         r"\(H, W, C\) output: conv2d, conv2d_1"):
        GradCAM(model, "conv9")
    other = nn.Conv2D(2, 4, 3)
    with pytest.raises(ValueError, match="is not a top-level layer"):
        GradCAM(model, other)


def test_layer_inside_a_block_is_named_with_its_block():
    model = nn.Sequential([
        nn.Conv2D(3, 16, 3, padding="same", rng=0, name="stem"),
        nn.MBConv(16, 16, 3, 1, 2, se_ratio=0.25, rng=0, name="block1a"),
        nn.GlobalAveragePooling2D(),
        nn.Dense(16, 2, rng=0),
    ], input_shape=(8, 8, 3))
    inner = model.layers[1].modules()[1]
    with pytest.raises(ValueError, match="inside 'block1a'"):
        GradCAM(model, inner.name)
    assert GradCAM(model).layer.name == "block1a"


def test_non_spatial_layer():
    model = tiny_gap_model()
    with pytest.raises(ValueError, match=r"'dense' has output shape \(3,\), expected a spatial \(H, W, C\)"):
        GradCAM(model, "dense")
    with pytest.raises(ValueError, match="global_average_pooling2d"):
        GradCAM(model, model.layers[2])
    flat = nn.Sequential([nn.Flatten(), nn.Dense(8, 2)], input_shape=(2, 2, 2))
    with pytest.raises(ValueError, match="no layer with a spatial"):
        GradCAM(flat)
    with pytest.raises(TypeError, match="nn.Sequential"):
        GradCAM(nn.Conv2D(1, 1, 1))


@pytest.mark.parametrize("classes, target, message", [
    (3, 3, r"a class index in 0\.\.2, got 3"),
    (3, -1, r"a class index in 0\.\.2, got -1"),
    (1, 2, r"0 \(negative, S = -logit\) or 1 \(positive, S = \+logit\).*got 2"),
    (3, [0, 1], r"one per image \(shape \(3,\)\), got shape \(2,\)"),
])
def test_target_out_of_range(classes, target, message):
    model = tiny_gap_model(classes=classes)
    x = np.zeros((3, 6, 7, 2), np.float32)
    with pytest.raises(ValueError, match=message):
        GradCAM(model)(x, target=target)


def test_works_on_a_real_model_and_defaults_to_the_layer_before_gap():
    from tinycnn.models import pneumonia_net

    model = pneumonia_net(input_shape=(32, 32, 1), seed=0)
    cam = GradCAM(model)
    assert cam.layer.name == "conv_pw_5_relu"
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 1)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        maps = cam(x)
    assert maps.shape == (2, 4, 4) and maps.min() >= 0 and maps.max() <= 1


@pytest.mark.parametrize("classes, curves", [(1, {"all", "predicted PNEUMONIA", "predicted NORMAL"}),
                                             (2, {"all"}), (3, {"all"})])
def test_per_class_deletion_curves_only_for_a_one_logit_detector(tmp_path, classes, curves):
    x = np.random.default_rng(4).normal(size=(8, 6, 7, 2)).astype(np.float32)
    y = np.arange(8) % 2
    report = shortcut_report(tiny_gap_model(classes=classes, seed=1), x, y, tmp_path, steps=2, print_fn=None)
    assert set(report["deletion"]["curves"]) <= curves and "all" in report["deletion"]["curves"]
    if classes > 1:
        assert set(report["deletion"]["curves"]) == {"all"}


def test_shortcut_report_writes_its_files(tmp_path):
    import json

    model = nn.Sequential([
        nn.Conv2D(1, 4, 3, strides=2, padding="same", activation="relu", rng=2),
        nn.Conv2D(4, 4, 3, padding="same", activation="relu", rng=3),
        nn.GlobalAveragePooling2D(),
        nn.Dense(4, 1, rng=2),
    ], input_shape=(16, 16, 1))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 16, 16, 1)).astype(np.float32)
    y = rng.integers(0, 2, 12)
    report = shortcut_report(model, x, y, tmp_path, threshold=0.5, steps=4, print_fn=None)
    for name in ("shortcut_report.json", "shortcut_report.png", "deletion_curve.png"):
        assert (tmp_path / name).stat().st_size > 100, name
    saved = json.loads((tmp_path / "shortcut_report.json").read_text())
    assert saved["n_images"] == 12 and saved["region_shares"]["all"]["n"] == 12
    assert saved["region_shares"]["correct"]["n"] + saved["region_shares"]["wrong"]["n"] == 12
    assert saved["regions"]["uniform_share"]["border"] == pytest.approx(1 - 0.75 ** 2)
    curves = report["deletion"]["curves"]["all"]
    assert curves["mean_confidence_cam_order"][0] == pytest.approx(curves["mean_confidence_random_order"][0])
    # blanking 0 % changes nothing; blanking 100 % leaves the same flat image whatever the order
    maps = rng.random((12, 16, 16))
    classes = np.zeros(12, int)
    f, by_map = deletion_curve(model, x, maps, classes, steps=2)
    _, by_chance = deletion_curve(model, x, maps, classes, steps=2, order="random", random_resolution=(4, 4))
    assert f.tolist() == [0, 0.5, 1]
    np.testing.assert_allclose(by_map[:, [0, 2]], by_chance[:, [0, 2]], atol=1e-6)


# ----------------------------------------------------------------------------- grad_cam, the old path


@pytest.mark.parametrize("members", [1, 2])
def test_grad_cam_function_equals_the_class(members):
    """``grad_cam``'s four lines give exactly what ``GradCAM`` gives in batches, for one network
    and for an ensemble (whose members' channels sit side by side)."""
    model = tiny_gap_model(seed=2) if members == 1 else nn.Ensemble([tiny_gap_model(seed=s) for s in (2, 3)])
    x = np.random.default_rng(4).normal(size=(5, 6, 7, 2)).astype(np.float32)
    expected = GradCAM(model, "conv2d_1", batch_size=2)(x, target=[0, 1, 2, 0, 1])
    network = model.members[0]
    # the layer by index, by name, as a module, or the default (the last spatial one: conv2d_1's relu)
    for layer in (1, "conv2d_1", network.layers[1], None):
        np.testing.assert_array_equal(grad_cam(model, x, layer, target=[0, 1, 2, 0, 1]), expected)
    with pytest.raises(ValueError, match="grad_cam: layer 'global_average_pooling2d' has output shape"):
        grad_cam(model, x, "global_average_pooling2d")


def test_old_import_path_still_re_exports_the_cam_names():
    import tinycnn.cam as cam
    import tinycnn.gradcam as old

    for name in old.__all__:
        if name != "CLASS_NAMES":
            assert getattr(old, name) is getattr(cam, name), name
    # the names whose arguments changed are not re-exported: old code fails at import, not silently
    assert not hasattr(old, "layer_activations") and not hasattr(old, "score_gradients")


# ----------------------------------------------------------------------------- shortcut report, by hand

SIZE, BIAS, TEMPERATURE, THRESHOLD = 16, -0.9, 2.0, 0.4


def mean_brightness_net():
    """logit z = mean(ReLU(x)) - 0.9: a 1 x 1 conv (weight 1, ReLU) -> GAP -> Dense (weight 1).

    Its Grad-CAM map for class 1 (S = +z, dS/dA = 1/HW everywhere) is A / max(A) = x / max(x);
    for class 0 (S = -z) it is ReLU(-A / HW) = 0 everywhere: an all-zero map.
    """
    model = nn.Sequential([nn.Conv2D(1, 1, 1, activation="relu", rng=0), nn.GlobalAveragePooling2D(),
                           nn.Dense(1, 1, rng=0)], input_shape=(SIZE, SIZE, 1))
    conv, _, dense = model.layers
    conv.kernel.data[...], conv.bias.data[...] = 1, 0
    dense.kernel.data[...], dense.bias.data[...] = 1, BIAS
    return model


def constructed_images():
    """16 x 16 images made of one value on a set of pixels, 0 elsewhere.  The regions at 16 px:
    border frame 2 px thick (112 px), corner squares 3 x 3 (36 px), central box rows / columns
    3..12 (100 px)."""
    central = np.zeros((SIZE, SIZE))
    central[3:13, 3:13] = 1                       # 100 px, all in the central box
    frame = np.ones((SIZE, SIZE))
    frame[2:14, 2:14] = 0                         # the 112 px border frame ...
    for r in (slice(0, 3), slice(13, 16)):
        for c in (slice(0, 3), slice(13, 16)):
            frame[r, c] = 0                       # ... less the corner squares: 80 px, peak at (0, 3)
    corner = np.zeros((SIZE, SIZE))
    corner[:3, :3] = 10                           # 9 px: one corner square, 8 of them in the frame
    dark = np.zeros((SIZE, SIZE))
    # images:   C        C        F      K       D     D     D
    # labels:   1        1        0      0       0     0     1
    # predicted 1        1        1      1       0     0     0    (P(class 1) >= 0.4 iff mean > 0.089)
    # outcome:  TP       TP       FP     FP      TN    TN    FN
    x = np.stack([central, central, frame, corner, dark, dark, dark])[..., None].astype(np.float32)
    return x, np.array([1, 1, 0, 0, 0, 0, 1]), [(1, 100), (1, 100), (1, 80), (10, 9), (0, 0), (0, 0), (0, 0)]


def hand_deletion_curve(value, pixels, steps):
    """Confidence in the predicted class of an image with ``value`` on ``pixels`` pixels when
    its k brightest pixels (then the others) are set to its mean m: the pixel sum is
    value * pixels - k (value - m) while only bright ones are blanked, k m after."""
    m = value * pixels / SIZE ** 2
    ks = np.round(np.linspace(0, 1, steps + 1) * SIZE ** 2)
    sums = np.where(ks <= pixels, value * pixels - ks * (value - m), ks * m)
    p = sigmoid((sums / SIZE ** 2 + BIAS) / TEMPERATURE)
    return p if pixels else 1 - p                 # the dark images are predicted class 0


def trapezoid(values, xs):
    return sum((xs[i + 1] - xs[i]) * (values[i] + values[i + 1]) / 2 for i in range(len(xs) - 1))


@pytest.fixture(scope="module")
def hand_report(tmp_path_factory):
    x, y, _ = constructed_images()
    return shortcut_report(mean_brightness_net(), x, y, tmp_path_factory.mktemp("hand"), temperature=TEMPERATURE,
                           threshold=THRESHOLD, steps=4, early_fraction=0.3, print_fn=None)


def test_shortcut_report_counts_on_a_constructed_case(hand_report):
    r = hand_report
    assert r["map_resolution"] == [SIZE, SIZE] and r["n_images"] == 7
    assert r["accuracy"] == pytest.approx(4 / 7)
    assert r["n_all_zero_maps"] == 3                                   # the three dark images
    counts = {g: (s["n"], s["n_all_zero_maps"]) for g, s in r["region_shares"].items()}
    assert counts == {"all": (7, 3), "correct": (4, 2), "wrong": (3, 1), "true_positive": (2, 0),
                      "true_negative": (2, 2), "false_positive": (2, 0), "false_negative": (1, 1)}
    assert r["regions"]["uniform_share"] == pytest.approx({"central": 100 / 256, "border": 112 / 256,
                                                           "corners": 36 / 256})


@pytest.mark.parametrize("group, region, share, peak", [
    # correct: the two central maps have mass (share 1 in central); peaks of 4 maps: 2 central
    ("correct", "central", 1.0, 2 / 4),
    ("correct", "border", 0.0, 0.0),                 # the all-zero maps' argmax (0, 0) does not count
    ("correct", "corners", 0.0, 0.0),
    # wrong: frame map (border 1, corners 0, peak (0, 3)), corner map (corners 1, border 8/9,
    # peak (0, 0)) and the empty FN map (no share, no peak)
    ("wrong", "central", 0.0, 0.0),
    ("wrong", "border", (1 + 8 / 9) / 2, 2 / 3),
    ("wrong", "corners", (0 + 1) / 2, 1 / 3),
    ("all", "central", 2 / 4, 2 / 7),
    ("true_positive", "central", 1.0, 1.0),
    ("false_positive", "border", (1 + 8 / 9) / 2, 1.0),
    ("false_negative", "border", None, 0.0),         # only an all-zero map: no mean share
])
def test_shortcut_report_region_numbers_on_a_constructed_case(hand_report, group, region, share, peak):
    stats = hand_report["region_shares"][group][region]
    uniform = hand_report["regions"]["uniform_share"][region]
    if share is None:
        assert stats["mean_share"] is None and stats["ratio_to_uniform"] is None
    else:
        assert stats["mean_share"] == pytest.approx(share, abs=1e-12)
        assert stats["ratio_to_uniform"] == pytest.approx(share / uniform, abs=1e-12)
    assert stats["peak_inside"] == pytest.approx(peak, abs=1e-12)


def test_shortcut_report_deletion_curves_on_a_constructed_case(hand_report):
    _, _, parts = constructed_images()
    curves = np.array([hand_deletion_curve(value, pixels, 4) for value, pixels in parts])
    deletion = hand_report["deletion"]
    f = np.array([0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(deletion["fractions"], f)
    for name, rows in (("all", slice(0, 7)), ("predicted PNEUMONIA", slice(0, 4)), ("predicted NORMAL", slice(4, 7))):
        c = deletion["curves"][name]
        expected = curves[rows].mean(axis=0)
        assert c["n"] == len(curves[rows])
        np.testing.assert_allclose(c["mean_confidence_cam_order"], expected, rtol=1e-6)
        assert c["auc_cam_order"] == pytest.approx(trapezoid(expected, f), rel=1e-6)
        at_03 = expected[1] + (expected[2] - expected[1]) * (0.3 - 0.25) / 0.25
        early = (trapezoid(expected[:2], f[:2]) + 0.05 * (expected[1] + at_03) / 2) / 0.3
        assert c["early_auc_cam_order"] == pytest.approx(early, rel=1e-6)
        # the random order blanks the same images at 0 % and 100 %; its areas are of its own curve
        random = np.asarray(c["mean_confidence_random_order"])
        np.testing.assert_allclose(random[[0, -1]], expected[[0, -1]], rtol=1e-6)
        assert c["auc_random_order"] == pytest.approx(trapezoid(random, f), rel=1e-12)
        assert c["early_auc_random_order"] < 1 and c["auc_random_order"] < 1
    assert deletion["curves"]["all"]["auc_cam_order"] < deletion["curves"]["all"]["auc_random_order"]


def test_area_under_a_known_curve():
    values, xs = [0.0, 1.0, 1.0], [0.0, 0.5, 1.0]
    assert _area_under(values, xs) == pytest.approx(0.25 + 0.5)
    assert _area_under(values, xs, upto=0.25) == pytest.approx(0.25 * 0.5 / 2)       # interpolated at 0.25
    assert _area_under(values, xs, upto=0.5) == pytest.approx(0.25)
    assert _area_under(values, xs, upto=1.0) == pytest.approx(0.75)
