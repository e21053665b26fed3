"""``to_onnx``: check the arguments, build the graph (``converters``), add the metadata, check
the model with ``onnx.checker`` and write it atomically.  ``onnx`` is imported only here, when a
model is exported (``import_onnx``), so tinycnn works without it."""

import os

from .. import nn
from ..data.pneumonia import TRAIN_MEAN, TRAIN_STD
from ..files import atomic_write
from ..kernels.arguments import as_count, as_real
from .converters import convert
from .graph import GraphBuilder, Value

INSTALL_HINT = 'pip install "tinycnn[onnx]"'
#: ONNX opset 17 (2022): every op used here has its present meaning, and runtimes since
#: onnxruntime 1.13 run it.
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "x_nhwc", "logits"
PREPROCESSING_FORMULAS = {
    "per_image": "x = pixels / 255 (float32), then x = (x - mean(x)) / (std(x) + 1e-06), mean and "
                 "std (ddof 0) over the H*W pixels of each image (tinycnn.data.standardize_per_image)",
    "dataset": f"x = (pixels / 255 - {TRAIN_MEAN}) / {TRAIN_STD} (float32; the training set's mean "
               "and standard deviation, tinycnn.data.normalize)",
    "unit": "x = pixels / 255 (float32, in [0, 1]; tinycnn.data.preprocess(pixels, 'unit'))",
}
PIXELS_TEXT = ("pixels: the X-ray as 8-bit grey levels (uint8, 0..255) resized to H x W with Pillow's "
               "LANCZOS filter, as tinycnn.data.load_xray(file, H).pixels gives it, shaped (N, H, W, 1)")


def import_onnx():
    """The ``onnx`` package, imported only when a model is exported, or an error naming the extra."""
    try:
        import onnx
        from onnx import helper, numpy_helper  # noqa: F401  (onnx.helper, onnx.numpy_helper)
    except ImportError:
        raise ImportError(f"tinycnn.export needs the onnx package, which is not installed: {INSTALL_HINT}") from None
    return onnx


# ----------------------------------------------------------------------------- the public function


def to_onnx(model, path, input_shape=None, preprocessing=None, temperature=1.0, threshold=0.5,
            metadata=None):
    """Write ``model`` (eval mode: moving BN statistics, no dropout) as an ONNX file at ``path``.

    input_shape: (H, W, C) of one image (default: the model's own ``input_shape``).
    preprocessing: "per_image", "dataset" or "unit" (how pixels become the input; see
    tinycnn.data.preprocess), or None when the input is given as it is.  temperature and
    threshold: the calibration that turns a logit into a probability and a label (a run's
    come from its metrics.json).  metadata: more {str: str} entries for ``metadata_props``.
    The file is checked by ``onnx.checker`` and written atomically; returns ``path``.
    """
    onnx = import_onnx()
    if not isinstance(model, nn.Module):
        raise TypeError(f"to_onnx: model must be a tinycnn nn.Module, got {type(model).__name__}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"to_onnx: {os.fspath(path)} is a folder; give the file to write, e.g. model.onnx")
    input_shape = check_export_shape(model, input_shape)
    props = metadata_props(model, input_shape, preprocessing, temperature, threshold, metadata)
    proto = build_model_proto(onnx, model, input_shape, props)
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return os.fspath(path)


def check_export_shape(model, input_shape):
    """(H, W, C) as ints >= 1, for which the model gives one vector of logits per image."""
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise ValueError(f"to_onnx: {model.describe()} has no input_shape; pass input_shape=(H, W, C)")
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"to_onnx: input_shape must be (height, width, channels), got {input_shape!r}")
    shape = tuple(as_count(v, "input_shape", "to_onnx") for v in input_shape)
    out = tuple(model.output_shape(shape))        # a layer that does not fit the shape says so
    if len(out) != 1:
        raise ValueError(f"to_onnx: {model.describe()} outputs {out} per image for input {shape}; "
                         "expected logits, one vector (K,) per image")
    return shape


def metadata_props(model, input_shape, preprocessing, temperature, threshold, metadata):
    """The {str: str} written to the ONNX model's metadata_props (see the module docstring)."""
    temperature = as_real(temperature, "temperature", "to_onnx", 0, low_open=True)
    threshold = as_real(threshold, "threshold", "to_onnx", 0, 1)
    classes = model.output_shape(input_shape)[0]
    if classes == 1:
        decision = ("p = sigmoid(logit / temperature) is the probability of class 1 (PNEUMONIA for the "
                    "pneumonia detector); the label is class 1 when p >= threshold, else class 0")
    else:
        decision = "p = softmax(logits / temperature) over the classes"
    props = {"input_layout": "NHWC", "input_shape": "x".join(str(s) for s in input_shape),
             "temperature": repr(temperature), "threshold": repr(threshold), "decision": decision}
    if preprocessing is not None:
        if preprocessing not in PREPROCESSING_FORMULAS:
            raise ValueError(f"to_onnx: preprocessing must be one of {sorted(PREPROCESSING_FORMULAS)} or "
                             f"None, got {preprocessing!r}")
        props["preprocessing"] = preprocessing
        props["preprocessing_formula"] = f"{PIXELS_TEXT}; {PREPROCESSING_FORMULAS[preprocessing]}"
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"to_onnx: metadata must map str to str, got {key!r}: {value!r}")
        if key in props:
            raise ValueError(f"to_onnx: metadata key {key!r} is written by to_onnx itself; pass it as its "
                             "argument (temperature=..., preprocessing=...), not in metadata")
        props[key] = value
    return props


def build_model_proto(onnx, model, input_shape, props):
    """The checked ONNX ModelProto of ``model`` for images of ``input_shape``."""
    helper = onnx.helper
    graph = GraphBuilder(onnx, reserved=(INPUT_NAME, OUTPUT_NAME))
    x = Value(graph.add("Transpose", [INPUT_NAME], "to_nchw", perm=[0, 3, 1, 2]), input_shape)
    logits = convert(graph, model, x, model.name)
    graph.add("Identity", [logits.name], OUTPUT_NAME, output=OUTPUT_NAME)
    graph.check_size(model)
    H, W, C = input_shape
    inputs = [helper.make_tensor_value_info(
        INPUT_NAME, onnx.TensorProto.FLOAT, ["N", H, W, C],
        doc_string=f"float32 images in tinycnn's NHWC layout (N, {H}, {W}, {C}), preprocessed as the "
                   "metadata's preprocessing_formula says")]
    outputs = [helper.make_tensor_value_info(
        OUTPUT_NAME, onnx.TensorProto.FLOAT, ["N", logits.shape[0]],
        doc_string="logits (N, K) as the tinycnn model returns them in eval mode")]
    body = helper.make_graph(graph.nodes, model.name, inputs, outputs, graph.initializers,
                             doc_string=f"{model.describe()}, exported by tinycnn: input {INPUT_NAME} is NHWC")
    opsets = [helper.make_opsetid("", OPSET)]
    proto = helper.make_model(body, opset_imports=opsets, producer_name="tinycnn",
                              ir_version=helper.find_min_ir_version_for(opsets),
                              doc_string="Run it with the input preprocessed as metadata_props say.")
    helper.set_model_props(proto, props)
    onnx.checker.check_model(proto, full_check=True)
    return proto
