"""The benchmarks: each runs end to end (a smoke run: tiny inputs, 1 round, 2 repeats), the
shape sweep finds every conv layer of the three networks, and bad arguments are clear errors.

The smoke runs need PyTorch (the `bench` extra) and are skipped without it; they start
fresh worker processes, so nothing here imports torch into the test process.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _harness as H  # noqa: E402
import bench_kernels  # noqa: E402
import bench_models  # noqa: E402

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="the benchmarks compare against PyTorch: pip install -e '.[bench]'")


def run_script(script, *args, env=None):
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True,
                          text=True, timeout=900, env=env)


@needs_torch
@pytest.mark.slow
@pytest.mark.parametrize("script, expected", [
    ("bench_models.py", ["### Training step, glibc default", "### Inference, batch 1, glibc default",
                         "### Training step, glibc, trimming off", "### Import order (default allocator)",
                         "0 of them with the other framework loaded", "<!-- models:end -->"]),
    ("bench_kernels.py", ["| conv | 2 |", "| depthwise | 2 |", "| pointwise | 2 |",
                          "Outputs and gradients agreed", "<!-- kernels:end -->"]),
])
def test_a_smoke_run_goes_end_to_end_and_writes_nothing(script, expected):
    before = (BENCHMARKS / "RESULTS.md").read_text()
    done = run_script(script, "--smoke")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for text in expected:
        assert text in done.stdout
    assert "(RESULTS.md not written: not a full run)" in done.stdout
    assert (BENCHMARKS / "RESULTS.md").read_text() == before


def test_the_sweep_lists_every_conv_layer_shape_of_the_three_networks():
    import _export as E
    from tinycnn.models import build
    entries = []
    for net, (registry, kwargs, shape, batch, _) in bench_models.MODELS.items():
        entries += E.conv_shapes(build(registry, input_shape=shape, seed=0, **kwargs), batch, net)
    shapes = E.distinct_shapes(entries)
    counts = {kind: sum(s["kind"] == kind for s in shapes) for kind in bench_kernels.KINDS}
    # 11 + 27 + 81 conv layers (EfficientNet: stem, 16 MBConv blocks of 4-5 convs, head)
    assert (len(entries), len(shapes), counts) == (119, 76, {"conv": 3, "depthwise": 26, "pointwise": 47})
    by_key = {E.dedupe_key(s): s for s in shapes}
    # MobileNetV1's five 8x8x256 depthwise layers are one shape used five times
    assert by_key[("depthwise", 32, 8, 8, 256, 256, (3, 3), (1, 1), ((1, 1), (1, 1)), 1)]["uses"] == {"mobilenet_v1": 5}
    # EfficientNet's 5x5 stride-2 "same" depthwise pads one more row at the bottom
    assert ("depthwise", 16, 32, 32, 144, 144, (5, 5), (2, 2), ((1, 2), (1, 2)), 1) in by_key
    # the squeeze-excite 1x1 convs on the pooled (1, 1, C) input are in the list
    assert by_key[("pointwise", 16, 1, 1, 1152, 48, (1, 1), (1, 1), ((0, 0), (0, 0)), 1)]["activation"] == "swish"


def test_summaries_are_the_median_of_the_per_process_medians_and_max_over_min():
    assert H.summarize([0.3, 0.1, 0.2]) == {"median": 0.2, "spread": pytest.approx(3.0), "n": 3,
                                            "values": [0.3, 0.1, 0.2]}
    assert H.geometric_mean([0.5, 2.0, 1.0]) == pytest.approx(1.0)
    assert H.rotated(["a", "b", "c"], 4) == ["b", "c", "a"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc variables")
@pytest.mark.parametrize("allocator, few_faults", [("notrim", True), ("default", False)])
def test_trimming_off_keeps_freed_big_blocks_in_the_heap(allocator, few_faults):
    code = "import _harness as H; print(H.allocator_probe())"
    env = H.worker_env(allocator)
    env["PYTHONPATH"] = os.pathsep.join([str(BENCHMARKS), env["PYTHONPATH"]])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert (float(done.stdout) < 50) == few_faults


@pytest.mark.parametrize("script, args, words", [
    ("bench_models.py", ["--models", "resnet50"], "--models: unknown ['resnet50']"),
    ("bench_models.py", ["--models", ","], "--models: unknown empty list"),
    ("bench_models.py", ["--allocators", "jemalloc"], "--allocators: unknown ['jemalloc']"),
    ("bench_models.py", ["--rounds", "0"], "--rounds must be >= 1, got 0"),
    ("bench_models.py", ["--steps", "-2"], "--steps must be >= 1, got -2"),
    ("bench_kernels.py", ["--kinds", "dense"], "--kinds: unknown ['dense']"),
    ("bench_kernels.py", ["--max-shapes", "0"], "--max-shapes must be >= 1, got 0"),
    ("bench_kernels.py", ["--repeats", "-1"], "--repeats must be >= 1, got -1"),
    ("bench_kernels.py", ["--allocator", "tcmalloc"], "--allocator: invalid choice: 'tcmalloc'"),
])
def test_bad_arguments_are_one_line_errors_naming_the_argument(script, args, words, capsys):
    module = bench_models if script == "bench_models.py" else bench_kernels
    with pytest.raises(SystemExit) as stop:
        module.parse_args(args)
    assert stop.value.code == 2
    assert words in capsys.readouterr().err


def test_the_gemm_benchmark_runs_end_to_end():
    """bench_gemm.py (no PyTorch): one fresh process, one call per product; every shape and
    product gets a row with both ways' times and the share of the sgemm peak."""
    done = run_script("bench_gemm.py", "--rounds", "1", "--repeats", "1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and line.split("|")[1].strip()[:1].isdigit()]
    assert len(rows) == 3 * 6 and all(line.count("%)") == 1 for line in rows)
    assert "sgemm peak" in done.stdout and "OPENBLAS_CORETYPE" in done.stdout


def test_the_gemm_benchmark_refuses_zero_rounds():
    done = run_script("bench_gemm.py", "--rounds", "0")
    assert done.returncode != 0 and "--rounds and --repeats must be >= 1, got 0 and 21" in done.stderr


def test_the_copy_bound_runs_and_prints_both_copies():
    done = run_script("copy_bandwidth.py")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "read 8.4 MB, write 8.4 MB:" in done.stdout and "write 16.8 MB:" in done.stdout
