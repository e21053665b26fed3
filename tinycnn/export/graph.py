"""The ONNX graph being built: its values (``Value``) and its nodes and weights (``GraphBuilder``)."""

import numpy as np

from ..tensor import Tensor

#: protobuf cannot write a message of 2 GiB or more (ONNX's "external data" would be needed)
MAX_WEIGHT_BYTES = 2**31 - 2**24


class Value:
    """A value of the graph: its ONNX name and tinycnn's shape of one image, (H, W, C) or (F,).

    A value with an (H, W, C) shape is stored NCHW in the graph, as ONNX's ops want it."""

    def __init__(self, name, shape):
        self.name, self.shape = name, tuple(shape)


class GraphBuilder:
    """The nodes and weights (initializers) of the graph being built, with unique names."""

    def __init__(self, onnx, reserved=()):
        """``reserved``: names given by the caller (the graph's input and output), never generated."""
        self.helper, self.numpy_helper = onnx.helper, onnx.numpy_helper
        self.nodes, self.initializers, self.used = [], [], set(reserved)
        self.constants = {}
        self.weight_bytes = 0

    def unique(self, name):
        """``name``, or ``name_1``, ``name_2`` ... if it is taken."""
        candidate, k = name, 0
        while candidate in self.used:
            k += 1
            candidate = f"{name}_{k}"
        self.used.add(candidate)
        return candidate

    def weight(self, name, array):
        """Add a float32 constant (a weight) and return its name."""
        array = np.ascontiguousarray(array, dtype=np.float32)
        name = self.unique(name)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        self.weight_bytes += array.nbytes
        return name

    def constant(self, value):
        """A float32 scalar, one initializer shared by every node that needs it (Clip's 0 and 6)."""
        if value not in self.constants:
            self.constants[value] = self.weight(f"constant_{value:g}", np.float32(value))
        return self.constants[value]

    def add(self, op, inputs, name, output=None, **attributes):
        """Add one node ``op`` and return the name of its output (``output``: a reserved name)."""
        output = output or self.unique(name)
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=self.unique(f"{name}/{op}"),
                                                **attributes))
        return output

    def check_size(self, model):
        if self.weight_bytes > MAX_WEIGHT_BYTES:
            raise ValueError(f"to_onnx: {model.describe()} has {self.weight_bytes:,} bytes of weights; an ONNX "
                             f"file holds at most {MAX_WEIGHT_BYTES:,} (protobuf's 2 GiB limit)")


def weight_array(weight):
    """The NumPy array of a parameter (a Tensor) or a buffer (an array)."""
    return weight.data if isinstance(weight, Tensor) else np.asarray(weight)
