"""tinycnn side of the benchmarks: a model as a plain description, and its conv layer shapes.

Imported only by tinycnn workers.  ``model_spec`` turns a built model into JSON-able dicts
(one per layer, weights named by their ``state_dict`` keys), so that a torch worker can
rebuild the same network from the spec and an ``.npz`` of the state without importing
tinycnn (importing tinycnn's layers loads Numba and its OpenMP runtime, which would share
the torch process).  ``conv_shapes`` walks a model's layers with their input shapes (into
MBConv blocks and squeeze-excite through ``summary_layers``) and lists every standard,
depthwise and pointwise convolution it runs.
"""

import tinycnn as tc
from tinycnn import nn
from tinycnn.kernels.shapes import resolve_padding

ACTIVATION_LAYERS = (nn.ReLU, nn.ReLU6, nn.Swish, nn.Sigmoid)
#: containers whose children run one after the other (summary_layers gives their shapes)
SEQUENTIAL_BLOCKS = (nn.MBConv, nn.SqueezeExcite)


def module_prefixes(model):
    """id(module) -> its dotted name in the model's state_dict ("" for the model)."""
    return {id(module): name for name, module in model.named_modules()}


def key(prefixes, layer, attribute):
    prefix = prefixes[id(layer)]
    return f"{prefix}.{attribute}" if prefix else attribute


def pads_of(layer, in_shape):
    """The layer's padding as explicit ((top, bottom), (left, right)) for this input."""
    pads = resolve_padding(layer.padding, tuple(in_shape[:2]), layer.kernel_size, layer.strides)
    return [list(p) for p in pads]


def conv_kind(layer, in_shape):
    """'depthwise', 'pointwise' (what a 1x1 stride-1 unpadded Conv2D runs as) or 'conv'."""
    if isinstance(layer, nn.DepthwiseConv2D):
        return "depthwise"
    if isinstance(layer, nn.PointwiseConv2D):
        return "pointwise"
    if (layer.kernel_size == (1, 1) and layer.strides == (1, 1)
            and pads_of(layer, in_shape) == [[0, 0], [0, 0]]):
        return "pointwise"
    return "conv"


def conv_spec(layer, in_shape, prefixes):
    return {"type": "depthwise" if isinstance(layer, nn.DepthwiseConv2D) else "conv",
            "kernel": key(prefixes, layer, "kernel"),
            "bias": key(prefixes, layer, "bias") if layer.bias is not None else None,
            "stride": list(layer.strides), "pads": pads_of(layer, in_shape),
            "activation": layer.activation}


def layer_spec(layer, in_shape, prefixes):
    """One layer as a dict the torch port understands; an error names a layer it cannot port."""
    if isinstance(layer, SEQUENTIAL_BLOCKS):
        children = [layer_spec(child, shape, prefixes) for child, shape, _ in layer.summary_layers(in_shape)]
        if isinstance(layer, nn.SqueezeExcite):
            return {"type": "squeeze_excite", "reduce": children[0], "expand": children[1]}
        drop = layer.drop.rate if layer.drop is not None else 0.0
        return {"type": "mbconv", "body": [c for c in children if c is not None],
                "skip": layer.has_skip, "drop_rate": drop}
    if isinstance(layer, (nn.Conv2D, nn.DepthwiseConv2D)):
        return conv_spec(layer, in_shape, prefixes)
    if isinstance(layer, nn.PointwiseConv2D):
        return {"type": "pointwise", "kernel": key(prefixes, layer, "kernel"),
                "bias": key(prefixes, layer, "bias") if layer.bias is not None else None,
                "activation": layer.activation}
    if isinstance(layer, nn.BatchNorm2D):
        return {"type": "batch_norm", "epsilon": layer.epsilon, "momentum": layer.momentum,
                **{a: key(prefixes, layer, a) for a in ("gamma", "beta", "moving_mean", "moving_variance")}}
    if isinstance(layer, ACTIVATION_LAYERS):
        return {"type": "activation", "name": layer.activation}
    if isinstance(layer, nn.GlobalAveragePooling2D):
        return {"type": "global_avg_pool", "keepdims": layer.keepdims}
    if isinstance(layer, nn.Flatten):
        return {"type": "flatten"}
    if isinstance(layer, nn.Dropout):
        return {"type": "dropout", "rate": layer.rate}
    if isinstance(layer, nn.DropConnect):
        return None                           # part of MBConv's skip: "drop_rate" there
    if isinstance(layer, nn.Dense):
        return {"type": "dense", "kernel": key(prefixes, layer, "kernel"),
                "bias": key(prefixes, layer, "bias") if layer.bias is not None else None,
                "activation": layer.activation}
    raise TypeError(f"benchmarks: no PyTorch port for layer {layer.describe()} "
                    f"({type(layer).__name__}); add it to _export.py and _torch_port.py")


