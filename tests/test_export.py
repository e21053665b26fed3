"""ONNX export (tinycnn.export.to_onnx, ``tinycnn export``) checked against onnxruntime.

Every model gets random, non-trivial batch-norm statistics, gammas, betas and biases first
(``randomized``): with the initial values (moving mean 0, variance 1, bias 0) a wrong epsilon,
a dropped bias or a mixed-up statistic would go unnoticed.  Inputs have odd sizes (37 x 45), so
"same" padding is asymmetric (the extra row/column at the bottom/right) in the strided layers.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from PIL import Image                                   # noqa: E402

from tinycnn import models, nn                          # noqa: E402
from tinycnn.cli import main                            # noqa: E402
from tinycnn.data import load_pneumonia, preprocess     # noqa: E402
from tinycnn.export import INSTALL_HINT, to_onnx        # noqa: E402
from tinycnn.nn.precise_bn import refresh_batch_norm_statistics  # noqa: E402
from tinycnn.runs import save_model                     # noqa: E402

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


# ----------------------------------------------------------------------------- helpers


def randomized(model, seed, input_shape=None):
    """The model in eval mode with random, non-trivial weights, BN statistics and biases.

    Kernels get He's scale sqrt(2 / fan_in), so that the signal keeps its size through the ReLUs
    of a network without batch norm (the plain CNN) instead of drowning in the biases; gammas,
    betas and biases are random; the moving statistics are measured on random images ("precise
    BN"), so they are far from the initial 0 and 1 without the signal dying out or exploding
    through the depth, and then perturbed (means shifted by 0.1 standard deviation, variances
    scaled by 0.8..1.2), so that using batch statistics or swapping mean and variance would show."""
    rng = np.random.default_rng(seed)
    shape = input_shape or model.input_shape
    he_scaled_kernels(model, rng)
    state = model.state_dict()
    for key, value in state.items():
        if key.endswith("gamma"):
            state[key] = rng.uniform(0.7, 1.3, value.shape).astype(np.float32)
        elif key.endswith(("beta", "bias")):
            state[key] = rng.normal(0, 0.2, value.shape).astype(np.float32)
    model.load_state_dict(state)
    refresh_batch_norm_statistics(model, rng.normal(size=(32, *shape)).astype(np.float32), batch_size=32)
    state = model.state_dict()
    for key, value in state.items():
        if key.endswith("moving_mean"):
            spread = np.sqrt(state[key.replace("moving_mean", "moving_variance")])
            state[key] = (value + rng.normal(0, 0.1, value.shape) * spread).astype(np.float32)
        elif key.endswith("moving_variance"):
            state[key] = (value * np.exp(rng.uniform(-0.2, 0.2, value.shape))).astype(np.float32)
    model.load_state_dict(state)
    return model.eval()


def he_scaled_kernels(model, rng):
    """Every kernel drawn from ``rng`` (so a test is the same every run, whatever seed its layers
    were built with) at standard deviation sqrt(2 / fan_in) (a depthwise filter sees K_h*K_w inputs)."""
    for module in model.modules():
        for name in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            weight = getattr(module, name, None)
            if weight is None or weight.data.size < 2:
                continue
            kernel = rng.standard_normal(weight.data.shape)
            depthwise = isinstance(module, nn.DepthwiseConv2D) or name == "depthwise_kernel"
            fan_in = kernel.shape[0] * kernel.shape[1] if depthwise else kernel.size // kernel.shape[-1]
            weight.data = (kernel * np.sqrt(2 / fan_in) / kernel.std()).astype(np.float32)


def onnx_logits(path, x):
    """onnxruntime's output for the NHWC batch x (one thread: the test machine has two cores)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x_nhwc": x})[0]


def float32_noise(model, x, logits):
    """How far tinycnn's own float32 logits are from the same network in float64: the rounding
    noise that no float32 implementation, tinycnn or onnxruntime, can get below."""
    exact = copy.deepcopy(model).astype(np.float64).predict(x.astype(np.float64))
    return float(np.abs(logits - exact).max())


def assert_same_logits(got, expected, noise=0.0):
    """Equal to 1e-5 relative, plus an absolute part for logits near zero: float32 rounding is
    relative to the size of the numbers being added, not of their sum, so a logit near zero can
    be a small difference of large terms and have any relative error while being right.  The
    absolute part is 1e-6 of the largest logit, or, in deep networks where rounding errors grow
    layer after layer (the 28 convolutions of MobileNet reach about 1e-5 of the logits' size),
    3 x ``noise``: onnxruntime rounds in another order, so its error adds to tinycnn's own
    (1 x each, and a factor of safety).  A wrong conversion is off by far more: each of 18
    deliberate mistakes tried on the converters (pads in the wrong order, depthwise channels in the
    wrong order, count_include_pad=1, BN's default epsilon, no residual, ...) was off by 0.8% (the
    epsilon) to 300% of the logits, against measured noise of at most 2e-5."""
    assert got.shape == expected.shape
    scale = float(np.abs(expected).max())
    assert noise < 1e-4 * scale                     # the allowance stays far below a real mistake
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=max(1e-6 * scale, 3 * noise))


