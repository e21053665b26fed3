"""Bad inputs to a run (issue 11): model files, checkpoints, metrics.json and config.json,
training configurations and data, resume, the run lock, temporary files, file modes and the
CLI's train/evaluate/summary/gradcam/predict arguments.

Every case asserts its exact outcome: the error type and the words that name the file, the
field or the argument (and, for the files, that the message is one line that never advises
``allow_pickle``), or the correct value.  Tables, not one function per case.
"""

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import tracemalloc
import zipfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tinycnn.runs as R
import tinycnn.train as T
from tinycnn import cli
from tinycnn.files import BadFileError, atomic_write, atomic_write_text
from tinycnn.plots.figure import new_figure, save_png
from tinycnn.runs import RunError, RunLock, RunLockedError

DELETE = object()                                     # "remove this field" in a table


def tiny_config(out_dir, **changes):
    """One network, 192 training images, one epoch of 6 batches: about a second."""
    return T.TrainConfig(subset=192, epochs=1, batch_size=32, n_bootstrap=20, out_dir=str(out_dir),
                         model_kwargs={"width": 0.5}, members=1, **changes)


def assert_one_clear_line(message, *words):
    assert "\n" not in message and "allow_pickle" not in message and "Traceback" not in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


# ----------------------------------------------------------------------------- writing bad files


def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
    return buffer.getvalue()


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    """An .npz by hand: {name: array or raw bytes}; '.npy' is added to array names."""
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, value in members.items():
            if isinstance(value, bytes):
                z.writestr(name, value)
            else:
                z.writestr(name + ".npy", npy_bytes(value))


@pytest.fixture(scope="module")
def model_members():
    """The arrays of a good model file (pneumonia_net at width 0.5)."""
    network = R.build_network("pneumonia_net", (64, 64, 1), 0, width=0.5)
    description = {"model": "pneumonia_net", "input_shape": [64, 64, 1], "seed": 0,
                   "model_kwargs": {"width": 0.5}, "members": 1, "preprocessing": "per_image"}
    members = {f"weights/{k}": v for k, v in network.state_dict().items()}
    members["description"] = np.array(json.dumps(description))
    return members


def first_weight(members):
    return next(k for k in members if k.startswith("weights/") and members[k].ndim == 4)


def described(**changes):
    """A writer: the good model file with description fields changed (DELETE removes one)."""
    def write(members, path):
        description = json.loads(str(members["description"]))
        for key, value in changes.items():
            if value is DELETE:
                description.pop(key)
            else:
                description[key] = value
        write_zip(path, {**members, "description": np.array(json.dumps(description))})
    return write


def with_weight(transform):
    """A writer: the good model file with its first conv kernel replaced by transform(kernel)."""
    def write(members, path):
        key = first_weight(members)
        write_zip(path, {**members, key: transform(members[key])})
    return write


def raw_bytes(make):
    def write(members, path):
        path.write_bytes(make(members, path))
    return write


def good_file_bytes(members, path):
    write_zip(path, members)
    return path.read_bytes()


def with_nan(kernel):
    bad = kernel.copy()
    bad.flat[3] = np.nan
    return bad


def deflate_bomb(members, path, unpacked=120 * 2**20):
    """A deflated weight whose header is right but whose member unpacks to 120 MB of zeros."""
    key = first_weight(members)
    header = npy_bytes(members[key])[:128]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, value in members.items():
            if name != key:
                z.writestr(name + ".npy", npy_bytes(value))
        with z.open(key + ".npy", "w", force_zip64=True) as f:
            f.write(header)
            for _ in range(unpacked // 2**20):
                f.write(bytes(2**20))


def header_bomb(members, path):
    """A weight whose header claims 30000 x 30000 float32 (3.6 GB) in a few bytes."""
    key = first_weight(members)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (30000, 30000)})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, value in members.items():
            z.writestr(name + ".npy", buffer.getvalue() if name == key else npy_bytes(value))


