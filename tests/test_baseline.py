"""Issue 13's infrastructure: the published 3-conv baseline (``baseline_cnn``) and the training
options its recipe and the robustness experiments need (input resolution, ``unit``
preprocessing, best epoch by validation loss, corruption / calibration fields), read back
from old config.json files, and reached from the command line."""

import importlib.util
import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tinycnn as tc
import tinycnn.runs as R
import tinycnn.train as T
from tinycnn import cli, metrics, models
from tinycnn.cam import GradCAM
from tinycnn.data import PREPROCESSING_METHODS, load_pneumonia, load_xray, preprocess, resize_grey, resize_images
from tinycnn.runs import RunError
from tinycnn.runs.calibration import fit_calibration
from tinycnn.runs.config import LATER_FIELDS, best_epoch_index
from tinycnn.summary import summary_rows


def load_example(name):
    """examples/NAME.py as a module (the examples folder is not a package)."""
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_baseline = load_example("train_baseline")
BASELINE_RECIPE = train_baseline.BASELINE_RECIPE

# The module docstring's table: (name, type, output shape at 28x28x1, parameters).
BASELINE_ROWS = [
    ("conv1", "Conv2D", (None, 28, 28, 16), 160),
    ("conv1_bn", "BatchNormalization", (None, 28, 28, 16), 64),
    ("conv1_relu", "ReLU", (None, 28, 28, 16), 0),
    ("pool1", "MaxPooling2D", (None, 14, 14, 16), 0),
    ("conv2", "Conv2D", (None, 14, 14, 32), 4640),
    ("conv2_bn", "BatchNormalization", (None, 14, 14, 32), 128),
    ("conv2_relu", "ReLU", (None, 14, 14, 32), 0),
    ("pool2", "MaxPooling2D", (None, 7, 7, 32), 0),
    ("conv3", "Conv2D", (None, 7, 7, 64), 18496),
    ("conv3_bn", "BatchNormalization", (None, 7, 7, 64), 256),
    ("conv3_relu", "ReLU", (None, 7, 7, 64), 0),
    ("global_average_pooling2d", "GlobalAveragePooling2D", (None, 64), 0),
    ("predictions", "Dense", (None, 1), 65),
]


# ----------------------------------------------------------------------------- the model


def test_baseline_table_and_parameter_counts():
    model = models.build("baseline_cnn")               # the registry's default input: 28x28x1
    assert model.input_shape == (28, 28, 1)
    rows = [(r["name"], r["type"], r["output_shape"], r["params"]) for r in summary_rows(model)]
    assert rows == BASELINE_ROWS
    counts = model.param_counts()
    assert (counts["total"], counts["trainable"], counts["non_trainable"]) == (23_809, 23_585, 224)
    assert models.baseline_cnn(batch_norm=False).count_params() == 23_361
    assert models.baseline_cnn(num_classes=2).count_params() == 23_809 + 65


def test_baseline_forward_shapes_and_last_spatial_layer():
    rng = np.random.default_rng(0)
    for side, last in ((28, 7), (64, 16), (4, 1)):
        model = models.baseline_cnn(input_shape=(side, side, 1), seed=1).eval()
        x = rng.standard_normal((3, side, side, 1)).astype(np.float32)
        assert model(tc.Tensor(x)).shape == (3, 1)
        layer = model.last_spatial_layer()
        assert layer.name == "conv3_relu"
        assert GradCAM(model, layer)(x).shape == (3, last, last)


def test_baseline_every_parameter_gets_a_gradient():
    model = models.baseline_cnn(seed=3)
    x = tc.Tensor(np.random.default_rng(1).standard_normal((4, 28, 28, 1)).astype(np.float32))
    loss = tc.functional.binary_cross_entropy_with_logits(model(x), np.array([[0], [1], [1], [0]], np.float32))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.data.shape, name
        assert np.all(np.isfinite(p.grad)) and np.abs(p.grad).sum() > 0, name


def test_baseline_seed_decides_the_weights():
    a, b, c = (models.baseline_cnn(seed=s).state_dict() for s in (0, 0, 1))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.kernel"], c["conv1.kernel"])


