"""Deep ensembles: the mean of the members' logits, its gradients, saving and loading, the
summary, Grad-CAM of an ensemble, and training one (member 0 is the single network; a run
interrupted inside a later member resumes to the same weights)."""

import json
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycnn as tc
import tinycnn.runs as R
import tinycnn.train as T
from tinycnn.cam import GradCAM, HiResCAM, channel_weights
from tinycnn.models import pneumonia_net
from tinycnn.nn import Ensemble

from gradcheck import numerical_gradients
from test_gradcam import activations, tiny_gap_model
from test_train import run_cli, tiny_config


def images(n=3, shape=(6, 7, 2), seed=1, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype(dtype)


def logits_of(model, x):
    model.eval()
    with tc.no_grad():
        return model(tc.Tensor(x)).data


# ----------------------------------------------------------------------------- the module


def test_output_is_the_mean_of_the_members_logits():
    members = [tiny_gap_model(seed=s) for s in (0, 1, 2)]
    x = images()
    expected = np.mean([logits_of(m, x) for m in members], axis=0)
    ensemble = Ensemble(members)
    np.testing.assert_allclose(logits_of(ensemble, x), expected, rtol=1e-6, atol=1e-7)
    assert ensemble.output_shape() == (3,) and len(ensemble) == 3
    assert [m.name for m in ensemble.members] == ["member0", "member1", "member2"]
    assert ensemble.count_params() == 3 * members[0].count_params()
    assert ensemble.macs() == 3 * members[0].macs()


@settings(deadline=None, max_examples=5)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 3))
def test_gradients_match_finite_differences(seed, k):
    """d(sum of weighted logits)/d(input) and /d(a member's kernel), float64, every entry."""
    ensemble = Ensemble([tiny_gap_model(seed=seed + m, dtype=np.float64) for m in range(k)]).eval()
    x = images(2, seed=seed, dtype=np.float64)
    weights = np.random.default_rng(seed).normal(size=(2, 3))
    kernel = ensemble.members[-1].layers[1].kernel

    def score():
        return float((logits_of(ensemble, x) * weights).sum())

    xt = tc.Tensor(x.copy(), requires_grad=True)
    ensemble.zero_grad()
    (ensemble(xt) * tc.Tensor(weights)).sum().backward()
    numeric_x, numeric_kernel = numerical_gradients(score, [x, kernel.data])
    np.testing.assert_allclose(xt.grad, numeric_x, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(kernel.grad, numeric_kernel, rtol=1e-5, atol=1e-7)


def test_bad_members_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])
    with pytest.raises(TypeError, match="member 1 must be a Module"):
        Ensemble([tiny_gap_model(), "not a model"])
    with pytest.raises(ValueError, match=r"member 1 outputs \(2,\).*member 0 outputs \(3,\)"):
        Ensemble([tiny_gap_model(classes=3), tiny_gap_model(classes=2)])


def test_summary_lists_every_member_and_the_total():
    ensemble = Ensemble([pneumonia_net(seed=0), pneumonia_net(seed=1)])
    text = tc.summary(ensemble)
    assert "member0 (Sequential)" in text and "member1 (Sequential)" in text
    assert "Total params: 74,370" in text          # 2 x 37,185


@pytest.mark.parametrize("members", [1, 3])
def test_save_and_load_round_trip(tmp_path, members):
    ensemble = R.build_network("pneumonia_net", (64, 64, 1), seed=3, members=members)
    assert isinstance(ensemble, Ensemble) and len(ensemble) == members
    for p in ensemble.parameters():          # weights a fresh build with seed 3 would not have
        p.data += np.random.default_rng(p.data.size).normal(size=p.shape).astype(np.float32) * 0.1
    path = tmp_path / "model.npz"
    R.save_model(path, ensemble, "pneumonia_net", (64, 64, 1), 3, {})
    loaded, description = R.load_model(str(path))
    assert description["members"] == members and isinstance(loaded, Ensemble) and len(loaded) == members
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 1)).astype(np.float32)
    np.testing.assert_array_equal(logits_of(loaded, x), logits_of(ensemble, x))


# ----------------------------------------------------------------------------- Grad-CAM


def test_gradcam_of_identical_members_is_the_member_map():
    x = images(4)
    single = GradCAM(tiny_gap_model(seed=3))(x, target=1)
    doubled = GradCAM(Ensemble([tiny_gap_model(seed=3), tiny_gap_model(seed=3)]))(x, target=1)
    assert (single.reshape(4, -1).max(axis=1) == 1).all()     # every map has something to compare
    np.testing.assert_allclose(doubled, single, atol=1e-6)


@pytest.mark.parametrize("cam_class", [GradCAM, HiResCAM])
def test_gradcam_of_an_ensemble_sums_the_members_evidence(cam_class):
    """With a GAP -> Dense head: map = ReLU( (1/K) sum_m sum_k w_mk A_m^k ), scaled to [0, 1]."""
    members = [tiny_gap_model(seed=s) for s in (0, 1)]
    ensemble = Ensemble(members)
    x = images(4)
    target = 2
    evidence = sum(np.einsum("nhwc,c->nhw", activations(m, x, 1), m.layers[-1].kernel.data[:, target])
                   for m in members) / 2
    expected = np.maximum(evidence, 0)
    peak = expected.reshape(4, -1).max(axis=1)[:, None, None]
    expected = np.divide(expected, peak, out=np.zeros_like(expected), where=peak > 0)   # all-zero maps stay 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        maps = cam_class(ensemble)(x, target=target)
    assert (peak > 0).sum() >= 2                      # the check is not vacuous
    np.testing.assert_allclose(maps, expected, atol=1e-5)