def description_bomb(members, path):
    """A description whose header claims a 300-million-character text."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<U300000000", "fortran_order": False, "shape": ()})
    write_zip(path, {**{k: v for k, v in members.items() if k != "description"},
                     "description.npy": buffer.getvalue() + bytes(1000)}, zipfile.ZIP_DEFLATED)


def bzip2_members(members, path):
    write_zip(path, members, zipfile.ZIP_BZIP2)


def not_npy_member(members, path):
    write_zip(path, {**{k: v for k, v in members.items() if k != "description"},
                     "description.npy": b"this is not a .npy array at all"})


def short_member(members, path):
    key = first_weight(members)
    write_zip(path, {**{k: v for k, v in members.items() if k != key}, key + ".npy": npy_bytes(members[key])[:-40]})


def single_npy(members, path):
    np.save(open(path, "wb"), members[first_weight(members)])


BAD_MODEL_FILES = [
    pytest.param(raw_bytes(lambda m, p: b""), BadFileError, ["is not an .npz archive"], id="empty"),
    pytest.param(raw_bytes(lambda m, p: np.random.default_rng(0).bytes(5000)), BadFileError,
                 ["is not an .npz archive"], id="random-bytes"),
    pytest.param(raw_bytes(lambda m, p: good_file_bytes(m, p)[:3000]), BadFileError,
                 ["is not an .npz archive", "truncated"], id="truncated"),
    pytest.param(raw_bytes(lambda m, p: good_file_bytes(m, p)[:-10]), BadFileError,
                 ["is not an .npz archive"], id="last-bytes-cut"),
    pytest.param(single_npy, BadFileError, ["is not an .npz archive"], id="a-single-npy"),
    pytest.param(lambda m, p: write_zip(p, {"notes.txt": b"hello"}), BadFileError,
                 ["holds no .npy arrays", "notes.txt"], id="zip-that-is-not-npz"),
    pytest.param(lambda m, p: write_zip(p, {**m, first_weight(m): np.array([{"a": 1}], dtype=object)}),
                 BadFileError, ["holds Python objects (a pickle)", "weights/"], id="pickled-weight"),
    pytest.param(lambda m, p: write_zip(p, {**m, "description": np.array([{"model": 1}], dtype=object)}),
                 BadFileError, ["'description' holds Python objects"], id="pickled-description"),
    pytest.param(lambda m, p: write_zip(p, {k: v for k, v in m.items() if k != first_weight(m)}),
                 BadFileError, ["is missing 'weights/"], id="missing-weight"),
    pytest.param(lambda m, p: write_zip(p, {**m, "weights/extra": np.zeros(3, np.float32)}),
                 BadFileError, ["has unexpected 'weights/extra'"], id="unexpected-array"),
    pytest.param(lambda m, p: write_zip(p, {k: v for k, v in m.items() if k != "description"}),
                 BadFileError, ["has no array 'description'"], id="no-description"),
    pytest.param(with_weight(lambda w: np.zeros((3, 3, 1, 99), np.float32)), BadFileError,
                 ["has shape (3, 3, 1, 99), expected (3, 3, 1, 8)"], id="wrong-shape"),
    pytest.param(with_weight(lambda w: w.astype(np.int32)), BadFileError,
                 ["has dtype int32, expected float32"], id="int32-weights"),
    pytest.param(with_weight(lambda w: w.astype(np.float64)), BadFileError,
                 ["has dtype float64, expected float32"], id="float64-weights"),
    pytest.param(with_weight(with_nan), BadFileError, ["holds 1 NaN or infinite value(s)"], id="nan-weight"),
    pytest.param(with_weight(lambda w: w * np.float32(np.inf)), BadFileError, ["NaN or infinite"], id="inf-weights"),
    pytest.param(deflate_bomb, BadFileError, ["unpacks to 125,829,248 bytes", "needs 416"], id="deflate-bomb"),
    pytest.param(header_bomb, BadFileError, ["has shape (30000, 30000), expected (3, 3, 1, 8)"], id="header-bomb"),
    pytest.param(description_bomb, BadFileError, ["300,000,000 characters long"], id="description-bomb"),
    pytest.param(bzip2_members, BadFileError, ["compression method 12"], id="bzip2-member"),
    pytest.param(not_npy_member, BadFileError, ["'description' is not a readable .npy array"], id="garbage-member"),
    pytest.param(short_member, BadFileError, ["unpacks to", "needs"], id="member-cut-short"),
    pytest.param(lambda m, p: write_zip(p, {**m, "description": np.array("{not json")}), RunError,
                 ["description is not valid JSON"], id="description-not-json"),
    pytest.param(lambda m, p: write_zip(p, {**m, "description": np.arange(3)}), BadFileError,
                 ["'description' should be a text"], id="description-not-text"),
    pytest.param(lambda m, p: write_zip(p, {**m, "description": np.array("[1, 2]")}), RunError,
                 ["description must be an object", "[1, 2]"], id="description-a-list"),
    pytest.param(described(model=DELETE), RunError, ["description: field 'model' is missing"], id="no-model-name"),
    pytest.param(described(model="resnet50"), RunError, ["model must be one of", "'resnet50'"], id="unknown-model"),
    pytest.param(described(input_shape=[100000, 100000, 1]), RunError,
                 ["input_shape[0] must be <= 512, got 100000"], id="huge-input"),
    pytest.param(described(input_shape=[64, 64]), RunError, ["input_shape must be a list of 3 items"], id="2d-shape"),
    pytest.param(described(input_shape=[64, -64, 1]), RunError, ["input_shape[1] must be >= 1, got -64"],
                 id="negative-side"),
    pytest.param(described(input_shape=[64, 64, 5]), RunError, ["input_shape[2] must be <= 4, got 5"],
                 id="five-channels"),
    pytest.param(described(input_shape=[64.5, 64, 1]), RunError, ["input_shape[0] must be an integer, got 64.5"],
                 id="float-side"),
    pytest.param(described(input_shape="64x64"), RunError, ["input_shape must be a list"], id="shape-a-string"),
    pytest.param(described(seed=-3), RunError, ["seed must be >= 0, got -3"], id="negative-seed"),
    pytest.param(described(seed="0"), RunError, ["seed must be an integer, got '0'"], id="seed-a-string"),
    pytest.param(described(model_kwargs={"width": 0.5, "depth": 3}), RunError,
                 ["unknown argument 'depth' for pneumonia_net"], id="unknown-kwarg"),
    pytest.param(described(model_kwargs={"width": 0}), RunError, ["model_kwargs['width'] must be >= 0.0625, got 0"],
                 id="width-0"),
    pytest.param(described(model_kwargs={"width": 1000}), RunError, ["model_kwargs['width'] must be <= 4.0"],
                 id="width-1000"),
    pytest.param(described(model_kwargs={"width": True}), RunError, ["model_kwargs['width'] must be a number"],
                 id="width-a-bool"),
    pytest.param(described(model="mobilenet_v1", model_kwargs={"alpha": 0.01}), RunError,
                 ["model_kwargs['alpha'] must be >= 0.0625, got 0.01"], id="alpha-0.01"),
    pytest.param(described(model_kwargs=[1]), RunError, ["model_kwargs must be an object"], id="kwargs-a-list"),
    pytest.param(described(members=0), RunError, ["members must be >= 1, got 0"], id="members-0"),
    pytest.param(described(members=10**9), RunError, ["members must be <= 32"], id="members-huge"),
    pytest.param(described(members=2), RunError, ["description says members 2", "1 network(s)"],
                 id="members-mismatch"),
    pytest.param(described(preprocessing="zscore"), RunError, ["preprocessing must be one of"], id="preprocessing"),
    pytest.param(described(val_auc=float("nan")), RunError, ["val_auc must be a finite number"], id="nan-val-auc"),
    pytest.param(described(input_shape=[4, 4, 1], model="vgg_like", model_kwargs={}), RunError,
                 ["cannot build vgg_like from its description"], id="input-too-small-to-build"),
]


@pytest.mark.parametrize("write, error, words", BAD_MODEL_FILES)
def test_a_bad_model_file_is_one_line_naming_it(tmp_path, model_members, write, error, words):
    path = tmp_path / "model.npz"
    write(model_members, path)
    tracemalloc.start()
    try:
        with pytest.raises(error) as info:
            R.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_one_clear_line(str(info.value), str(path), *words)
    assert peak < 30 * 2**20, f"refusing the file allocated {peak / 2**20:.0f} MiB"


def test_an_ensemble_over_the_size_budget_is_refused_after_building_one_member(tmp_path, model_members,
                                                                               monkeypatch):
    monkeypatch.setattr(R.model_file, "MAX_MODEL_BYTES", 100_000)      # 4 x 43 kB members
    members = {f"weights/member{k}.{key[8:]}": value for k in range(4) for key, value in model_members.items()
               if key.startswith("weights/")}
    described(members=4)({**members, "description": model_members["description"]}, tmp_path / "model.npz")
    with pytest.raises(RunError) as info:
        R.load_model(tmp_path / "model.npz")
    assert_one_clear_line(str(info.value), "asks for 4 x 43,", "bytes of weights, more than the 100,000")


def test_the_good_model_file_of_the_table_loads(tmp_path, model_members):
    write_zip(tmp_path / "model.npz", model_members, zipfile.ZIP_DEFLATED)     # np.savez_compressed-like
    model, description = R.load_model(tmp_path / "model.npz")
    assert description["model_kwargs"] == {"width": 0.5} and not model.training


def test_a_nan_logit_gets_no_probability(model_members):
    model = R.build_network("pneumonia_net", (64, 64, 1), 0, width=0.5).eval()
    x = np.zeros((3, 64, 64, 1), np.float32)
    assert np.isfinite(R.predict_logits(model, x)).all()
    model.layers[-1].bias.data[...] = np.nan
    with pytest.raises(RunError, match=r"NaN or infinite for 3 of 3 image\(s\) \(the first is image 0\)"):
        R.predict_logits(model, x)


# ----------------------------------------------------------------------------- metrics.json, config.json

GOOD_METRICS = {"temperature": 1.3, "threshold_val_sens": {"threshold": 0.4}}


def metrics_text(**changes):
    report = json.loads(json.dumps(GOOD_METRICS))
    for key, value in changes.items():
        if key == "threshold":
            report["threshold_val_sens"]["threshold"] = value
        elif value is DELETE:
            report.pop(key)
        else:
            report[key] = value
    return json.dumps(report)


BAD_METRICS = [
    pytest.param(metrics_text(temperature=-0.5), ["temperature must be >= 0.01, got -0.5"], id="temperature<0"),
    pytest.param(metrics_text(temperature=0), ["temperature must be >= 0.01, got 0"], id="temperature-0"),
    pytest.param(metrics_text(temperature=float("nan")), ["temperature must be a finite number, got nan"],
                 id="temperature-nan"),
    pytest.param(metrics_text(temperature=float("inf")), ["temperature must be a finite number"], id="temperature-inf"),
    pytest.param(metrics_text(temperature=1e9), ["temperature must be <= 100.0"], id="temperature-huge"),
    pytest.param(metrics_text(temperature="1.0"), ["temperature must be a number, got '1.0'"], id="temperature-str"),
    pytest.param(metrics_text(temperature=True), ["temperature must be a number, got True"], id="temperature-bool"),
    pytest.param(metrics_text(temperature=DELETE), ["field 'temperature' is missing"], id="no-temperature"),
    pytest.param(metrics_text(threshold=5), ["threshold_val_sens.threshold must be <= 1, got 5"], id="threshold-5"),
    pytest.param(metrics_text(threshold=-1), ["threshold_val_sens.threshold must be >= 0, got -1"], id="threshold-neg"),
    pytest.param(metrics_text(threshold=float("nan")), ["threshold_val_sens.threshold must be a finite number"],
                 id="threshold-nan"),
    pytest.param(metrics_text(threshold_val_sens=DELETE), ["field 'threshold_val_sens' is missing"], id="no-threshold"),
    pytest.param(metrics_text(threshold_val_sens=0.5), ["threshold_val_sens must be an object"], id="threshold-flat"),
    pytest.param("[1, 2, 3]", ["the file must be an object"], id="metrics-a-list"),
    pytest.param('{"temperature": 1.0,', ["metrics file", "is not valid JSON"], id="metrics-not-json"),
    pytest.param(b"\xff\xfe\x00garbage", ["metrics file", "is not valid JSON"], id="metrics-not-utf8"),
]


@pytest.mark.parametrize("content, words", BAD_METRICS)
def test_a_bad_metrics_json_is_refused_naming_file_and_field(tmp_path, content, words):
    path = tmp_path / "metrics.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError) as info:
        R.read_calibration(tmp_path)
    assert_one_clear_line(str(info.value), str(path), *words)


def config_text(**changes):
    record = asdict(T.TrainConfig())
    for key, value in changes.items():
        if value is DELETE:
            record.pop(key)
        else:
            record[key] = value
    return json.dumps(record)


BAD_CONFIGS = [
    pytest.param(config_text(lr=-1), ["lr must be > 0, got -1"], id="lr<0"),
    pytest.param(config_text(lr="fast"), ["lr must be a number, got 'fast'"], id="lr-str"),
    pytest.param(config_text(epochs=0), ["epochs must be >= 1, got 0"], id="epochs-0"),
    pytest.param(config_text(epochs=2.5), ["epochs must be an integer, got 2.5"], id="epochs-float"),
    pytest.param(config_text(batch_size=0), ["batch_size must be >= 1, got 0"], id="batch-0"),
    pytest.param(config_text(members=0), ["members must be >= 1, got 0"], id="members-0"),
    pytest.param(config_text(seed=-1), ["seed must be >= 0, got -1"], id="seed<0"),
    pytest.param(config_text(imbalance="balanced"), ["imbalance must be one of", "'balanced'"], id="imbalance"),
    pytest.param(config_text(model="resnet"), ["model must be one of", "'resnet'"], id="model"),
    pytest.param(config_text(model_kwargs={"width": 0}), ["model_kwargs['width'] must be >= 0.0625"], id="width-0"),
    pytest.param(config_text(val_fraction=1.0), ["val_fraction must be < 1, got 1.0"], id="val-fraction-1"),
    pytest.param(config_text(augment="yes"), ["augment must be true or false, got 'yes'"], id="augment-str"),
    pytest.param(config_text(preprocessing="zscore"), ["preprocessing must be one of"], id="preprocessing"),
    pytest.param(config_text(image_size=-1), ["image_size must be >= 0, got -1"], id="image-size<0"),
    pytest.param(config_text(image_size=600), ["image_size must be <= 512, got 600"], id="image-size-600"),
    pytest.param(config_text(image_size=28.5), ["image_size must be an integer, got 28.5"], id="image-size-float"),
    pytest.param(config_text(select_on="val_acc"), ["select_on must be one of ('val_auc', 'val_loss'), got 'val_acc'"],
                 id="select-on"),
    pytest.param(config_text(corruption=1.5), ["corruption must be <= 1, got 1.5"], id="corruption>1"),
    pytest.param(config_text(corruption="some"), ["corruption must be a number, got 'some'"], id="corruption-str"),
    pytest.param(config_text(calibrate_on="test"), ["calibrate_on must be one of ('val', 'shifted_val'), got 'test'"],
                 id="calibrate-on-test"),
    pytest.param(config_text(lr_schedule="step"), ["lr_schedule must be one of ('cosine', 'constant'), got 'step'"],
                 id="lr-schedule"),
    pytest.param(config_text(preprocessing="Unit"), ["preprocessing must be one of ('per_image', 'dataset', 'unit')"],
                 id="preprocessing-case"),
    pytest.param(config_text(colour="red"), ["unknown field 'colour'"], id="unknown-field"),
    pytest.param(config_text(seed=DELETE), ["field 'seed' is missing"], id="missing-field"),
    pytest.param("{", ["run configuration", "is not valid JSON"], id="config-not-json"),
    pytest.param('"a string"', ["the file must be an object"], id="config-a-string"),
]


@pytest.mark.parametrize("content, words", BAD_CONFIGS)
def test_a_bad_config_json_is_refused_naming_file_and_field(tmp_path, content, words):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ValueError) as info:
        R.read_config(path)
    assert_one_clear_line(str(info.value), str(path), *words)


# ----------------------------------------------------------------------------- training: before it starts


@pytest.fixture(scope="module")
def tiny_data():
    return T.prepare_data(tiny_config("unused"))


def one_class(split, label):
    def change(data):
        return {**data, f"y_{split}": np.full_like(data[f"y_{split}"], label)}
    return change


def poisoned(split, value):
    def change(data):
        x = data[f"x_{split}"].copy()
        x[0, 0, 0, 0] = value
        return {**data, f"x_{split}": x}
    return change


def too_large_images(data):
    return {**data, "x_train": np.zeros((4, 513, 8, 1), np.float32), "y_train": np.array([0, 1, 0, 1], np.float32)}


BAD_TRAINING = [   # (config changes, data change, words); each is refused before anything is written
    pytest.param({"batch_size": 0}, None, ["batch_size must be >= 1, got 0"], id="batch-0"),
    pytest.param({"batch_size": -5}, None, ["batch_size must be >= 1, got -5"], id="batch-negative"),
    pytest.param({"batch_size": 10_000}, None,
                 ["batch_size 10000 is larger than the 192 training images", "no optimizer step"], id="batch>train"),
    pytest.param({"epochs": 0}, None, ["epochs must be >= 1, got 0"], id="epochs-0"),
    pytest.param({"epochs": -1}, None, ["epochs must be >= 1, got -1"], id="epochs-negative"),
    pytest.param({"members": 0}, None, ["members must be >= 1, got 0"], id="members-0"),
    pytest.param({"members": 100}, None, ["members must be <= 32, got 100"], id="members-100"),
    pytest.param({"lr": 0.0}, None, ["lr must be > 0, got 0.0"], id="lr-0"),
    pytest.param({"lr": float("nan")}, None, ["lr must be a finite number, got nan"], id="lr-nan"),
    pytest.param({"imbalance": "balanced"}, None, ["imbalance must be one of", "got 'balanced'"], id="imbalance"),
    pytest.param({"optimizer": "rmsprop"}, None, ["optimizer must be one of", "'rmsprop'"], id="optimizer"),
    pytest.param({"seed": -1}, None, ["seed must be >= 0, got -1"], id="seed-negative"),
    pytest.param({"val_fraction": 0.0}, None, ["val_fraction must be > 0, got 0.0"], id="val-fraction-0"),
    pytest.param({"model": "resnet"}, None, ["model must be one of", "'resnet'"], id="unknown-model"),
    pytest.param({"model_kwargs": {"width": 0.01}}, None, ["model_kwargs['width'] must be >= 0.0625, got 0.01"],
                 id="width-0.01"),
    pytest.param({"model_kwargs": {"alpha": 1.0}}, None, ["unknown argument 'alpha' for pneumonia_net"],
                 id="kwarg-of-another-model"),
    pytest.param({"target_sensitivity": 0}, None, ["target_sensitivity must be > 0, got 0"], id="sensitivity-0"),
    pytest.param({"n_bootstrap": 0}, None, ["n_bootstrap must be >= 1, got 0"], id="bootstrap-0"),
    pytest.param({"out_dir": ""}, None, ["out_dir must be a folder name, got ''"], id="out-empty"),
    pytest.param({"image_size": -28}, None, ["TrainConfig: image_size must be >= 0, got -28"], id="image-size<0"),
    pytest.param({"select_on": "auc"}, None, ["TrainConfig: select_on must be one of", "got 'auc'"], id="select-on"),
    pytest.param({"corruption": -0.1}, None, ["TrainConfig: corruption must be >= 0, got -0.1"], id="corruption<0"),
    pytest.param({"corruption": float("nan")}, None, ["corruption must be a finite number, got nan"],
                 id="corruption-nan"),
    pytest.param({"calibrate_on": "shifted"}, None, ["TrainConfig: calibrate_on must be one of", "got 'shifted'"],
                 id="calibrate-on"),
    pytest.param({"lr_schedule": None}, None, ["TrainConfig: lr_schedule must be one of", "got None"],
                 id="lr-schedule-none"),
    pytest.param({"preprocessing": "unit "}, None, ["TrainConfig: preprocessing must be one of", "got 'unit '"],
                 id="preprocessing"),
    pytest.param({"model": "baseline_cnn", "model_kwargs": {"batch_norm": 1}}, None,
                 ["model_kwargs['batch_norm'] must be true or false, got 1"], id="baseline-batch-norm-1"),
    pytest.param({}, one_class("train", 1), ["train split hold(s) only one class (0 NORMAL, 192 PNEUMONIA)"],
                 id="one-class-train"),
    pytest.param({}, one_class("val", 0), ["val split hold(s) only one class (64 NORMAL, 0 PNEUMONIA)"],
                 id="one-class-val"),
    pytest.param({}, one_class("test", 1), ["test split hold(s) only one class (0 NORMAL, 624 PNEUMONIA)"],
                 id="one-class-test"),
    pytest.param({}, poisoned("train", np.nan), ["x_train holds 1 NaN or infinite value(s)"], id="nan-in-train"),
    pytest.param({}, poisoned("val", np.inf), ["x_val holds 1 NaN or infinite value(s)"], id="inf-in-val"),
    pytest.param({}, lambda d: {**d, "y_train": d["y_train"] + 1}, ["y_train must be 192 labels of 0 and 1"],
                 id="labels-1-2"),
    pytest.param({}, lambda d: {**d, "x_train": d["x_train"].astype(np.float64)},
                 ["x_train must be float32 (N, H, W, C), got float64"], id="float64-data"),
    pytest.param({}, lambda d: {k: v for k, v in d.items() if k != "x_val"}, ["x_val and y_val are required"],
                 id="no-validation"),
    pytest.param({}, too_large_images, ["image shape (H, W, C)[0] must be <= 512, got 513"], id="images-too-large"),
]


@pytest.mark.parametrize("changes, change_data, words", BAD_TRAINING)
def test_a_bad_training_run_is_refused_before_anything_is_written(tmp_path, tiny_data, changes, change_data, words):
    out = tmp_path / "run"
    config = replace(tiny_config(out), **changes)
    data = change_data(tiny_data) if change_data else tiny_data
    with pytest.raises(RunError) as info:
        T.fit(config, data, print_fn=lambda s: None)
    assert_one_clear_line(str(info.value), *words)
    assert not out.exists()


def chest_xray_folder(root, corrupt_class):
    """A tiny chest_xray/ folder in which every image of ``corrupt_class`` is corrupt."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label, name in enumerate(("NORMAL", "PNEUMONIA")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(4):
                file = folder / (f"IM-{label}{i:03d}-0001.png" if label == 0 else f"person{i}_bacteria_{i}.png")
                if name == corrupt_class and split == "train":
                    file.write_bytes(b"\x89PNG\r\n\x1a\n broken")
                else:
                    Image.fromarray(rng.integers(0, 255, (70, 70), dtype=np.uint8)).save(file)
    return root