@pytest.mark.parametrize("kwargs, message", [
    ({"input_shape": (3, 3, 1)}, "baseline_cnn: input_shape (3, 3, 1) is too small"),
    ({"input_shape": (28, 28)}, "baseline_cnn: input_shape must be (height, width, channels)"),
    ({"batch_norm": "yes"}, "baseline_cnn: batch_norm must be True or False, got 'yes'"),
    ({"num_classes": 0}, "num_classes"),
])
def test_baseline_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        models.baseline_cnn(**kwargs)


def test_summary_command_prints_the_baseline(capsys):
    assert cli.main(["summary", "baseline_cnn"]) == 0
    text = capsys.readouterr().out
    assert 'Model: "baseline_cnn"' in text and "conv3_relu (ReLU)" in text
    assert " Total params: 23,809 (93.00 KB)" in text.splitlines()


# ----------------------------------------------------------------------------- input resolution


def test_resize_images_gives_exact_shape_dtype_and_keeps_a_constant_image_constant():
    for side, size in ((64, 28), (64, 32), (64, 48), (28, 64), (64, 7)):
        for level in (0, 1, 37, 128, 254, 255):
            images = np.full((2, side, side), level, np.uint8)
            out = resize_images(images, size)
            assert out.shape == (2, size, size) and out.dtype == np.uint8
            assert np.all(out == level), (side, size, level)


def test_resize_images_known_small_examples():
    # 2x2 -> 1x1: both Lanczos taps sit half a pixel from the centre, so equal weights: the mean
    assert resize_images(np.array([[[0, 100], [200, 40]]], np.uint8), 1).tolist() == [[[85]]]     # 85.25
    assert resize_images(np.array([[[0, 100], [200, 42]]], np.uint8), 1).tolist() == [[[86]]]     # 85.5
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64), dtype=np.uint8)
    assert np.array_equal(resize_images(images, 64), images)                                     # same size
    # each image by the one resize a user's X-ray goes through (resize_grey, Pillow's LANCZOS)
    assert all(np.array_equal(out, resize_grey(image, 28)) for out, image in zip(resize_images(images, 28), images))


@pytest.mark.parametrize("images, size, words", [
    (np.zeros((2, 8, 8), np.float32), 4, "images must be uint8 (N, H, W), got float32 (2, 8, 8)"),
    (np.zeros((8, 8), np.uint8), 4, "images must be uint8 (N, H, W), got uint8 (8, 8)"),
    (np.zeros((2, 8, 8), np.uint8), 0, "size must be an int in 1..4096 (pixels), got 0"),
    (np.zeros((2, 8, 8), np.uint8), 2.5, "size must be an int in 1..4096 (pixels), got 2.5"),
    (np.zeros((2, 8, 8), np.uint8), True, "size must be an int in 1..4096 (pixels), got True"),
])
def test_resize_images_refuses_bad_input(images, size, words):
    with pytest.raises(ValueError) as info:
        resize_images(images, size)
    assert str(info.value) == f"resize_images: {words}"


def test_a_users_xray_goes_through_the_same_resize(tmp_path):
    grey = np.random.default_rng(1).integers(0, 256, (90, 70), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "xray.png")
    assert np.array_equal(load_xray(tmp_path / "xray.png", 28).pixels, resize_grey(grey, 28))


@pytest.fixture(scope="module")
def shipped():
    return load_pneumonia()


def test_resized_data_keep_labels_and_files_and_size_0_keeps_the_data(shipped):
    small = shipped.resized(28)
    assert small.x_train.shape == (5216, 28, 28) and small.x_test.shape == (624, 28, 28)
    assert small.y_train is shipped.y_train and small.files_test is shipped.files_test
    assert np.array_equal(small.x_train[7], resize_grey(shipped.x_train[7], 28))
    assert shipped.resized(0) is shipped and shipped.resized(64) is shipped


# ----------------------------------------------------------------------------- unit preprocessing


def test_unit_preprocessing_is_pixels_over_255():
    pixels = np.array([[[0, 51], [255, 128]]], np.uint8)
    x = preprocess(pixels, "unit")
    assert x.shape == (1, 2, 2, 1) and x.dtype == np.float32
    assert x[0, :, :, 0].tolist() == [[0.0, np.float32(0.2)], [1.0, np.float32(128 / 255)]]
    assert "unit" in PREPROCESSING_METHODS and R.PREPROCESSING_METHODS == PREPROCESSING_METHODS
    with pytest.raises(ValueError, match="unknown preprocessing 'zscore'; expected one of"):
        preprocess(pixels, "zscore")


