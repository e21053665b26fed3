"""One function per tinycnn layer, block or container that adds the ONNX nodes computing it
(the table ``CONVERTERS``, by exact class); ``convert`` walks a model with them.  Each takes
(graph, module, x, name) and returns the name of its output; the shapes are tinycnn's own
``output_shape``.  Values with an (H, W, C) shape are NCHW in the graph."""

from .. import nn
from ..kernels.shapes import resolve_padding
from .graph import Value, weight_array


def convert(graph, module, x, name):
    """Add the nodes that compute ``module(x)`` and return its output Value."""
    converter = CONVERTERS.get(type(module))
    if converter is None:
        raise ValueError(f"to_onnx: cannot export {module.describe()}: tinycnn has no ONNX converter for "
                         f"{type(module).__name__}; it exports {', '.join(sorted(c.__name__ for c in CONVERTERS))}")
    shape = tuple(module.output_shape(x.shape))
    return Value(converter(graph, module, x, name), shape)


def convert_children(graph, modules, x, name):
    """Run the non-None ``modules`` one after the other on x."""
    for module in modules:
        if module is not None:
            x = convert(graph, module, x, f"{name}/{module.name}")
    return x


# ----------------------------------------------------------------------------- activations


def activation_nodes(graph, activation, x_name, name, owner):
    """The nodes of a named activation (tinycnn.functional.ACTIVATIONS) on the value x_name."""
    if activation in (None, "linear"):
        return x_name
    if activation in ("relu", "sigmoid", "tanh"):
        return graph.add({"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}[activation], [x_name], name)
    if activation == "relu6":
        return graph.add("Clip", [x_name, graph.constant(0.0), graph.constant(6.0)], name)
    if activation in ("silu", "swish"):
        return graph.add("Mul", [x_name, graph.add("Sigmoid", [x_name], name)], name)
    raise ValueError(f"to_onnx: cannot export {owner.describe()}: no ONNX nodes for activation {activation!r}")


def convert_activation_layer(graph, layer, x, name):
    return activation_nodes(graph, layer.activation, x.name, name, layer)


# ----------------------------------------------------------------------------- convolutions


def onnx_pads(layer, x, kernel_size):
    """tinycnn's ((top, bottom), (left, right)) for this input as ONNX's [top, left, bottom, right]."""
    (top, bottom), (left, right) = resolve_padding(layer.padding, x.shape[:2], kernel_size, layer.strides,
                                                   layer.describe())
    return [top, left, bottom, right]


def conv_node(graph, x_name, kernel_oihw, bias, name, pads=(0, 0, 0, 0), strides=(1, 1), group=1):
    """One ONNX Conv (NCHW) with an (out, in / group, K_h, K_w) weight and an optional bias."""
    inputs = [x_name, graph.weight(f"{name}.kernel", kernel_oihw)]
    if bias is not None:
        inputs.append(graph.weight(f"{name}.bias", weight_array(bias)))
    KH, KW = kernel_oihw.shape[2:]
    return graph.add("Conv", inputs, name, kernel_shape=[KH, KW], pads=list(pads), strides=list(strides),
                     group=group)


def depthwise_kernel_oihw(kernel):
    """(K_h, K_w, C, M) -> (C*M, 1, K_h, K_w): output channel c*M + m gets kernel[:, :, c, m],
    and with group = C, ONNX feeds output channel o from input channel o // M = c."""
    KH, KW, C, M = kernel.shape
    return kernel.reshape(KH, KW, C * M).transpose(2, 0, 1)[:, None]


def convert_conv2d(graph, layer, x, name):
    kernel = weight_array(layer.kernel).transpose(3, 2, 0, 1)          # (F, C_in, K_h, K_w)
    y = conv_node(graph, x.name, kernel, layer.bias, name, onnx_pads(layer, x, layer.kernel_size),
                  layer.strides)
    return activation_nodes(graph, layer.activation, y, name, layer)


def convert_depthwise(graph, layer, x, name):
    kernel = depthwise_kernel_oihw(weight_array(layer.kernel))
    y = conv_node(graph, x.name, kernel, layer.bias, name, onnx_pads(layer, x, layer.kernel_size),
                  layer.strides, group=layer.in_channels)
    return activation_nodes(graph, layer.activation, y, name, layer)


def convert_pointwise(graph, layer, x, name):
    kernel = weight_array(layer.kernel).T[:, :, None, None]            # (F, C_in, 1, 1)
    y = conv_node(graph, x.name, kernel, layer.bias, name)
    return activation_nodes(graph, layer.activation, y, name, layer)


def convert_separable(graph, layer, x, name):
    depthwise = depthwise_kernel_oihw(weight_array(layer.depthwise_kernel))
    h = conv_node(graph, x.name, depthwise, None, f"{name}/depthwise", onnx_pads(layer, x, layer.kernel_size),
                  layer.strides, group=layer.in_channels)
    pointwise = weight_array(layer.pointwise_kernel)[0, 0].T[:, :, None, None]
    y = conv_node(graph, h, pointwise, layer.bias, f"{name}/pointwise")
    return activation_nodes(graph, layer.activation, y, name, layer)


# ----------------------------------------------------------------------------- normalisation, pooling, dense


def convert_batch_norm(graph, layer, x, name):
    inputs = [x.name] + [graph.weight(f"{name}.{key}", weight_array(getattr(layer, key)))
                         for key in ("gamma", "beta", "moving_mean", "moving_variance")]
    return graph.add("BatchNormalization", inputs, name, epsilon=float(layer.epsilon))


def pool_window(layer, x):
    """The kernel_shape, strides and pads attributes of an ONNX pool for this layer and input."""
    return dict(kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                pads=onnx_pads(layer, x, layer.pool_size))


def convert_max_pool(graph, layer, x, name):
    return graph.add("MaxPool", [x.name], name, **pool_window(layer, x))


def convert_avg_pool(graph, layer, x, name):
    return graph.add("AveragePool", [x.name], name, count_include_pad=0, **pool_window(layer, x))


def convert_global_avg_pool(graph, layer, x, name):
    y = graph.add("GlobalAveragePool", [x.name], name)                 # (N, C, 1, 1)
    return y if layer.keepdims else graph.add("Flatten", [y], name, axis=1)


def convert_flatten(graph, layer, x, name):
    if len(x.shape) != 3:
        return graph.add("Flatten", [x.name], name, axis=1)
    nhwc = graph.add("Transpose", [x.name], f"{name}/to_nhwc", perm=[0, 2, 3, 1])
    return graph.add("Flatten", [nhwc], name, axis=1)


def convert_dense(graph, layer, x, name):
    kernel = graph.weight(f"{name}.kernel", weight_array(layer.kernel))            # (in, units)
    if layer.bias is None:
        y = graph.add("MatMul", [x.name, kernel], name)
    else:
        y = graph.add("Gemm", [x.name, kernel, graph.weight(f"{name}.bias", weight_array(layer.bias))], name)
    return activation_nodes(graph, layer.activation, y, name, layer)


def convert_identity(graph, layer, x, name):
    """Dropout and DropConnect: the identity in eval mode, so no node at all."""
    return x.name


# ----------------------------------------------------------------------------- blocks and containers


def convert_squeeze_excite(graph, block, x, name):
    squeezed = Value(graph.add("GlobalAveragePool", [x.name], f"{name}/squeeze"), (1, 1, block.channels))
    scale = convert_children(graph, [block.reduce, block.expand], squeezed, name)      # (N, C, 1, 1)
    return graph.add("Mul", [x.name, scale.name], name)


def convert_mbconv(graph, block, x, name):
    h = convert_children(graph, [block.expand_conv, block.expand_bn, block.expand_activation, block.dwconv,
                                 block.bn, block.activation, block.se, block.project_conv, block.project_bn],
                         x, name)
    if not block.has_skip:
        return h.name
    return graph.add("Add", [h.name, x.name], f"{name}/residual")       # drop-connect: identity in eval mode


def convert_residual(graph, block, x, name):
    body = convert(graph, block.body, x, f"{name}/{block.body.name}")
    return graph.add("Add", [x.name, body.name], name)


def convert_sequential(graph, model, x, name):
    return convert_children(graph, model.layers, x, name).name


def convert_ensemble(graph, ensemble, x, name):
    """z = (1/K) sum_k z_k, added left to right as nn.containers.mean_of does."""
    logits = [convert(graph, member, x, f"{name}/{member.name}") for member in ensemble.members]
    total = logits[0].name
    for member_logits in logits[1:]:
        total = graph.add("Add", [total, member_logits.name], f"{name}/sum")
    return graph.add("Mul", [total, graph.constant(1.0 / len(logits))], name)


#: exact class -> the function that adds its nodes (a subclass may compute something else, so it
#: is refused rather than exported as its parent)
CONVERTERS = {
    nn.Sequential: convert_sequential, nn.Ensemble: convert_ensemble,
    nn.Conv2D: convert_conv2d, nn.DepthwiseConv2D: convert_depthwise, nn.PointwiseConv2D: convert_pointwise,
    nn.SeparableConv2D: convert_separable, nn.BatchNorm2D: convert_batch_norm,
    nn.ReLU: convert_activation_layer, nn.ReLU6: convert_activation_layer, nn.Swish: convert_activation_layer,
    nn.Sigmoid: convert_activation_layer, nn.Tanh: convert_activation_layer,
    nn.MaxPool2D: convert_max_pool, nn.AvgPool2D: convert_avg_pool, nn.GlobalAveragePooling2D: convert_global_avg_pool,
    nn.Flatten: convert_flatten, nn.Dense: convert_dense, nn.Dropout: convert_identity,
    nn.DropConnect: convert_identity, nn.SqueezeExcite: convert_squeeze_excite, nn.MBConv: convert_mbconv,
    nn.Residual: convert_residual,
}