def export_and_compare(model, input_shape, tmp_path, batch=3, seed=0):
    path = tmp_path / "model.onnx"
    assert to_onnx(model, path, input_shape) == os.fspath(path)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    x = np.random.default_rng(seed).normal(size=(batch, *input_shape)).astype(np.float32)
    expected = model.predict(x)
    assert np.ptp(expected, axis=0).min() > 0.01    # every logit depends on the image (else it proves little)
    assert_same_logits(onnx_logits(path, x), expected, float32_noise(model, x, expected))


# ----------------------------------------------------------------------------- the zoo


ZOO = {
    "pneumonia_net 64x64": lambda: (models.pneumonia_net(seed=1), (64, 64, 1)),
    "pneumonia_net 37x45": lambda: (models.pneumonia_net(input_shape=(37, 45, 1), seed=2), (37, 45, 1)),
    "ensemble of 2 pneumonia_nets": lambda: (models.build("pneumonia_net", (37, 45, 1), seed=3, members=2),
                                             (37, 45, 1)),
    "mobilenet_v1 alpha 0.25": lambda: (models.mobilenet_v1((37, 45, 3), num_classes=5, alpha=0.25, seed=4),
                                        (37, 45, 3)),
    "mobilenet_v1 alpha 0.25, depth multiplier 2": lambda: (
        models.mobilenet_v1((33, 33, 2), num_classes=3, alpha=0.25, depth_multiplier=2, seed=5), (33, 33, 2)),
    "efficientnet_b0": lambda: (models.efficientnet_b0((37, 45, 3), num_classes=5, seed=6), (37, 45, 3)),
    "vgg_like (the lecture's plain CNN)": lambda: (models.vgg_like((33, 35, 3), num_classes=3, seed=7),
                                                   (33, 35, 3)),
    "vgg_like, GAP head": lambda: (models.vgg_like((35, 33, 1), num_classes=2, head="gap", seed=8), (35, 33, 1)),
    "baseline_cnn 28x28": lambda: (models.baseline_cnn(seed=9), (28, 28, 1)),
}


@pytest.mark.parametrize("name", ZOO)
def test_zoo_models_match_onnxruntime(name, tmp_path):
    model, input_shape = ZOO[name]()
    export_and_compare(randomized(model, len(name), input_shape), input_shape, tmp_path)


