"""A run's files read back as written: model files, calibration, config.json, the run lock.
(The bad inputs are in test_bad_inputs_runs.py.)"""

import json
import os
import socket
from dataclasses import asdict

import numpy as np
import pytest

import tinycnn.runs as R
import tinycnn.train as T
from tinycnn import models
from tinycnn.files import NpzArchive, array_layout
from tinycnn.runs import RunLock


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_every_registry_model_at_its_default_shape_is_a_valid_description(name):
    description = {"model": name, "input_shape": list(models.MODELS[name][1]), "seed": 0, "model_kwargs": {},
                   "members": 4, "epoch": 3, "val_auc": 0.97, "member_val_auc": [0.9, 0.95],
                   "run_seed": 0, "member": 2, "preprocessing": "dataset"}
    assert R.check_description(description, "model.npz") is description


def test_save_and_load_give_the_same_predictions(tmp_path):
    network = R.build_network("pneumonia_net", (64, 64, 1), 3, width=0.5).eval()
    R.save_model(tmp_path / "model.npz", network, "pneumonia_net", (64, 64, 1), 3, {"width": 0.5},
                 {"epoch": 1, "preprocessing": "per_image"})
    loaded, description = R.load_model(tmp_path / "model.npz")
    x = np.random.default_rng(0).standard_normal((4, 64, 64, 1)).astype(np.float32)
    np.testing.assert_array_equal(R.predict_logits(loaded, x), R.predict_logits(network, x))
    assert description == {"model": "pneumonia_net", "input_shape": [64, 64, 1], "seed": 3,
                           "model_kwargs": {"width": 0.5}, "members": 1, "epoch": 1, "preprocessing": "per_image"}


def test_save_model_refuses_a_description_it_could_not_read_back(tmp_path):
    network = R.build_network("pneumonia_net", (64, 64, 1), 0, width=0.5)
    with pytest.raises(R.RunError, match=r"input_shape\[0\] must be <= 512, got 1024"):
        R.save_model(tmp_path / "model.npz", network, "pneumonia_net", (1024, 1024, 1), 0, {"width": 0.5})
    assert not os.listdir(tmp_path)


def test_npz_archive_reads_compressed_members_and_checks_headers_first(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array(3, dtype=np.int64)}
    np.savez_compressed(tmp_path / "x.npz", **arrays)
    with NpzArchive(tmp_path / "x.npz", "test file") as archive:
        assert archive.names == ["a", "b"] and archive.header("a")[:2] == ((2, 3), np.dtype("float32"))
        read = archive.read_arrays(array_layout(arrays))
    for key in arrays:
        np.testing.assert_array_equal(read[key], arrays[key])


def test_calibration_is_read_back_and_defaults_without_metrics(tmp_path):
    assert R.read_calibration(tmp_path) == (1.0, 0.5)
    (tmp_path / "metrics.json").write_text(json.dumps({"temperature": 1.25, "threshold_val_sens": {"threshold": 0.3}}))
    assert R.read_calibration(tmp_path) == (1.25, 0.3)


def test_config_json_round_trip(tmp_path):
    config = R.make_config(quick=True, seed=5, out=str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(asdict(config)))
    assert R.read_config(tmp_path / "config.json") == config
    R.check_same_run(str(tmp_path), config)               # the same run: no error


def test_the_run_lock_is_reentrant_and_removed_even_after_an_error(tmp_path):
    lock = tmp_path / "run" / ".lock"
    with pytest.raises(KeyError):
        with RunLock(tmp_path / "run"):
            record = json.loads(lock.read_text())
            assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
            with RunLock(tmp_path / "run"):               # train_and_evaluate -> fit: nested, same process
                assert lock.exists()
            assert lock.exists()
            raise KeyError("boom")
    assert not lock.exists()


def test_training_holds_the_lock_and_leaves_none(tmp_path, monkeypatch):
    seen = []
    original = T.train_one_epoch

    def spy(model, optimizer, data, config, *args):
        seen.append(json.loads((tmp_path / ".lock").read_text())["pid"])
        return original(model, optimizer, data, config, *args)

    monkeypatch.setattr(T, "train_one_epoch", spy)
    config = T.TrainConfig(subset=192, epochs=1, batch_size=32, n_bootstrap=20, out_dir=str(tmp_path),
                           model_kwargs={"width": 0.5}, members=1)
    T.fit(config, print_fn=lambda s: None)
    assert seen == [os.getpid()] and not (tmp_path / ".lock").exists()