def test_every_preprocessing_has_an_onnx_formula():
    from tinycnn.export.writer import PREPROCESSING_FORMULAS
    assert sorted(PREPROCESSING_FORMULAS) == sorted(PREPROCESSING_METHODS)
    assert PREPROCESSING_FORMULAS["unit"].startswith("x = pixels / 255")


# ----------------------------------------------------------------------------- the best epoch


def test_best_epoch_index_takes_the_first_of_the_best():
    history = {"val_auc": [0.5, 0.9, 0.9, 0.8], "val_loss": [0.7, 0.5, 0.6, 0.5]}
    assert best_epoch_index(history, "val_auc") == 1
    assert best_epoch_index(history, "val_loss") == 1
    assert best_epoch_index({"val_loss": [0.4, 0.3, 0.2]}, "val_loss") == 2


def baseline_tiny(out, **changes):
    """The published recipe on a 192-image subset: 4 epochs of 6 batches of 32, at 28x28."""
    settings = {**BASELINE_RECIPE, "subset": 192, "epochs": 4, "batch_size": 32, "n_bootstrap": 20,
                "out_dir": str(out), **changes}
    return R.make_config(**settings)


@pytest.fixture(scope="module")
def tiny_baseline(tmp_path_factory):
    """A 4-epoch baseline kept on its lowest validation loss, with its data (nothing of test is used)."""
    config = baseline_tiny(tmp_path_factory.mktemp("baseline"), lr=3e-3)
    data = T.prepare_data(config)
    model, histories, out = T.fit(config, data, print_fn=lambda line: None)
    return config, data, model, histories[0]


def test_select_on_val_loss_keeps_the_epoch_of_the_lowest_validation_loss(tiny_baseline):
    config, data, model, history = tiny_baseline
    losses = history["val_loss"]
    best = int(np.argmin(losses))
    assert best != int(np.argmax(history["val_auc"])), "this run cannot tell the two rules apart"
    _, description = R.load_model(f"{config.out_dir}/model.npz")
    assert description["epoch"] == best + 1 and description["input_shape"] == [28, 28, 1]
    assert description["preprocessing"] == "unit"
    logits = R.predict_logits(model, data["x_val"])
    val_loss = tc.functional.binary_cross_entropy_with_logits(tc.Tensor(logits), data["y_val"]).item()
    assert val_loss == pytest.approx(losses[best], rel=1e-5)        # the kept weights are that epoch's
    assert history["lr"] == [config.lr] * config.epochs               # the constant schedule
    assert data["x_train"].shape[1:] == (28, 28, 1) and float(data["x_train"].max()) <= 1.0


def test_select_on_val_auc_is_todays_rule(tmp_path):
    config = baseline_tiny(tmp_path, epochs=5, select_on="val_auc", lr=2e-2)
    _, histories, _ = T.fit(config, print_fn=lambda line: None)
    _, description = R.load_model(tmp_path / "model.npz")
    best = int(np.argmax(histories[0]["val_auc"]))
    assert best not in (int(np.argmin(histories[0]["val_loss"])), 4), "this run cannot tell the rules apart"
    assert description["epoch"] == best + 1


def test_a_baseline_model_is_scored_at_its_own_input_size(tiny_baseline, tmp_path):
    config, _, model, _ = tiny_baseline
    _, description = R.load_model(f"{config.out_dir}/model.npz")
    grey = np.random.default_rng(2).integers(0, 256, (120, 100), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "xray.png")
    result = R.score_file(model, description, tmp_path / "xray.png", 1.0, 0.5)
    x = resize_grey(grey, 28)[None, :, :, None].astype(np.float32) / np.float32(255)
    assert result["probability"] == pytest.approx(float(1 / (1 + np.exp(-R.predict_logits(model, x)[0]))))


# ----------------------------------------------------------------------------- corruption, shifted validation


def test_prepared_data_carry_the_uint8_training_images_and_the_shifted_validation_set(tiny_baseline):
    config, data, _, _ = tiny_baseline
    assert data["x_train_uint8"].dtype == np.uint8 and data["x_train_uint8"].shape == (192, 28, 28)
    assert np.array_equal(preprocess(data["x_train_uint8"], "unit"), data["x_train"])
    assert data["x_val_shifted"].shape == data["x_val"].shape
    assert not np.array_equal(data["x_val_shifted"], data["x_val"])