def test_a_training_folder_whose_pneumonia_images_are_all_corrupt_is_refused(tmp_path):
    folder = chest_xray_folder(tmp_path / "chest_xray", "PNEUMONIA")
    with pytest.warns(UserWarning, match="skipped 4 unreadable"), pytest.raises(RunError) as info:
        T.fit(tiny_config(tmp_path / "run", data_path=str(folder)), print_fn=lambda s: None)
    assert_one_clear_line(str(info.value), "training images of", "only one class (4 NORMAL, 0 PNEUMONIA)")
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- resume


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_data):
    config = tiny_config(tmp_path_factory.mktemp("finished") / "run")
    T.fit(config, tiny_data, print_fn=lambda s: None)
    return config


@pytest.fixture
def run_copy(finished_run, tmp_path):
    """A fresh copy of the finished one-epoch run, and its config."""
    folder = tmp_path / "run"
    shutil.copytree(finished_run.out_dir, folder)
    return replace(finished_run, out_dir=str(folder))


RESUME_CHANGES = [
    pytest.param({"seed": 1}, ["seed 0 -> 1"], id="seed"),
    pytest.param({"lr": 1e-3}, ["lr 0.003 -> 0.001"], id="lr"),
    pytest.param({"epochs": 3}, ["epochs 1 -> 3"], id="epochs"),
    pytest.param({"imbalance": "none"}, ["imbalance 'pos_weight' -> 'none'"], id="imbalance"),
    pytest.param({"members": 2}, ["members 1 -> 2"], id="members"),
    pytest.param({"model": "mobilenet_v1", "model_kwargs": {}},
                 ["model 'pneumonia_net' -> 'mobilenet_v1'", "model_kwargs {'width': 0.5} -> {}"], id="model"),
    pytest.param({"model_kwargs": {"width": 1.0}}, ["model_kwargs {'width': 0.5} -> {'width': 1.0}"], id="width"),
    pytest.param({"val_fraction": 0.2}, ["val_fraction 0.15 -> 0.2"], id="val-fraction"),
    pytest.param({"subset": 256}, ["subset 192 -> 256"], id="subset"),
    pytest.param({"batch_size": 16}, ["batch_size 32 -> 16"], id="batch-size"),
    pytest.param({"optimizer": "sgd"}, ["optimizer 'adamw' -> 'sgd'"], id="optimizer"),
    pytest.param({"seed": 2, "lr": 0.01}, ["2 field(s)", "lr 0.003 -> 0.01; seed 0 -> 2"], id="two-fields"),
]