def test_gradcam_of_an_ensemble_defaults_to_the_ensembles_prediction():
    members = [tiny_gap_model(seed=s) for s in (0, 1)]
    ensemble = Ensemble(members)
    x = images(5)
    explained = GradCAM(ensemble).explain(x)
    np.testing.assert_array_equal(explained.targets, logits_of(ensemble, x).argmax(axis=1))
    A, G, _, _ = GradCAM(ensemble).activations_and_gradients(x, explained.targets)
    assert A.shape == (5, 6, 7, 10)                   # two members' 5 channels side by side
    # step 3 on the concatenation: member m's channel weights are its Dense column / (HW * K)
    alpha = channel_weights(G)
    for n, t in enumerate(explained.targets):
        expected = np.concatenate([m.layers[-1].kernel.data[:, t] for m in members]) / (6 * 7 * 2)
        np.testing.assert_allclose(alpha[n], expected, rtol=1e-5)


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("ensemble"), members=2, epochs=2)
    data = T.prepare_data(config)
    model, histories, _ = T.fit(config, data, print_fn=lambda s: None)
    return config, data, model, histories


def member_weights(folder):
    with np.load(os.path.join(folder, "checkpoint.npz")) as f:
        return {k: f[k] for k in f.files if k.startswith("model/")}


def test_member_zero_is_the_single_network_of_the_same_seed(ensemble_run, tmp_path):
    config, data, _, histories = ensemble_run
    single = tiny_config(tmp_path, members=1, epochs=2)
    _, (history,), _ = T.fit(single, data, print_fn=lambda s: None)
    assert histories[0]["val_auc"] == history["val_auc"]
    assert histories[1]["val_auc"] != history["val_auc"]          # member 1 has its own seed
    zero, alone = member_weights(os.path.join(config.out_dir, "member0")), member_weights(tmp_path)
    for key in alone:
        np.testing.assert_array_equal(zero[key], alone[key], err_msg=key)


def test_saved_ensemble_is_the_mean_of_the_saved_members(ensemble_run):
    config, data, model, _ = ensemble_run
    loaded, description = R.load_model(os.path.join(config.out_dir, "model.npz"))
    assert description["members"] == 2 and len(description["member_val_auc"]) == 2
    x = data["x_test"][:16]
    members = [R.load_model(os.path.join(config.out_dir, f"member{k}", "model.npz"))[0] for k in range(2)]
    expected = np.mean([R.predict_logits(m, x) for m in members], axis=0)
    np.testing.assert_allclose(R.predict_logits(loaded, x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(R.predict_logits(loaded, x), R.predict_logits(model, x))


def test_evaluation_reports_each_member_and_draws_every_member(ensemble_run):
    config, data, model, histories = ensemble_run
    report = T.evaluate_run(model, data, config, histories, print_fn=lambda s: None)
    assert len(report["member_test_auc"]) == 2 and len(report["member_val_auc"]) == 2
    assert report["member_test_auc"][0] != report["member_test_auc"][1]
    assert os.path.getsize(os.path.join(config.out_dir, "training_curves.png")) > 0
    with open(os.path.join(config.out_dir, "metrics.json")) as f:
        assert json.load(f)["member_test_auc"] == pytest.approx(report["member_test_auc"])


def test_run_stopped_inside_a_later_member_resumes_to_the_same_weights(ensemble_run, tmp_path, monkeypatch):
    config, data, _, _ = ensemble_run
    original = T.train_one_epoch

    def stop_in_member_1_epoch_2(model, optimizer, data, config, epoch, *args):
        if config.member == 1 and epoch == 2:
            raise KeyboardInterrupt("simulated kill")
        return original(model, optimizer, data, config, epoch, *args)

    monkeypatch.setattr(T, "train_one_epoch", stop_in_member_1_epoch_2)
    stopped = tiny_config(tmp_path, members=2, epochs=2)
    with pytest.raises(KeyboardInterrupt):
        T.fit(stopped, data, print_fn=lambda s: None)
    assert not (tmp_path / "model.npz").exists()              # no ensemble until every member is done
    monkeypatch.setattr(T, "train_one_epoch", original)
    lines = []
    T.fit(stopped, data, resume=True, print_fn=lines.append)
    assert any("[member0 of 2] resumed from" in line and "after epoch 2" in line for line in lines)
    assert any("[member1 of 2] resumed from" in line and "after epoch 1" in line for line in lines)
    for k in range(2):
        a = member_weights(os.path.join(config.out_dir, f"member{k}"))
        b = member_weights(tmp_path / f"member{k}")
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"member{k} {key}")


def test_cli_summary_and_predict_read_an_ensemble_file(ensemble_run, tmp_path):
    from PIL import Image
    config, data, _, _ = ensemble_run
    model_path = os.path.join(config.out_dir, "model.npz")
    summary = run_cli("summary", model_path)
    assert summary.returncode == 0, summary.stderr
    assert "member0" in summary.stdout and "member1" in summary.stdout
    image = tmp_path / "xray.png"
    Image.fromarray(data["x_test_uint8"][0]).save(image)
    predicted = run_cli("predict", str(image), "--model", model_path)
    assert predicted.returncode == 0, predicted.stderr
    assert "probability of pneumonia" in predicted.stdout


def test_members_below_one_is_refused():
    with pytest.raises(ValueError, match="members must be >= 1, got 0"):
        T.make_config(members=0)
    bad = run_cli("train", "--members", "0")
    assert bad.returncode == 2 and "must be >= 1" in bad.stderr