def every_layer_model(input_shape=(37, 45, 2), head="flatten"):
    """One network holding every exportable layer and option the zoo does not already cover."""
    body = nn.Sequential([
        nn.Conv2D(2, 6, 3, strides=2, padding="same", activation="relu6"),
        nn.BatchNorm2D(6, epsilon=0.01),
        nn.DepthwiseConv2D(6, (3, 4), strides=(2, 1), padding="same", depth_multiplier=2,
                           activation="tanh"),                     # kernel width 4: pads (1, 2) left/right
        nn.PointwiseConv2D(12, 8, activation="sigmoid"),
        nn.Conv2D(8, 8, (2, 3), strides=(1, 2), padding=((1, 0), (2, 1)), activation="swish"),
        nn.SeparableConv2D(8, 8, 3, padding="same", depth_multiplier=2, activation="linear"),
        nn.AvgPool2D(3, strides=2, padding="same"),        # at 37x45: pads (0, 1), left out of the mean
        nn.Residual(nn.Conv2D(8, 8, 3, padding="same")),
        nn.Tanh(),
        nn.MBConv(8, 8, 3, 1, 4, drop_connect_rate=0.2),   # expand, SE, residual, drop-connect
        nn.MBConv(8, 12, 5, 2, 1, se_ratio=0.0),           # no expansion, no SE, no residual
        nn.MaxPool2D(2, strides=1, padding="same"),
        nn.Conv2D(12, 10, 1, activation="relu"),           # 1x1 stride 1: runs as a pointwise conv
        nn.Sigmoid(),
        nn.DepthwiseConv2D(10, 3, padding="valid", use_bias=False),
        nn.ReLU(),
        nn.Swish(),
        nn.ReLU6(),
    ])
    features = body.output_shape(input_shape)
    if head == "flatten":
        head_layers = [nn.Flatten(), nn.BatchNorm2D(int(np.prod(features)))]
    else:
        head_layers = [nn.GlobalAveragePooling2D(keepdims=True), nn.Flatten()]
    width = nn.Sequential(head_layers).output_shape(features)[0]
    head_layers += [nn.Dropout(0.5), nn.Dense(width, 7, activation="tanh"), nn.Dense(7, 3, use_bias=False)]
    return nn.Sequential(body.layers + head_layers, input_shape=input_shape)


@pytest.mark.parametrize("head", ["flatten", "gap"])
@pytest.mark.parametrize("input_shape", [(37, 45, 2), (33, 50, 2)])
def test_every_layer_matches_onnxruntime(head, input_shape, tmp_path):
    model = randomized(every_layer_model(input_shape, head), 11)
    export_and_compare(model, input_shape, tmp_path, batch=4)


def test_depthwise_channel_order_is_tinycnns():
    """Output channel c*M + m of a depthwise conv is input channel c filtered by kernel[:, :, c, m]."""
    from tinycnn.export.converters import depthwise_kernel_oihw

    kernel = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2)       # (K_h, K_w, C, M)
    onnx_kernel = depthwise_kernel_oihw(kernel)
    assert onnx_kernel.shape == (8, 1, 2, 3)
    for c in range(4):
        for m in range(2):
            np.testing.assert_array_equal(onnx_kernel[c * 2 + m, 0], kernel[:, :, c, m])


def test_graph_input_output_and_metadata(tmp_path):
    model = randomized(models.pneumonia_net(seed=0), seed=0)
    path = to_onnx(model, tmp_path / "m.onnx", preprocessing="dataset", temperature=1.25, threshold=0.375,
                   metadata={"note": "hello"})
    proto = onnx.load(path)
    (graph_input,), (graph_output,) = proto.graph.input, proto.graph.output
    assert graph_input.name == "x_nhwc" and "NHWC" in graph_input.doc_string
    dims = [d.dim_value or d.dim_param for d in graph_input.type.tensor_type.shape.dim]
    assert dims == ["N", 64, 64, 1]
    assert graph_output.name == "logits"
    assert [d.dim_value or d.dim_param for d in graph_output.type.tensor_type.shape.dim] == ["N", 1]
    assert proto.graph.node[0].op_type == "Transpose"
    assert {o.version for o in proto.opset_import} == {17}
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["input_layout"] == "NHWC" and props["input_shape"] == "64x64x1"
    assert props["temperature"] == "1.25" and props["threshold"] == "0.375"
    assert props["preprocessing"] == "dataset" and "(pixels / 255 - 0.4825) / 0.2352" in props["preprocessing_formula"]
    assert props["note"] == "hello" and "sigmoid(logit / temperature)" in props["decision"]


def test_export_does_not_change_the_model_or_its_mode(tmp_path):
    model = randomized(models.pneumonia_net(seed=0), seed=0).train()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    to_onnx(model, tmp_path / "m.onnx")
    assert model.training
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


# ----------------------------------------------------------------------------- bad input


class Doubler(nn.Module):
    """A user's own layer: nothing tells the exporter what it computes."""

    def forward(self, x):
        return x * 2.0

    def output_shape(self, input_shape):
        return tuple(input_shape)


class MyConv(nn.Conv2D):
    """A subclass may compute something else than its parent, so it is not exported as one."""