@pytest.mark.parametrize("changes, words", RESUME_CHANGES)
def test_a_resume_with_another_configuration_is_refused_and_changes_nothing(run_copy, tiny_data, changes, words):
    folder = run_copy.out_dir
    before = {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}
    with pytest.raises(RunError) as info:
        T.fit(replace(run_copy, **changes), tiny_data, resume=True, print_fn=lambda s: None)
    assert_one_clear_line(str(info.value), f"cannot resume {folder}", "(saved -> now)", *words)
    after = {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}
    assert after == before                               # config.json not rewritten, no lock left


def rewrite_checkpoint(change):
    def write(path):
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        change(arrays)
        write_zip(path, arrays)
    return write


def progress_change(**changes):
    def change(arrays):
        progress = json.loads(str(arrays["progress"]))
        for key, value in changes.items():
            if key.startswith("best_"):
                progress["best"][key[5:]] = value
            elif key.startswith("history_"):
                progress["history"][key[8:]] = value
            else:
                progress[key] = value
        arrays["progress"] = np.array(json.dumps(progress))
    return change


def set_array(key, value):
    def change(arrays):
        name = next(k for k in arrays if k.startswith(key))
        arrays[name] = value(arrays[name])
    return change


def drop_arrays(prefix):
    def change(arrays):
        for name in [k for k in arrays if k.startswith(prefix)]:
            del arrays[name]
    return change