def test_corruption_0_never_corrupts_and_corruption_p_corrupts_every_batch(tmp_path, monkeypatch):
    calls = []

    def recording(images, rng, probability):
        calls.append((images.dtype, images.shape, probability))
        return images
    monkeypatch.setattr(T, "corrupt_batch", recording)
    T.fit(baseline_tiny(tmp_path / "clean", epochs=1), print_fn=lambda line: None)
    assert calls == []
    T.fit(baseline_tiny(tmp_path / "corrupted", epochs=1, corruption=0.5), print_fn=lambda line: None)
    assert calls == [(np.uint8, (32, 28, 28), 0.5)] * 6               # 192 images, batches of 32


def test_corrupted_training_changes_the_weights(tiny_baseline, tmp_path):
    config, data, _, _ = tiny_baseline
    clean, _, _ = T.fit(baseline_tiny(tmp_path / "a", epochs=1), data, print_fn=lambda line: None)
    corrupted, _, _ = T.fit(baseline_tiny(tmp_path / "b", epochs=1, corruption=1.0), data, print_fn=lambda line: None)
    again, _, _ = T.fit(baseline_tiny(tmp_path / "c", epochs=1), data, print_fn=lambda line: None)
    kernel = "conv1.kernel"
    assert np.array_equal(clean.state_dict()[kernel], again.state_dict()[kernel])
    assert not np.array_equal(clean.state_dict()[kernel], corrupted.state_dict()[kernel])


def test_calibration_is_fitted_on_the_set_calibrate_on_names(tiny_baseline):
    config, data, model, _ = tiny_baseline
    y_val = data["y_val"].astype(int)
    val_logits = R.predict_logits(model, data["x_val"])
    shifted_logits = R.predict_logits(model, data["x_val_shifted"])
    for name, logits in (("val", val_logits), ("shifted_val", shifted_logits)):
        temperature, threshold, report = fit_calibration(model, data, val_logits, replace(config, calibrate_on=name))
        assert temperature == metrics.fit_temperature(logits, y_val)
        assert threshold == metrics.threshold_for_sensitivity(y_val, metrics.sigmoid(logits / temperature), 0.95)
        assert report["calibrate_on"] == name
        assert report["ece_val_after_temperature"] == metrics.ece(y_val, metrics.sigmoid(val_logits / temperature))
        assert report["ece_shifted_val_before_temperature"] == metrics.ece(y_val, metrics.sigmoid(shifted_logits))
        assert report["shifted_val_auc"] == metrics.roc_auc(y_val, shifted_logits)
    without = {k: v for k, v in data.items() if k != "x_val_shifted"}
    with pytest.raises(RunError, match="calibrate_on 'shifted_val' needs the shifted validation images"):
        fit_calibration(model, without, val_logits, replace(config, calibrate_on="shifted_val"))


# ----------------------------------------------------------------------------- old config.json files


def old_config_record(config):
    """``config`` as a config.json written before issue 13's fields existed."""
    return {k: v for k, v in asdict(config).items() if k not in LATER_FIELDS}