def network_with(layer, channels=1):
    return nn.Sequential([nn.Conv2D(channels, 4, 3), layer, nn.GlobalAveragePooling2D(), nn.Dense(4, 1)],
                         input_shape=(9, 9, channels))


def gelu_conv():
    conv = nn.Conv2D(4, 4, 1, name="late_change")
    conv.activation = "gelu"                      # set after the constructor checked it
    return conv


def feature_extractor():
    return nn.Sequential([nn.Conv2D(1, 4, 3)], input_shape=(9, 9, 1))


def pneumonia():
    return models.pneumonia_net(seed=0)


def named_like_the_graph():
    """Layers and an ensemble called like the graph's input and output: the names must not clash."""
    def member():
        return nn.Sequential([nn.Conv2D(1, 4, 3, name="x_nhwc"), nn.GlobalAveragePooling2D(),
                              nn.Dense(4, 1, name="logits")], input_shape=(9, 9, 1))
    return randomized(nn.Ensemble([member(), member()], name="logits"), 0)


# (model, to_onnx keyword arguments ("path": the output, in tmp_path), error type or None for a right
# answer, words of the message)
BAD_EXPORTS = {
    "custom layer": (lambda: network_with(Doubler()), {}, ValueError,
                     ["cannot export Doubler 'doubler'", "no ONNX converter for Doubler", "Conv2D"]),
    "subclass of a layer": (lambda: network_with(MyConv(4, 4, 1)), {}, ValueError,
                            ["cannot export MyConv 'my_conv'"]),
    "custom layer inside a residual": (lambda: network_with(nn.Residual(Doubler())), {}, ValueError,
                                       ["cannot export Doubler"]),
    "activation not in the table": (lambda: network_with(gelu_conv()), {}, ValueError,
                                    ["Conv2D 'late_change'", "activation 'gelu'"]),
    "not a module": (lambda: {"weights": 1}, {}, TypeError, ["model must be a tinycnn nn.Module, got dict"]),
    "no input shape anywhere": (lambda: nn.Sequential([nn.Flatten(), nn.Dense(4, 1)]), {}, ValueError,
                                ["has no input_shape", "input_shape=(H, W, C)"]),
    "input shape of 2 numbers": (pneumonia, {"input_shape": (64, 64)}, ValueError,
                                 ["input_shape must be (height, width, channels), got (64, 64)"]),
    "input shape with a float": (pneumonia, {"input_shape": (64, 64.5, 1)}, TypeError,
                                 ["to_onnx: input_shape must be an integer >= 1, got 64.5"]),
    "input shape with a zero": (pneumonia, {"input_shape": (0, 64, 1)}, ValueError,
                                ["to_onnx: input_shape must be >= 1, got 0"]),
    "input shape with 3 channels for a 1-channel net": (pneumonia, {"input_shape": (64, 64, 3)}, ValueError,
                                                        ["Conv2D 'conv1'", "1", "3"]),
    "a feature map, not logits": (feature_extractor, {}, ValueError,
                                  ["outputs (7, 7, 4) per image", "expected logits"]),
    "temperature 0": (pneumonia, {"temperature": 0.0}, ValueError, ["to_onnx: temperature must be in (0, inf)"]),
    "temperature nan": (pneumonia, {"temperature": float("nan")}, ValueError, ["temperature", "nan"]),
    "temperature as text": (pneumonia, {"temperature": "1.5"}, TypeError, ["temperature must be a number"]),
    "threshold above 1": (pneumonia, {"threshold": 1.5}, ValueError, ["to_onnx: threshold must be in [0, 1], got 1.5"]),
    "unknown preprocessing": (pneumonia, {"preprocessing": "zscore"}, ValueError,
                              ["preprocessing must be one of ['dataset', 'per_image', 'unit'] or None, got 'zscore'"]),
    "metadata value not text": (pneumonia, {"metadata": {"epoch": 3}}, TypeError,
                                ["metadata must map str to str, got 'epoch': 3"]),
    "output path is a folder": (pneumonia, {"path": "."}, IsADirectoryError,
                                ["is a folder; give the file to write, e.g. model.onnx"]),
    "metadata overriding the calibration": (pneumonia, {"metadata": {"temperature": "2"}}, ValueError,
                                            ["metadata key 'temperature' is written by to_onnx itself"]),
    # right answers
    "input shape as a list of numpy ints": (pneumonia, {"input_shape": [np.int64(64), 64, 1]}, None, []),
    "threshold 0 and temperature as numpy float": (pneumonia, {"threshold": 0, "temperature": np.float32(2)},
                                                   None, []),
    "threshold 1": (pneumonia, {"threshold": 1.0}, None, []),
    "layers named x_nhwc and logits": (named_like_the_graph, {}, None, []),
    "a smaller input than the model was built for": (pneumonia, {"input_shape": (40, 33, 1)}, None, []),
}


