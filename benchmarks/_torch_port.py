"""PyTorch side of the benchmarks: the network a tinycnn model describes, with its weights.

Imported only by torch workers; imports torch and NumPy, never tinycnn.  The spec comes
from ``_export.model_spec`` (one dict per layer, weights named by ``state_dict`` keys of
the ``arrays`` mapping).  tinycnn is NHWC with Keras weight shapes; torch is NCHW:

    conv      (KH, KW, C_in, C_out)  ->  (C_out, C_in, KH, KW)
    depthwise (KH, KW, C, M)         ->  (C*M, 1, KH, KW), groups=C (output channel c*M + m)
    dense     (in, out)              ->  (out, in)

"same" padding that is not symmetric (stride 2: one row/column more at the bottom/right)
becomes ZeroPad2d + an unpadded conv, which is how a torch user ports a Keras model.
"""

import numpy as np
import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "silu": nn.SiLU, "swish": nn.SiLU,
               "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def as_tensor(array):
    return torch.from_numpy(np.array(array, dtype=np.float32, copy=True))


def conv2d(kernel, bias, stride, pads, activation=None, depthwise=False):
    """A torch conv (plus ZeroPad2d / activation when needed) from tinycnn-layout weights."""
    if depthwise:
        KH, KW, C, M = kernel.shape
        weight = kernel.reshape(KH, KW, C * M).transpose(2, 0, 1)[:, None]
        in_channels, out_channels, groups = C, C * M, C
    else:
        KH, KW, in_channels, out_channels = kernel.shape
        weight, groups = kernel.transpose(3, 2, 0, 1), 1
    (top, bottom), (left, right) = pads
    symmetric = top == bottom and left == right
    conv = nn.Conv2d(in_channels, out_channels, (KH, KW), stride=tuple(stride), groups=groups,
                     padding=(top, left) if symmetric else 0, bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(as_tensor(weight))
        if bias is not None:
            conv.bias.copy_(as_tensor(bias))
    layers = ([] if symmetric else [nn.ZeroPad2d((left, right, top, bottom))]) + [conv]
    if activation not in (None, "linear"):
        layers.append(ACTIVATIONS[activation]())
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def weight_grad_as_tinycnn(grad, kernel_shape, depthwise):
    """A torch conv weight gradient in tinycnn's kernel layout (for comparing the two)."""
    if depthwise:
        return grad[:, 0].permute(1, 2, 0).reshape(kernel_shape)
    return grad.permute(2, 3, 1, 0)


class SqueezeExcite(nn.Module):
    def __init__(self, reduce, expand):
        super().__init__()
        self.reduce, self.expand = reduce, expand

    def forward(self, x):
        return x * self.expand(self.reduce(x.mean(dim=(2, 3), keepdim=True)))


class MBConv(nn.Module):
    """body(x), plus x with per-sample drop-connect in training when the block has a skip."""

    def __init__(self, body, skip, drop_rate):
        super().__init__()
        self.body, self.skip, self.drop_rate = nn.Sequential(*body), skip, drop_rate
        self.drop_on = True

    def forward(self, x):
        h = self.body(x)
        if not self.skip:
            return h
        if self.training and self.drop_on and self.drop_rate > 0:
            keep = 1.0 - self.drop_rate
            h = h * (torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype).bernoulli_(keep) / keep)
        return h + x


class GlobalAvgPool(nn.Module):
    def __init__(self, keepdims):
        super().__init__()
        self.keepdims = keepdims

    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=self.keepdims)


class FlattenNHWC(nn.Module):
    """Flatten in tinycnn's (H, W, C) order, so the Dense weights that follow still fit."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def batch_norm(spec, arrays):
    m = nn.BatchNorm2d(arrays[spec["gamma"]].shape[0], eps=spec["epsilon"], momentum=1 - spec["momentum"])
    with torch.no_grad():
        m.weight.copy_(as_tensor(arrays[spec["gamma"]]))
        m.bias.copy_(as_tensor(arrays[spec["beta"]]))
        m.running_mean.copy_(as_tensor(arrays[spec["moving_mean"]]))
        m.running_var.copy_(as_tensor(arrays[spec["moving_variance"]]))
    return m


def dense(spec, arrays):
    kernel = arrays[spec["kernel"]]
    m = nn.Linear(*kernel.shape, bias=spec["bias"] is not None)
    with torch.no_grad():
        m.weight.copy_(as_tensor(kernel.T))
        if spec["bias"] is not None:
            m.bias.copy_(as_tensor(arrays[spec["bias"]]))
    if spec["activation"] in (None, "linear"):
        return m
    return nn.Sequential(m, ACTIVATIONS[spec["activation"]]())


def build_layer(spec, arrays):
    kind = spec["type"]
    bias = arrays[spec["bias"]] if spec.get("bias") else None
    if kind in ("conv", "depthwise"):
        return conv2d(arrays[spec["kernel"]], bias, spec["stride"], spec["pads"], spec["activation"],
                      depthwise=kind == "depthwise")
    if kind == "pointwise":
        return conv2d(arrays[spec["kernel"]][None, None], bias, (1, 1), ((0, 0), (0, 0)), spec["activation"])
    if kind == "mbconv":
        return MBConv([build_layer(s, arrays) for s in spec["body"]], spec["skip"], spec["drop_rate"])
    if kind == "squeeze_excite":
        return SqueezeExcite(build_layer(spec["reduce"], arrays), build_layer(spec["expand"], arrays))
    simple = {"batch_norm": lambda: batch_norm(spec, arrays), "dense": lambda: dense(spec, arrays),
              "activation": lambda: ACTIVATIONS[spec["name"]](),
              "global_avg_pool": lambda: GlobalAvgPool(spec["keepdims"]),
              "flatten": FlattenNHWC, "dropout": lambda: nn.Dropout(spec["rate"])}
    if kind not in simple:
        raise TypeError(f"benchmarks: _torch_port has no layer of type {kind!r}")
    return simple[kind]()


def build_model(spec, arrays):
    return nn.Sequential(*[build_layer(s, arrays) for s in spec])


def set_random_layers(model, on):
    """Dropout and drop-connect on (training as usual) or off (outputs comparable)."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.train(on and model.training)
        if isinstance(m, MBConv):
            m.drop_on = on


def memory_format(layout):
    if layout not in ("nchw", "channels_last"):
        raise ValueError(f"layout must be 'nchw' or 'channels_last', got {layout!r}")
    return torch.channels_last if layout == "channels_last" else torch.contiguous_format


def to_layout(module, layout):
    return module.to(memory_format=memory_format(layout))


def input_tensor(x_nhwc, layout, requires_grad=False):
    """NHWC NumPy -> NCHW torch tensor stored in the layout's memory format (a copy)."""
    t = torch.from_numpy(np.ascontiguousarray(x_nhwc)).permute(0, 3, 1, 2)
    return t.contiguous(memory_format=memory_format(layout)).requires_grad_(requires_grad)


def as_nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()
