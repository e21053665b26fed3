"""Training: NaN stops cleanly, checkpoints are atomic, a killed run resumes to the same weights,
same seed gives the same metrics, and the CLI and the example run end to end."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import tinycnn.runs as R
import tinycnn.train as T
from tinycnn.tensor import Tensor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(out_dir, **changes):
    config = T.TrainConfig(subset=192, epochs=3, batch_size=32, n_bootstrap=50, out_dir=str(out_dir),
                           model_kwargs={"width": 0.5}, members=1)
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def checkpoint_weights(run_dir):
    with np.load(os.path.join(run_dir, "checkpoint.npz")) as f:
        progress = json.loads(str(f["progress"]))
        return progress, {k: f[k] for k in f.files if k.startswith("model/")}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("run"))
    data = T.prepare_data(config)
    model, histories, out = T.fit(config, data, print_fn=lambda s: None)
    return config, data, model, histories[0]


def test_patient_grouped_validation_split_has_no_shared_patient():
    from tinycnn.data import load_pneumonia, patient_id
    config = T.TrainConfig()
    data = T.prepare_data(config)
    everything = load_pneumonia()
    val_patients = {patient_id(f) for f in data["files_val"]}
    train_files = set(everything.files_train) - set(data["files_val"])
    assert val_patients.isdisjoint({patient_id(f) for f in train_files})
    assert len(data["y_train"]) + len(data["y_val"]) == len(everything.y_train)


def test_same_seed_same_history_and_metrics(tiny_run, tmp_path):
    config, data, model, history = tiny_run
    again = tiny_config(tmp_path)
    _, (history2,), _ = T.fit(again, data, print_fn=lambda s: None)
    assert history2["val_auc"] == history["val_auc"]
    assert history2["train_loss"] == history["train_loss"]
    _, w1 = checkpoint_weights(config.out_dir)
    _, w2 = checkpoint_weights(again.out_dir)
    for key in w1:
        np.testing.assert_array_equal(w1[key], w2[key])


def test_training_learns_something(tiny_run):
    config, data, model, history = tiny_run
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert max(history["val_auc"]) > 0.75     # 192 images, 3 epochs: far from chance already


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    original = T.build_network
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        model = original(*args, **kwargs)
        forward = model.forward

        def forward_with_nan(x):
            out = forward(x)
            if model.training and x.shape[0] == 32:       # a training batch, not BN refresh
                calls["n"] += 1
                if calls["n"] == 6 + 3:                     # epoch 2 (6 batches per epoch), batch 3
                    return out * Tensor(np.float32(np.nan))
            return out
        model.forward = forward_with_nan
        return model

    monkeypatch.setattr(T, "build_network", poisoned)
    config = tiny_config(tmp_path)
    with pytest.raises(T.TrainingDiverged, match=r"NaN or inf at epoch 2, batch 3"):
        T.fit(config, print_fn=lambda s: None)
    progress, _ = checkpoint_weights(tmp_path)
    assert progress["epoch"] == 1                         # the last good checkpoint is still there
    assert os.path.exists(tmp_path / "model.npz")


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "weights.npz"
    T.atomic_savez(path, {"w": np.arange(3.0)})

    class Exploding:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        T.atomic_savez(path, {"w": np.zeros(3), "bad": Exploding()})
    with np.load(path) as f:
        np.testing.assert_array_equal(f["w"], np.arange(3.0))
    assert sorted(os.listdir(tmp_path)) == ["weights.npz"]      # no temp file left behind


RUN_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_train import tiny_config
import tinycnn.train as T
T.fit(tiny_config({out!r}, epochs=4), resume={resume}, print_fn=lambda s: print(s, flush=True))
"""


def run_training_process(out_dir, resume):
    code = RUN_SCRIPT.format(tests=os.path.dirname(__file__), out=str(out_dir), resume=resume)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    uninterrupted = tmp_path / "full"
    T.fit(tiny_config(uninterrupted, epochs=4), print_fn=lambda s: None)

    killed = tmp_path / "killed"
    process = run_training_process(killed, resume=False)
    deadline = time.time() + 240
    while time.time() < deadline:               # wait until epoch 2 is checkpointed, then kill -9
        if (killed / "checkpoint.npz").exists() and checkpoint_weights(killed)[0]["epoch"] >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    epoch_at_kill = checkpoint_weights(killed)[0]["epoch"]
    assert 2 <= epoch_at_kill < 4, "the run was not killed mid-way"

    resumed = run_training_process(killed, resume=True)
    output, _ = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, output
    assert "resumed from" in output and f"after epoch {epoch_at_kill}" in output

    progress_a, weights_a = checkpoint_weights(uninterrupted)
    progress_b, weights_b = checkpoint_weights(killed)
    assert progress_a["epoch"] == progress_b["epoch"] == 4
    assert progress_a["history"]["val_auc"] == progress_b["history"]["val_auc"]
    for key in weights_a:
        np.testing.assert_array_equal(weights_a[key], weights_b[key], err_msg=key)