def model_spec(model):
    """[layer dict] for the model's top-level layers, in order."""
    prefixes = module_prefixes(model)
    return [layer_spec(layer, shape, prefixes) for layer, shape, _ in model.layer_shapes()]


# ---------------------------------------------------------------------- running modes


def set_random_layers(model, on):
    """Dropout and drop-connect on (training as usual) or off (outputs comparable)."""
    for module in model.modules():
        if isinstance(module, (nn.Dropout, nn.DropConnect)):
            module.train(on)


def calibrate_batch_norm(model, x):
    """Set every BN's moving statistics to those of batch x (one training-mode pass with
    momentum 0, dropout off), so eval-mode activations have a realistic scale instead of
    shrinking towards denormal numbers (which slow both frameworks down)."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2D)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    model.train()
    set_random_layers(model, False)
    with tc.no_grad():
        model(tc.Tensor(x))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.train()


# ---------------------------------------------------------------------- conv shapes


def conv_shapes(model, batch, net):
    """Every conv / depthwise / pointwise layer the model runs, as kernel-benchmark dicts."""
    found = []

    def walk(rows):
        for layer, in_shape, out_shape in rows:
            if isinstance(layer, SEQUENTIAL_BLOCKS):
                walk(layer.summary_layers(in_shape))
            elif isinstance(layer, (nn.Conv2D, nn.DepthwiseConv2D)):
                found.append(shape_entry(layer, batch, in_shape, out_shape, net))

    walk(model.layer_shapes())
    return found


def shape_entry(layer, batch, in_shape, out_shape, net):
    H, W, C_in = in_shape
    kind = conv_kind(layer, in_shape)
    depthwise = isinstance(layer, nn.DepthwiseConv2D)
    KH, KW = layer.kernel_size
    macs = batch * out_shape[0] * out_shape[1] * KH * KW * (out_shape[2] if depthwise else C_in * out_shape[2])
    return {"kind": kind, "N": batch, "H": H, "W": W, "C_in": C_in, "C_out": out_shape[2],
            "kernel": [KH, KW], "stride": list(layer.strides), "pads": pads_of(layer, in_shape),
            "depth_multiplier": layer.depth_multiplier if depthwise else 1,
            "bias": layer.bias is not None, "activation": layer.activation,
            "out": list(out_shape), "macs": macs, "uses": {net: 1}}


def dedupe_key(entry):
    """(kind, N, H, W, C_in, C_out, kernel, stride, padding, depth multiplier)."""
    return (entry["kind"], entry["N"], entry["H"], entry["W"], entry["C_in"], entry["C_out"],
            tuple(entry["kernel"]), tuple(entry["stride"]), tuple(map(tuple, entry["pads"])),
            entry["depth_multiplier"])


def distinct_shapes(entries):
    """One entry per dedupe_key, in first-seen order, counting the layers that share it."""
    merged = {}
    for entry in entries:
        k = dedupe_key(entry)
        if k not in merged:
            merged[k] = dict(entry, uses=dict(entry["uses"]))
        else:
            for net, count in entry["uses"].items():
                merged[k]["uses"][net] = merged[k]["uses"].get(net, 0) + count
    return list(merged.values())