def test_a_config_json_without_the_later_fields_reads_back_as_what_it_trained_with(tmp_path):
    """An old run had no corruption and calibrated on validation, although new runs default to
    corruption 0.5 and the shifted validation images: it must read back as it was trained."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old_config_record(R.TrainConfig(seed=3))))
    assert R.read_config(path) == R.TrainConfig(seed=3, corruption=0.0, calibrate_on="val")
    assert LATER_FIELDS == {"image_size": 0, "lr_schedule": "cosine", "select_on": "val_auc", "corruption": 0.0,
                            "calibrate_on": "val"}
    assert (R.TrainConfig().corruption, R.TrainConfig().calibrate_on) == (0.5, "shifted_val")


def test_an_old_run_can_be_resumed_and_evaluated(tmp_path):
    from tinycnn.runs.config import run_folder_config
    config = R.TrainConfig(subset=192, epochs=1, batch_size=32, n_bootstrap=20, out_dir=str(tmp_path),
                           model_kwargs={"width": 0.5}, members=1, **LATER_FIELDS)   # as a run of then
    T.fit(config, print_fn=lambda line: None)
    (tmp_path / "config.json").write_text(json.dumps(old_config_record(config)))
    lines = []
    T.fit(config, resume=True, print_fn=lines.append)                 # the same-run check passes
    assert any("resumed from" in line for line in lines)
    _, description = R.load_model(tmp_path / "model.npz")
    (tmp_path / "config.json").write_text(json.dumps(old_config_record(config)))
    assert run_folder_config(str(tmp_path / "model.npz"), description) == config


def test_a_model_without_config_json_is_evaluated_at_its_input_size(tiny_baseline):
    from tinycnn.runs.config import run_folder_config
    config, _, _, _ = tiny_baseline
    _, description = R.load_model(f"{config.out_dir}/model.npz")
    folder = config.out_dir + "/copy"
    os.makedirs(folder, exist_ok=True)
    shutil.copy(f"{config.out_dir}/model.npz", folder)
    found = run_folder_config(f"{folder}/model.npz", description)
    assert (found.image_size, found.model, found.preprocessing, found.seed) == (28, "baseline_cnn", "unit", 0)


def test_a_config_json_of_another_image_size_is_not_the_models(tiny_baseline, tmp_path):
    from tinycnn.runs.config import run_folder_config
    config, _, _, _ = tiny_baseline
    shutil.copy(f"{config.out_dir}/model.npz", tmp_path)
    _, description = R.load_model(tmp_path / "model.npz")
    (tmp_path / "config.json").write_text(json.dumps(asdict(replace(config, image_size=48))))
    with pytest.raises(RunError, match="image_size 48 in config.json, input 28 px in the model"):
        run_folder_config(str(tmp_path / "model.npz"), description)


# ----------------------------------------------------------------------------- the command line


BASELINE_FLAGS = ("--model baseline_cnn --image-size 28 --preprocessing unit --optimizer adam --lr 1e-3 "
                  "--lr-schedule constant --weight-decay 0 --batch-size 128 --no-augment --select-on val_loss "
                  "--members 1 --imbalance none --epochs 20 --corruption 0 --calibrate-on val").split()


def train_config_of(argv):
    return cli.train_config(cli.build_parser().parse_args(["train", *argv]))


def test_no_flags_give_todays_default_run():
    assert train_config_of([]) == R.TrainConfig() == R.make_config()


def test_the_flags_reach_the_config_and_give_the_published_recipe():
    config = train_config_of(BASELINE_FLAGS + ["--seed", "2", "--out", "runs/baseline_seed2"])
    assert config == train_baseline.baseline_config(2)
    assert {name: getattr(config, name) for name in BASELINE_RECIPE} == BASELINE_RECIPE
    assert (config.seed, config.out_dir) == (2, "runs/baseline_seed2")
    assert train_config_of(["--no-augment"]) == R.TrainConfig(augment=False)
    assert train_config_of(["--image-size", "48", "--lr", "0.01"]) == R.TrainConfig(image_size=48, lr=0.01)


def test_the_quick_baseline_keeps_the_recipe():
    config = train_baseline.baseline_config(1, "/tmp/somewhere", quick=True)
    assert (config.subset, config.epochs, config.members, config.model) == (768, 2, 1, "baseline_cnn")


def test_make_config_refuses_an_unknown_setting():
    with pytest.raises(RunError, match="make_config: unknown setting 'colour'"):
        R.make_config(colour="red")


@pytest.mark.parametrize("select_on, values, expected", [
    ("val_auc", [0.5, float("nan"), 0.7], 2),
    ("val_loss", [0.5, float("nan"), 0.7], 0),
    ("val_auc", [float("nan"), 0.6, 0.6], 1),
    ("val_loss", [float("nan"), float("nan"), 0.9], 2),
    ("val_auc", [float("nan")] * 3, 0),
    ("val_loss", [float("nan")] * 3, 0),
])
def test_best_epoch_index_treats_a_nan_score_as_the_worst(select_on, values, expected):
    assert best_epoch_index({select_on: values}, select_on) == expected


def test_the_baseline_recipe_has_no_corruptions_whatever_the_default():
    """The published recipe has no augmentation; the default run corrupts half of its images."""
    config = train_baseline.baseline_config(0)
    assert (config.corruption, config.calibrate_on, config.augment) == (0.0, "val", False)
    assert R.TrainConfig().corruption > 0