def test_evaluate_writes_metrics_and_figures(tiny_run):
    config, data, model, history = tiny_run
    report = T.evaluate_run(model, data, config, history, print_fn=lambda s: None)
    for name in ("model.npz", "checkpoint.npz", "config.json", "metrics.json", "training_curves.png",
                 "roc.png", "confusion_matrix.png", "reliability.png", "test_examples.png"):
        assert os.path.getsize(os.path.join(config.out_dir, name)) > 0, name
    with open(os.path.join(config.out_dir, "metrics.json")) as f:
        saved = json.load(f)
    assert saved["test_auc"]["value"] == pytest.approx(report["test_auc"]["value"])
    low, high = saved["test_auc"]["ci95"]
    assert low <= saved["test_auc"]["value"] <= high
    assert saved["threshold_val_sens"]["n"] == 624
    # the threshold comes from validation: sensitivity there is at least the target
    from tinycnn import metrics
    val_probs = metrics.sigmoid(R.predict_logits(model, data["x_val"]) / saved["temperature"])
    chosen = saved["threshold_val_sens"]["threshold"]
    assert metrics.sensitivity(data["y_val"].astype(int), metrics.predict(val_probs, chosen)) >= 0.95


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tinycnn.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_predict_and_its_errors(tiny_run, tmp_path):
    config, data, model, history = tiny_run
    model_path = os.path.join(config.out_dir, "model.npz")
    image = tmp_path / "xray.png"
    Image.fromarray(data["x_test_uint8"][0]).resize((200, 180)).save(image)
    ok = run_cli("predict", str(image), "--model", model_path)
    assert ok.returncode == 0, ok.stderr
    assert ("PNEUMONIA" in ok.stdout or "NORMAL" in ok.stdout) and "probability of pneumonia" in ok.stdout

    missing = run_cli("predict", str(tmp_path / "nope.png"), "--model", model_path)
    assert missing.returncode == 1 and "no such image file" in missing.stderr     # 1: a file was skipped

    corrupt = tmp_path / "broken.jpeg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    bad = run_cli("predict", str(corrupt), "--model", model_path)
    assert bad.returncode == 1 and "cannot read" in bad.stderr and "Traceback" not in bad.stderr

    no_model = run_cli("predict", str(image), "--model", str(tmp_path / "missing.npz"))
    assert no_model.returncode == 2 and "model file not found" in no_model.stderr

    not_a_model = tmp_path / "weights.npz"
    np.savez(not_a_model, description=np.array('{"model": "pneumonia_net"}'))     # keys missing
    wrong = run_cli("predict", str(image), "--model", str(not_a_model))
    assert wrong.returncode == 2 and "description: field 'input_shape' is missing" in wrong.stderr
    assert "Traceback" not in wrong.stderr

    zero_epochs = run_cli("train", "--epochs", "0")
    assert zero_epochs.returncode == 2 and "must be >= 1" in zero_epochs.stderr


def test_cli_summary():
    result = run_cli("summary", "pneumonia_net")
    assert result.returncode == 0, result.stderr
    assert "Total params" in result.stdout and "Non-trainable params" in result.stdout


@pytest.mark.slow
def test_example_quick_run_end_to_end(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(REPO, "examples", "train_pneumonia.py"), "--quick",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test ROC AUC" in result.stdout and "epoch 2/2" in result.stdout
    with open(tmp_path / "metrics.json") as f:
        assert json.load(f)["test_auc"]["value"] > 0.7


def test_balanced_batches_mode_draws_both_classes_equally(tmp_path, monkeypatch):
    seen = []
    original = T.minibatch_indices

    def spy(y, *args, **kwargs):
        for idx in original(y, *args, **kwargs):
            seen.append(y[idx].mean())
            yield idx

    monkeypatch.setattr(T, "minibatch_indices", spy)
    config = tiny_config(tmp_path, epochs=1, imbalance="balanced_batches")
    T.fit(config, print_fn=lambda s: None)
    assert len(seen) == 6 and abs(np.mean(seen) - 0.5) < 0.1     # train is 74% pneumonia otherwise


def test_unknown_imbalance_mode_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"imbalance must be one of .*got 'balanced'"):
        T.fit(tiny_config(tmp_path, imbalance="balanced"), print_fn=lambda s: None)
    assert not os.listdir(tmp_path)
