"""Issue 13's infrastructure: the published 3-conv baseline (``baseline_cnn``) and the training
options its recipe and the robustness experiments need (input resolution, ``unit``
preprocessing, best epoch by validation loss, corruption / calibration fields), read back
from old config.json files, and reached from the command line."""

import numpy as np
import pytest

import tinycnn as tc
from tinycnn import cli, models
from tinycnn.cam import GradCAM
from tinycnn.summary import summary_rows

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