def nan_first(array):
    bad = array.astype(np.float32).copy()
    bad.flat[0] = np.nan
    return bad


BAD_CHECKPOINTS = [
    pytest.param(lambda p: p.write_bytes(b""), BadFileError, ["checkpoint", "is not an .npz archive"], id="empty"),
    pytest.param(lambda p: p.write_bytes(p.read_bytes()[:2000]), BadFileError, ["is not an .npz archive"],
                 id="truncated"),
    pytest.param(lambda p: p.write_bytes(os.urandom(3000)), BadFileError, ["is not an .npz archive"], id="random"),
    pytest.param(rewrite_checkpoint(lambda a: a.update(progress=np.array("{oops"))), RunError,
                 ["progress is not valid JSON"], id="progress-not-json"),
    pytest.param(rewrite_checkpoint(progress_change(epoch=7)), RunError, ["progress: epoch must be <= 1, got 7"],
                 id="epoch-beyond-run"),
    pytest.param(rewrite_checkpoint(progress_change(step=5)), RunError,
                 ["step must be 6 (1 epoch(s) x 6 batches), got 5"], id="step-mismatch"),
    pytest.param(rewrite_checkpoint(progress_change(history_val_auc=[0.9, 0.9])), RunError,
                 ["history.val_auc must be a list of 1 items"], id="history-length"),
    pytest.param(rewrite_checkpoint(progress_change(best_val_auc=float("nan"))), RunError,
                 ["best.val_auc must be a finite number"], id="best-nan"),
    pytest.param(rewrite_checkpoint(set_array("model/", lambda a: np.zeros((3, 3, 1, 16), np.float32))),
                 BadFileError, ["has shape (3, 3, 1, 16), expected (3, 3, 1, 8)"], id="other-width-weights"),
    pytest.param(rewrite_checkpoint(set_array("model/", lambda a: a.astype(np.int32))), BadFileError,
                 ["has dtype int32, expected float32"], id="int32-weights"),
    pytest.param(rewrite_checkpoint(drop_arrays("optimizer/")), BadFileError, ["is missing 'optimizer/"],
                 id="no-optimizer-state"),
    pytest.param(rewrite_checkpoint(set_array("optimizer/m.", nan_first)), BadFileError, ["NaN or infinite"],
                 id="nan-optimizer-state"),
    pytest.param(rewrite_checkpoint(set_array("model/", lambda a: np.array([object()], dtype=object))),
                 BadFileError, ["holds Python objects"], id="pickle"),
]