@pytest.mark.parametrize("case", BAD_EXPORTS)
def test_bad_exports(case, tmp_path):
    make_model, kwargs, error, words = BAD_EXPORTS[case]
    model = make_model()
    kwargs = dict(kwargs)
    path = tmp_path / kwargs.pop("path", "out.onnx")
    if error is None:
        to_onnx(model, path, **kwargs)
        shape = tuple(int(s) for s in kwargs.get("input_shape", model.input_shape))
        x = np.random.default_rng(0).normal(size=(2, *shape)).astype(np.float32)
        assert_same_logits(onnx_logits(path, x), model.predict(x))
        return
    with pytest.raises(error) as caught:
        to_onnx(model, path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    assert os.listdir(tmp_path) == []             # nothing written, not even a temporary file


@pytest.fixture
def without_onnx(monkeypatch):
    """As if onnx were not installed: importing it fails."""
    for name in [n for n in sys.modules if n == "onnx" or n.startswith("onnx.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "onnx", None)


def test_without_onnx_the_error_names_the_extra(without_onnx, tmp_path):
    with pytest.raises(ImportError) as caught:
        to_onnx(models.pneumonia_net(seed=0), tmp_path / "m.onnx")
    assert INSTALL_HINT in str(caught.value) and INSTALL_HINT == 'pip install "tinycnn[onnx]"'


# ----------------------------------------------------------------------------- the command


def save_run(folder, preprocessing="per_image", temperature=1.7, threshold=0.37, members=2):
    """A run folder: model.npz (an ensemble of randomized pneumonia_nets) and its metrics.json."""
    os.makedirs(folder, exist_ok=True)
    network = models.build("pneumonia_net", (64, 64, 1), seed=5, members=members)
    randomized(network, seed=5)
    path = os.path.join(folder, "model.npz")
    save_model(path, network, "pneumonia_net", (64, 64, 1), 5, {}, extra={"preprocessing": preprocessing})
    with open(os.path.join(folder, "metrics.json"), "w") as f:
        json.dump({"temperature": temperature, "threshold_val_sens": {"threshold": threshold}}, f)
    return path, network


def entry_point():
    """The installed ``tinycnn`` command next to this Python (as tests/test_cli.py finds it)."""
    return shutil.which("tinycnn", path=os.path.dirname(sys.executable)) or shutil.which("tinycnn")


def test_cli_export_round_trip_through_the_entry_point(tmp_path):
    model_path, network = save_run(tmp_path / "run")
    out = tmp_path / "detector.onnx"
    done = subprocess.run([entry_point(), "export", model_path, "-o", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout and "temperature 1.7" in done.stdout
    proto = onnx.load(out)
    onnx.checker.check_model(proto, full_check=True)
    props = {p.key: p.value for p in proto.metadata_props}
    assert {k: props[k] for k in ("preprocessing", "temperature", "threshold", "class_names", "architecture",
                                  "members", "input_shape", "input_layout")} == {
        "preprocessing": "per_image", "temperature": "1.7", "threshold": "0.37", "class_names": "NORMAL,PNEUMONIA",
        "architecture": "pneumonia_net", "members": "2", "input_shape": "64x64x1", "input_layout": "NHWC"}
    assert "(x - mean(x)) / (std(x) + 1e-06)" in props["preprocessing_formula"]
    x = preprocess(load_pneumonia().x_test[:5], "per_image")
    assert_same_logits(onnx_logits(out, x), network.predict(x))


def run_cli(argv, capsys):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# (arguments, given files: "run" = a run folder at run/, exit status, words on stdout or stderr)
CLI_CASES = {
    "missing model file": (["export", "nowhere/model.npz", "-o", "m.onnx"], 2, ["model file not found: nowhere/model.npz"]),
    "two different model files": (["export", "run/model.npz", "--model", "other/model.npz"], 2,
                                  ["two model files given, run/model.npz and --model other/model.npz"]),
    "output is a folder": (["export", "run/model.npz", "-o", "run"], 2, ["-o/--output must name an .onnx file, got 'run'"]),
    "output is the model file itself": (["export", "run/model.npz", "-o", "run/model.npz"], 2,
                                        ["-o/--output must name an .onnx file, got 'run/model.npz'"]),
    "not a model file": (["export", "run/metrics.json", "-o", "m.onnx"], 2, ["cannot load model", "run/metrics.json"]),
    # right answers
    "--model spelling": (["export", "--model", "run/model.npz", "-o", "m.onnx"], 0, ["wrote m.onnx"]),
    "the same file twice": (["export", "run/model.npz", "--model", "run/model.npz", "-o", "m.onnx"], 0,
                            ["wrote m.onnx"]),
    "default output next to the model": (["export", "run/model.npz"], 0, [f"wrote {os.path.join('run', 'model.onnx')}"]),
    "default model runs/pneumonia/model.npz": (["export"], 0,
                                               [f"wrote {os.path.join('runs', 'pneumonia', 'model.onnx')}"]),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_export_cases(case, tmp_path, monkeypatch, capsys):
    argv, status, words = CLI_CASES[case]
    monkeypatch.chdir(tmp_path)
    save_run("run", members=1)
    save_run(os.path.join("runs", "pneumonia"), members=1)
    got, out, err = run_cli(argv, capsys)
    assert got == status, err
    for word in words:
        assert word in (out if status == 0 else err)
    if status == 0:
        written = re.search(r"wrote (\S+):", out).group(1)
        onnx.checker.check_model(onnx.load(written))


def test_cli_without_onnx_names_the_extra(without_onnx, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    save_run("run", members=1)
    status, out, err = run_cli(["export", "run/model.npz", "-o", "m.onnx"], capsys)
    assert status == 2 and 'pip install "tinycnn[onnx]"' in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists("m.onnx")


# ----------------------------------------------------------------------------- the README's example


def readme_example():
    """The Python block of README.md's "Run the exported detector with onnxruntime"."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Run the exported detector with onnxruntime", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.parametrize("preprocessing", ["per_image", "dataset"])
@pytest.mark.parametrize("index", [0, 400])           # a NORMAL and a PNEUMONIA test X-ray
def test_readme_example_gives_what_tinycnn_predict_gives(preprocessing, index, tmp_path, monkeypatch, capsys):
    """README.md's example, read from the README itself (so the two cannot drift apart), run in a
    folder holding runs/pneumonia/ and xray.jpeg: the probability of ``tinycnn predict --json``
    to 1e-5, and the very label and 3-decimal probability ``tinycnn predict`` prints."""
    monkeypatch.chdir(tmp_path)
    model_path, _ = save_run(os.path.join("runs", "pneumonia"), preprocessing=preprocessing,
                                   temperature=0.4, threshold=0.5)
    xray = Image.fromarray(load_pneumonia().x_test[index]).resize((256, 256), Image.Resampling.LANCZOS)
    xray.save("xray.jpeg", quality=95)
    assert run_cli(["export", model_path, "-o", os.path.join("runs", "pneumonia", "model.onnx")], capsys)[0] == 0

    status, predicted, _ = run_cli(["predict", "xray.jpeg", "--model", model_path], capsys)
    namespace = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.split()

    status_json, scored_json, _ = run_cli(["predict", "xray.jpeg", "--model", model_path, "--json"], capsys)
    assert status == status_json == 0
    (scored,) = json.loads(scored_json)
    assert 0.02 < scored["probability"] < 0.98    # a probability that says something
    assert namespace["p"] == pytest.approx(scored["probability"], rel=1e-5, abs=1e-6)
    label, probability = re.search(r"xray\.jpeg: (\w+) \(probability of pneumonia ([0-9.]+)", predicted).groups()
    assert printed == [label, probability] and label == scored["label"]
