"""The ``tinycnn`` command as a user meets it, run through the installed entry points
(``python -m tinycnn`` and the ``tinycnn`` console script): --version, help texts, the default
--model, predict's skipped files, exit status and --json, evaluate's own output folder,
gradcam's format from the extension, and the training progress lines."""

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tinycnn
import tinycnn.runs as R
import tinycnn.train as T
from tinycnn import cli
from tinycnn.progress import COMPILE_MESSAGE, Progress
from test_train import tiny_config

SCRIPT = shutil.which("tinycnn", path=str(Path(sys.executable).parent)) or shutil.which("tinycnn")
RUN_METRICS = {"temperature": 1.25, "threshold_val_sens": {"threshold": 0.4}, "note": "the training run's own"}


def tinycnn_command(*args, cwd=None, script=False):
    """``tinycnn ARGS`` in a fresh process: ``python -m tinycnn`` or the console script."""
    command = [SCRIPT] if script else [sys.executable, "-m", "tinycnn"]
    return subprocess.run(command + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder holding runs/pneumonia/ (an untrained width-0.5 pneumonia_net, its config.json
    for a 192-image subset with 50 bootstrap resamples, and a metrics.json) and two X-rays."""
    root = tmp_path_factory.mktemp("cli")
    run = root / "runs" / "pneumonia"
    run.mkdir(parents=True)
    config = tiny_config(run)
    model = R.build_network(config.model, (64, 64, 1), 0, **config.model_kwargs)
    R.save_model(run / "model.npz", model, config.model, (64, 64, 1), 0, config.model_kwargs,
                 {"preprocessing": config.preprocessing})
    (run / "config.json").write_text(json.dumps(asdict(config), indent=2))
    (run / "metrics.json").write_text(json.dumps(RUN_METRICS))
    pixels = np.random.default_rng(0).integers(40, 220, (64, 64)).astype(np.uint8)
    Image.fromarray(pixels).save(root / "a.png")
    Image.fromarray(pixels[::-1]).save(root / "b.png")
    (root / "broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return root


# ----------------------------------------------------------------------------- entry points, help


@pytest.mark.parametrize("script", [False, True], ids=["python -m tinycnn", "console script"])
def test_version_from_both_entry_points(script):
    if script and SCRIPT is None:
        pytest.skip("the tinycnn console script is not installed next to this Python")
    result = tinycnn_command("--version", script=script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tinycnn {tinycnn.__version__}" == f"tinycnn {cli.version()}"


def every_parser(parser):
    """The parser and all its subcommands' parsers."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                yield from every_parser(subparser)


def test_every_argument_of_every_command_has_help():
    parsers = list(every_parser(cli.build_parser()))
    assert {p.prog for p in parsers} >= {f"tinycnn {c}" for c in ("train", "evaluate", "predict", "summary",
                                                                  "gradcam")}
    missing = [f"{p.prog} {a.dest}" for p in parsers for a in p._actions if not (a.help or "").strip()]
    assert missing == []


@pytest.mark.parametrize("command", ["predict", "evaluate", "gradcam"])
def test_model_defaults_to_the_training_runs_file_and_help_says_so(command):
    parser = dict((p.prog, p) for p in every_parser(cli.build_parser()))[f"tinycnn {command}"]
    model = next(a for a in parser._actions if a.dest == "model")
    assert model.default == cli.DEFAULT_MODEL == os.path.join("runs", "pneumonia", "model.npz")
    assert cli.DEFAULT_MODEL in model.help


def test_help_from_the_console_script_lists_the_options():
    result = tinycnn_command("predict", "--help")
    assert result.returncode == 0
    assert "--json" in result.stdout and f"default {cli.DEFAULT_MODEL}" in " ".join(result.stdout.split())


# ----------------------------------------------------------------------------- predict


def test_predict_uses_the_default_model_and_skips_a_bad_file(workdir):
    result = tinycnn_command("predict", "a.png", "broken.jpeg", "missing.png", "b.png", cwd=workdir)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["a.png", "b.png"]          # both good files scored
    assert all("probability of pneumonia" in line and "threshold 0.400" in line for line in lines)
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in result.stderr
    assert errors[0].startswith("tinycnn predict: error: cannot read broken.jpeg: ") and "(skipped)" in errors[0]
    assert errors[1].startswith("tinycnn predict: error: cannot read missing.png: no such image file")


def test_predict_json_is_one_document_with_every_file(workdir):
    result = tinycnn_command("predict", "a.png", "broken.jpeg", "--json", cwd=workdir)
    assert result.returncode == 1
    good, bad = json.loads(result.stdout)
    assert set(good) == set(bad) == {"file", "probability", "label", "threshold", "temperature", "warnings",
                                     "error"}
    assert good["file"] == "a.png" and good["error"] is None and 0 <= good["probability"] <= 1
    assert good["label"] == ("PNEUMONIA" if good["probability"] >= 0.4 else "NORMAL")
    assert (good["threshold"], good["temperature"]) == (0.4, 1.25)
    assert bad["file"] == "broken.jpeg" and bad["probability"] is None and bad["label"] is None
    assert "cannot read broken.jpeg" in result.stderr and bad["error"] in result.stderr

    human = tinycnn_command("predict", "a.png", cwd=workdir)         # the same number, all files good: 0
    assert human.returncode == 0 and f"probability of pneumonia {good['probability']:.3f}" in human.stdout


def test_without_a_model_file_the_error_names_the_default(tmp_path):
    result = tinycnn_command("predict", "a.png", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("tinycnn predict: error: model file not found: "
                                     f"{cli.DEFAULT_MODEL} (the default --model: train one with "
                                     "`tinycnn train` or give --model)")


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_writes_a_new_folder_and_leaves_the_run_alone(workdir):
    run = workdir / "runs" / "pneumonia"
    before = (run / "metrics.json").read_bytes()
    first = tinycnn_command("evaluate", cwd=workdir)
    assert first.returncode == 0, first.stderr
    second = tinycnn_command("evaluate", "--model", run / "model.npz", cwd=workdir)
    assert second.returncode == 0, second.stderr
    assert (run / "metrics.json").read_bytes() == before
    assert not (run / "roc.png").exists()
    assert sorted(os.listdir(run / "evaluations")) == ["001", "002"]
    for number in ("001", "002"):
        folder = run / "evaluations" / number
        assert json.loads((folder / "metrics.json").read_text())["n_val"] > 0
        assert (folder / "roc.png").read_bytes()[:4] == b"\x89PNG"
    assert f"evaluations{os.sep}001" in first.stdout

    refused = tinycnn_command("evaluate", "--out", run, cwd=workdir)       # holds metrics.json already
    assert refused.returncode == 2 and "already holds a metrics.json" in refused.stderr
    assert "--overwrite" in refused.stderr and (run / "metrics.json").read_bytes() == before


def test_evaluate_overwrite_writes_into_the_run_folder(tmp_path, workdir):
    run = tmp_path / "runs" / "pneumonia"
    shutil.copytree(workdir / "runs" / "pneumonia", run, ignore=shutil.ignore_patterns("evaluations"))
    result = tinycnn_command("evaluate", "--overwrite", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((run / "metrics.json").read_text()) != RUN_METRICS
    assert (run / "confusion_matrix.png").exists() and not (run / "evaluations").exists()


# ----------------------------------------------------------------------------- gradcam


@pytest.mark.parametrize("name, magic", [("cam.jpg", b"\xff\xd8\xff"), ("cam.JPEG", b"\xff\xd8\xff"),
                                         ("cam.png", b"\x89PNG"), ("cam.pdf", b"%PDF")])
def test_gradcam_writes_the_format_its_extension_names(workdir, name, magic):
    result = tinycnn_command("gradcam", "a.png", "-o", name, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / name).read_bytes()[:len(magic)] == magic


def test_gradcam_refuses_an_extension_it_cannot_write(workdir):
    result = tinycnn_command("gradcam", "a.png", "-o", "cam.bmp", cwd=workdir)
    assert result.returncode == 2 and not (workdir / "cam.bmp").exists()
    assert result.stderr.startswith("tinycnn gradcam: error: -o: cannot write a figure to cam.bmp: its extension "
                                    ".bmp names no image format matplotlib writes; use one of ")
    assert ".jpg" in result.stderr and ".png" in result.stderr and len(result.stderr.splitlines()) == 1


# ----------------------------------------------------------------------------- progress


def test_progress_lines_say_compiling_give_a_whole_run_eta_and_name_members_as_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(Progress, "kernels_ready", False)         # as in a fresh process
    lines = []
    config = tiny_config(tmp_path, members=2, epochs=2)
    T.fit(config, print_fn=lines.append)
    compiling = [i for i, line in enumerate(lines) if COMPILE_MESSAGE in line]
    assert len(compiling) == 1 and lines[compiling[0]] == f"[member0 of 2]   {COMPILE_MESSAGE}"
    assert lines[compiling[0] + 1].startswith("[member0 of 2]   kernels ready: the first batch took ")
    epoch_lines = [line for line in lines if ": train loss " in line]
    assert [line.split("training ETA")[1].split("(")[1] for line in epoch_lines] == [
        "3 of 4 epochs left)", "2 of 4 epochs left)", "1 of 4 epochs left)", "0 of 4 epochs left)"]
    assert any(line.startswith("member0 of 2 done") and "training ETA" in line for line in lines)
    tags = {line.split("]")[0] + "]" for line in lines if line.startswith("[")}
    assert tags == {"[member0 of 2]", "[member1 of 2]"}
    assert sorted(p.name for p in tmp_path.glob("member*")) == ["member0", "member1"]


def test_within_an_epoch_the_eta_counts_the_rest_of_the_run(monkeypatch):
    clock = iter([0.0, 30.0, 31.0, 32.0, 33.0, 33.5])       # start, a 30 s first batch, then 1 s batches
    monkeypatch.setattr(Progress, "kernels_ready", False)
    lines = []
    progress = Progress(lines.append, total_epochs=6, every_seconds=0, clock=lambda: next(clock))
    progress.skip_epochs(2)                                    # a resumed run: 4 epochs left
    assert progress.eta() == "training ETA not known yet (4 of 6 epochs left)"
    progress.start_epoch(3, 3, 4)
    for number in range(1, 5):
        progress.batch(number, 0.5, 32)
    progress.end_epoch()
    assert lines[0] == f"  {COMPILE_MESSAGE}"
    assert lines[1].startswith("  kernels ready: the first batch took 0:30")
    # batch 2 of 4: 1 s per batch, 2 left in this epoch, then 3 epochs of 4 batches
    assert lines[2] == ("  epoch 3/3 batch 2/4 loss 0.5000, 32 img/s; epoch ETA 0:02, training ETA 0:14")
    # the epoch took 33.5 s, 29 of them the first batch's compilation: 4.5 s per epoch from now on
    assert progress.eta() == "training ETA 0:14 (3 of 6 epochs left)"