@pytest.mark.parametrize("damage, error, words", BAD_CHECKPOINTS)
def test_a_bad_checkpoint_is_refused_on_resume(run_copy, tiny_data, damage, error, words):
    path = os.path.join(run_copy.out_dir, "checkpoint.npz")
    damage(Path(path))
    with pytest.raises(error) as info:
        T.fit(run_copy, tiny_data, resume=True, print_fn=lambda s: None)
    assert_one_clear_line(str(info.value), path, *words)


def test_resume_without_config_json_or_with_a_broken_one_is_refused(run_copy, tiny_data):
    path = os.path.join(run_copy.out_dir, "config.json")
    os.remove(path)
    with pytest.raises(RunError) as info:
        T.fit(run_copy, tiny_data, resume=True, print_fn=lambda s: None)
    assert_one_clear_line(str(info.value), f"{path} is missing", "configuration is unknown")
    with open(path, "w") as f:
        f.write("{")
    with pytest.raises(BadFileError, match="is not valid JSON"):
        T.fit(run_copy, tiny_data, resume=True, print_fn=lambda s: None)


@pytest.mark.parametrize("make_folder, words", [
    pytest.param(lambda p: None, ["does not exist", "check the folder name"], id="typo-in-out"),
    pytest.param(lambda p: p.mkdir(), ["holds no checkpoint.npz"], id="empty-folder"),
    pytest.param(lambda p: (p.mkdir(), (p / "config.json").write_text(config_text())), ["holds no checkpoint.npz"],
                 id="config-but-no-checkpoint"),
    pytest.param(lambda p: p.write_text("a file"), ["is a file, not a folder"], id="out-is-a-file"),
])
def test_resume_needs_a_checkpoint_and_creates_nothing(tmp_path, tiny_data, make_folder, words):
    out = tmp_path / "run"
    make_folder(out)
    before = sorted(os.listdir(out)) if out.is_dir() else None
    with pytest.raises(RunError) as info:
        T.fit(tiny_config(out), tiny_data, resume=True, print_fn=lambda s: None)
    assert_one_clear_line(str(info.value), str(out), *words)
    assert (sorted(os.listdir(out)) if out.is_dir() else None) == before


# ----------------------------------------------------------------------------- the run lock


def write_lock(folder, **record):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".lock").write_text(json.dumps(record) if record else "")
    return folder / ".lock"


@pytest.fixture
def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def live_pid():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait()


def test_a_second_training_into_a_locked_folder_is_refused(tmp_path, tiny_data):
    """A real second process holds the lock; fit names the folder and that process."""
    folder = tmp_path / "run"
    code = ("import sys, time; from tinycnn.runs import RunLock\n"
            "with RunLock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError) as info:
            T.fit(tiny_config(folder), tiny_data, print_fn=lambda s: None)
        assert_one_clear_line(str(info.value), f"{folder} is in use by another training",
                              f"process {holder.pid} on {socket.gethostname()}", str(folder / ".lock"))
        assert sorted(os.listdir(folder)) == [".lock"]             # nothing of ours written
    finally:
        holder.kill()
        holder.wait()


LOCK_CASES = [   # (lock file contents, age in seconds, expected: "refused" words or "taken over" words)
    pytest.param(lambda pids: {"pid": pids["live"], "host": socket.gethostname()}, 0,
                 ("refused", ["is in use by another training", "process {live}"]), id="live-process"),
    pytest.param(lambda pids: {"pid": 1234, "host": "another-machine"}, 0,
                 ("refused", ["process 1234 on another-machine", "cannot tell whether it still runs",
                              "delete"]), id="other-host"),
    pytest.param(lambda pids: {}, 0, ("refused", ["is being locked by another process right now"]),
                 id="unreadable-and-new"),
    pytest.param(lambda pids: {"pid": pids["dead"], "host": socket.gethostname()}, 0,
                 ("taken", ["taking over the lock left by process {dead}", "no longer running"]), id="dead-process"),
    pytest.param(lambda pids: {}, 120, ("taken", ["taking over the lock left by an unreadable lock file"]),
                 id="unreadable-and-old"),
    pytest.param(lambda pids: {"pid": os.getpid(), "host": socket.gethostname()}, 0,
                 ("taken", ["taking over the lock left by process {me}"]), id="our-pid-from-a-previous-life"),
]


@pytest.mark.parametrize("record, age, expected", LOCK_CASES)
def test_the_run_lock_refuses_a_live_holder_and_takes_over_a_stale_one(tmp_path, live_pid, dead_pid,
                                                                         record, age, expected):
    pids = {"live": live_pid, "dead": dead_pid, "me": os.getpid()}
    lock = write_lock(tmp_path / "run", **record(pids))
    os.utime(lock, (time.time() - age, time.time() - age))
    outcome, words = expected
    words = [w.format(**pids) for w in words]
    lines = []
    if outcome == "refused":
        with pytest.raises(RunLockedError) as info:
            RunLock(tmp_path / "run", lines.append).__enter__()
        assert_one_clear_line(str(info.value), str(tmp_path / "run"), *words)
        assert lock.exists()                              # someone else's lock is left alone
    else:
        with RunLock(tmp_path / "run", lines.append):
            assert json.loads(lock.read_text())["pid"] == os.getpid()
        assert len(lines) == 1
        assert_one_clear_line(lines[0], *words)
        assert not lock.exists()


def test_a_stale_lock_of_a_killed_training_does_not_stop_the_next_one(tmp_path, tiny_data, dead_pid):
    write_lock(tmp_path / "run", pid=dead_pid, host=socket.gethostname(), started="yesterday")
    lines = []
    T.fit(tiny_config(tmp_path / "run"), tiny_data, print_fn=lines.append)
    assert f"taking over the lock left by process {dead_pid}" in lines[0]
    assert not (tmp_path / "run" / ".lock").exists() and (tmp_path / "run" / "model.npz").exists()


# ----------------------------------------------------------------------------- leftovers and file modes


def test_temporary_files_of_a_killed_run_are_removed_when_the_next_one_starts(run_copy):
    folder = run_copy.out_dir
    os.makedirs(os.path.join(folder, "member0"))
    for name in (".tmp-abc.npz", "member0/.tmp-def", ".tmpnot-ours", "keep.txt"):
        with open(os.path.join(folder, name), "w") as f:
            f.write("half")
    lines = []
    with RunLock(folder):
        T.start_run(run_copy, resume=True, print_fn=lines.append)
    assert not os.path.exists(os.path.join(folder, ".tmp-abc.npz"))
    assert not os.path.exists(os.path.join(folder, "member0", ".tmp-def"))
    assert os.path.exists(os.path.join(folder, ".tmpnot-ours")) and os.path.exists(os.path.join(folder, "keep.txt"))
    assert lines == [f"removed 1 temporary file(s) a killed run left in {folder}: .tmp-abc.npz",
                     f"removed 1 temporary file(s) a killed run left in {os.path.join(folder, 'member0')}: .tmp-def"]
    assert os.path.exists(os.path.join(folder, "checkpoint.npz"))     # a resume keeps the checkpoint


def test_a_new_run_into_a_folder_with_a_run_is_refused_and_deletes_nothing(run_copy):
    # a forgotten --resume must not delete the user's checkpoints or model
    before = sorted(os.listdir(run_copy.out_dir))
    with RunLock(run_copy.out_dir), pytest.raises(RunError, match=r"already holds a run \(model.npz, "
                                                  r"checkpoint.npz\): continue it with --resume, replace it "
                                                  r"with --overwrite"):
        T.start_run(run_copy, resume=False, print_fn=lambda s: None)
    assert sorted(os.listdir(run_copy.out_dir)) == before


def test_overwrite_removes_the_earlier_run_and_says_so(run_copy):
    lines = []
    with RunLock(run_copy.out_dir):
        T.start_run(run_copy, resume=False, print_fn=lines.append, overwrite=True)
    for name in ("checkpoint.npz", "model.npz"):
        assert not os.path.exists(os.path.join(run_copy.out_dir, name))
    assert lines == [f"--overwrite: removed the earlier run's model.npz, checkpoint.npz from {run_copy.out_dir}"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("writer", ["text", "png"])
def test_outputs_get_the_usual_file_mode(tmp_path, umask, mode, writer):
    old = os.umask(umask)
    try:
        if writer == "text":
            path = atomic_write_text(tmp_path / "metrics.json", "{}")
        else:
            path = save_png(new_figure(1, 1), tmp_path / "roc.png")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == mode


class DiskFull:
    """A write function that writes half of its bytes, then fails as a full disk does."""

    def __init__(self, data):
        self.data = data

    def __call__(self, f):
        f.write(self.data[: len(self.data) // 2])
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("writer", ["figure", "file"])
def test_a_full_disk_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, writer):
    path = tmp_path / "roc.png"
    figure = new_figure(2, 2)
    save_png(figure, path)
    old = path.read_bytes()
    if writer == "figure":
        monkeypatch.setattr(figure, "savefig", lambda f, **kw: DiskFull(old)(f))
        call = lambda: save_png(figure, path)        # noqa: E731
    else:
        call = lambda: atomic_write(path, DiskFull(old))        # noqa: E731
    with pytest.raises(OSError, match="No space left on device"):
        call()
    assert path.read_bytes() == old and sorted(os.listdir(tmp_path)) == ["roc.png"]


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture
def run_folder(tmp_path, model_members):
    """A folder with a good (untrained) model file, metrics.json, config.json and an image."""
    folder = tmp_path / "run"
    folder.mkdir()
    write_zip(folder / "model.npz", model_members)
    (folder / "metrics.json").write_text(json.dumps(GOOD_METRICS))
    (folder / "config.json").write_text(config_text(model_kwargs={"width": 0.5}))
    Image.fromarray(np.full((64, 64), 120, np.uint8)).save(tmp_path / "xray.png")
    return folder


def cli_outcome(argv, capsys):
    """(exit status, stderr) of ``tinycnn ARGV`` run in this process."""
    try:
        status = cli.main(argv)
    except SystemExit as done:             # argparse refuses its arguments this way
        status = done.code
    return status, capsys.readouterr().err


CLI_CASES = [   # (arguments with {run} and {tmp}, a change to the run folder, words on stderr)
    pytest.param(["train", "--epochs", "0"], None, ["--epochs: must be >= 1, got 0"], id="train-epochs-0"),
    pytest.param(["train", "--members", "-2"], None, ["--members: must be >= 1, got -2"], id="train-members<0"),
    pytest.param(["train", "--epochs", "many"], None, ["--epochs: invalid positive_int value: 'many'"],
                 id="train-epochs-word"),
    pytest.param(["train", "--imbalance", "weights"], None, ["--imbalance: invalid choice: 'weights'"],
                 id="train-imbalance"),
    pytest.param(["train", "--seed", "-1", "--out", "{tmp}/new"], None, ["TrainConfig: seed must be >= 0, got -1"],
                 id="train-seed<0"),
    pytest.param(["train", "--image-size", "-1", "--out", "{tmp}/new"], None,
                 ["TrainConfig: image_size must be >= 0, got -1"], id="train-image-size<0"),
    pytest.param(["train", "--image-size", "big"], None, ["--image-size: invalid int value: 'big'"],
                 id="train-image-size-word"),
    pytest.param(["train", "--select-on", "loss"], None, ["--select-on: invalid choice: 'loss'"], id="train-select-on"),
    pytest.param(["train", "--preprocessing", "zscore"], None, ["--preprocessing: invalid choice: 'zscore'"],
                 id="train-preprocessing"),
    pytest.param(["train", "--model", "resnet"], None, ["--model: invalid choice: 'resnet'"], id="train-model"),
    pytest.param(["train", "--lr", "-1", "--out", "{tmp}/new"], None, ["TrainConfig: lr must be > 0, got -1.0"],
                 id="train-lr<0"),
    pytest.param(["train", "--batch-size", "0"], None, ["--batch-size: must be >= 1, got 0"], id="train-batch-0"),
    pytest.param(["train", "--resume", "--out", "{tmp}/typo"], None, ["cannot resume", "typo: it does not exist"],
                 id="train-resume-typo"),
    pytest.param(["train", "--out", "{tmp}/xray.png"], None, ["xray.png is a file, not a folder"],
                 id="train-out-a-file"),
    pytest.param(["evaluate", "--model", "{tmp}/missing.npz"], None, ["model file not found"], id="evaluate-missing"),
    pytest.param(["evaluate", "--model", "{run}/model.npz"], lambda f: (f / "model.npz").write_bytes(b"PK\x03\x04"),
                 ["cannot load model", "is not an .npz archive"], id="evaluate-broken-model"),
    pytest.param(["evaluate", "--model", "{run}/model.npz"],
                 lambda f: (f / "config.json").write_text(config_text(lr=-1, model_kwargs={"width": 0.5})),
                 ["config.json: lr must be > 0, got -1"], id="evaluate-bad-config"),
    pytest.param(["evaluate", "--model", "{run}/model.npz"],
                 lambda f: (f / "config.json").write_text("{\"seed\": 0"), ["config.json is not valid JSON"],
                 id="evaluate-config-not-json"),
    pytest.param(["evaluate", "--model", "{run}/model.npz"], lambda f: described(input_shape=[28, 28, 1])(
        dict(np.load(f / "model.npz")), f / "model.npz"),         # config.json: image_size 0, the data's 64 px
                 ["model.npz takes images of shape (28, 28, 1)", "config.json gives images of shape (64, 64, 1)"],
                 id="evaluate-data-not-the-models-size"),
    pytest.param(["summary", "{run}/model.npz"], lambda f: (f / "model.npz").write_bytes(os.urandom(100)),
                 ["cannot load model", "is not an .npz archive"], id="summary-random-bytes"),
    pytest.param(["summary", "resnet"], None, ["unknown model 'resnet'"], id="summary-unknown-name"),
    pytest.param(["summary", "{run}/model.npz"], lambda f: described(input_shape=[4096, 4096, 1])(
        dict(np.load(f / "model.npz")), f / "model.npz"), ["input_shape[0] must be <= 512, got 4096"],
        id="summary-huge-input"),
    pytest.param(["gradcam", "{tmp}/xray.png", "--model", "{run}/model.npz"],
                 lambda f: (f / "metrics.json").write_text(metrics_text(temperature=-0.5)),
                 ["metrics.json: temperature must be >= 0.01, got -0.5"], id="gradcam-negative-temperature"),
    pytest.param(["predict", "{tmp}/xray.png", "--model", "{run}/model.npz"],
                 lambda f: (f / "metrics.json").write_text(metrics_text(threshold=5)),
                 ["threshold_val_sens.threshold must be <= 1, got 5"], id="predict-threshold-5"),
    pytest.param(["predict", "{tmp}/xray.png", "--model", "{run}/model.npz"],
                 lambda f: (f / "metrics.json").write_text(metrics_text(temperature=float("nan"))),
                 ["temperature must be a finite number, got nan"], id="predict-nan-temperature"),
    pytest.param(["predict", "{tmp}/xray.png", "--model", "{run}/model.npz"],
                 lambda f: (f / "metrics.json").write_text("{\"temperature\": "),
                 ["metrics file", "metrics.json is not valid JSON"], id="predict-metrics-not-json"),
    pytest.param(["predict", "{tmp}/xray.png", "--model", "{tmp}/missing.npz", "--json"], None,
                 ["model file not found", "missing.npz"], id="predict-json-missing-model"),
    pytest.param(["evaluate", "--model", "{run}/model.npz", "--out", "{run}"], None,
                 ["run already holds a metrics.json", "give --overwrite"], id="evaluate-out-holds-metrics"),
    pytest.param(["evaluate", "--model", "{run}/model.npz", "--out", "{tmp}/xray.png"], None,
                 ["--out", "xray.png is a file, not a folder"], id="evaluate-out-a-file"),
    pytest.param(["gradcam", "{tmp}/xray.png", "--model", "{run}/model.npz", "-o", "{tmp}/cam.bmp"], None,
                 ["-o: cannot write a figure to", "cam.bmp: its extension .bmp names no image format"],
                 id="gradcam-output-bmp"),
    pytest.param(["gradcam", "{tmp}/xray.png", "--model", "{run}/model.npz", "-o", "{tmp}/cam"], None,
                 ["-o: cannot write a figure to", "its extension (none) names no image format"],
                 id="gradcam-output-no-extension"),
]


@pytest.mark.parametrize("argv, change, words", CLI_CASES)
def test_a_bad_cli_argument_or_run_file_is_one_line_and_status_2(run_folder, capsys, argv, change, words):
    if change:
        change(run_folder)
    argv = [a.format(run=run_folder, tmp=run_folder.parent) for a in argv]
    status, stderr = cli_outcome(argv, capsys)
    assert status == 2
    lines = stderr.strip().splitlines()
    if lines[0].startswith("usage:"):      # argparse's refusals: its usage, then one error line
        lines = [line for line in lines if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith(f"tinycnn {argv[0]}: error: ")
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert not (run_folder.parent / "typo").exists() and not (run_folder.parent / "new").exists()


def test_the_cli_predicts_from_the_good_run_folder(run_folder, capsys):
    status = cli.main(["predict", str(run_folder.parent / "xray.png"), "--model", str(run_folder / "model.npz")])
    out = capsys.readouterr().out
    assert status == 0 and "probability of pneumonia" in out and "threshold 0.400" in out
