"""Module: the thing every layer, block and model is.

A module owns

* parameters: trainable ``Tensor`` s (``requires_grad=True``), e.g. a kernel and a bias,
* buffers: plain ndarrays that are part of the state but not trained, e.g. batch norm's
  moving mean and variance (Keras counts these as "non-trainable params"),
* children: other modules, in the order they were assigned.

Everything else (counting parameters, ``state_dict``, ``train()`` / ``eval()``, names)
walks that tree.  ``output_shape(input_shape)`` infers shapes without computing anything;
``input_shape`` never includes the batch axis: (H, W, C) for images, (features,) after
Flatten / global pooling.

Names follow Keras: a layer built without a name gets one from its type, ``conv2d``,
``conv2d_1``, ``max_pooling2d``, ... .  The counter lives in the model being built
(``assign_names`` runs when a Sequential is made or grows), so two models built in the
same session both start at ``conv2d``.  A child of a block (say the depthwise conv of an
MBConv called ``block2a``) is named after the block: ``block2a_dwconv``.
"""

import os
import re
from collections import OrderedDict

import numpy as np

from ..files import atomic_savez
from ..tensor import Tensor
from . import init as initializers


def to_snake_case(name):
    """Keras's rule: 'MaxPooling2D' -> 'max_pooling2d', 'ReLU' -> 're_lu'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def _fmt_shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


class RemovableHandle:
    """Returned by register_forward_hook; call ``remove()`` to take the hook off again."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        self._hooks.pop(self._key, None)


class Module:
    """Base class of layers, blocks and models.

    Subclasses create weights with ``add_weight`` in ``__init__``, assign child modules as
    attributes, and implement ``forward(x)`` and ``output_shape(input_shape)``.
    """

    #: the type shown in summaries (Keras's class name where ours differs), default: class name
    keras_type = None
    #: True for containers whose children are layers in their own right (Sequential): their
    #: children get model-wide names; children of other modules are named after their parent.
    is_container = False

    def __init__(self, name=None):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_hook_counter", 0)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {name!r}")
        self._name = name
        self._auto_name = name is None
        self.training = True

    # ------------------------------------------------------------------ registration
    def __setattr__(self, key, value):
        modules = self.__dict__.get("_modules")
        if modules is None:
            raise RuntimeError(f"{type(self).__name__}: call Module.__init__ before assigning attributes")
        if isinstance(value, Module):
            modules[key] = value
        elif key in modules:
            # e.g. self.expand_conv = None: the child is gone
            del modules[key]
        params = self.__dict__["_parameters"]
        if key in params:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{self.describe()}: parameter {key!r} must be a Tensor")
            if value is None:
                del params[key]
            else:
                params[key] = value
        buffers = self.__dict__["_buffers"]
        if key in buffers:
            if value is None:
                del buffers[key]
            else:
                value = np.asarray(value, dtype=buffers[key].dtype)   # the attribute IS the buffer
                buffers[key] = value
        object.__setattr__(self, key, value)

    def add_weight(self, name, shape, initializer="zeros", rng=None, trainable=True,
                   dtype=np.float32):
        """Create a weight, register it, set it as attribute ``name`` and return it.

        Trainable weights become Tensors with requires_grad=True (parameters); others
        become plain float arrays (buffers), like batch norm's moving statistics.
        """
        shape = tuple(int(s) for s in shape)
        value = initializers.get(initializer)(shape, initializers.as_generator(rng), dtype)
        value = np.ascontiguousarray(value, dtype=dtype)
        if trainable:
            weight = Tensor(value, requires_grad=True)
            self._parameters[name] = weight
        else:
            weight = value
            self._buffers[name] = weight
        object.__setattr__(self, name, weight)
        return weight

    def register_buffer(self, name, array):
        array = np.asarray(array)
        self._buffers[name] = array
        object.__setattr__(self, name, array)
        return array

    # ------------------------------------------------------------------ names
    @property
    def name(self):
        if self._name is None:
            return to_snake_case(self.type_name)
        return self._name

    @name.setter
    def name(self, value):
        self._name = value
        self._auto_name = value is None

    @property
    def type_name(self):
        return self.keras_type or type(self).__name__

    def describe(self):
        """``Conv2D 'conv2d_3'``: how error messages name this module."""
        return f"{self.type_name} '{self.name}'"

    # ------------------------------------------------------------------ tree walking
    def named_children(self):
        """(key, child) pairs; the key is what dotted parameter names use."""
        return list(self._modules.items())

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and every descendant, depth first."""
        out = [(prefix, self)]
        for key, child in self.named_children():
            out.extend(child.named_modules(f"{prefix}.{key}" if prefix else key))
        return out

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix=""):
        out, seen = [], set()
        for mod_name, mod in self.named_modules(prefix):
            for key, p in mod._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append((f"{mod_name}.{key}" if mod_name else key, p))
        return out

    def parameters(self):
        """Trainable Tensors, each once, in a fixed order (what an optimizer updates)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        out, seen = [], set()
        for mod_name, mod in self.named_modules(prefix):
            for key, b in mod._buffers.items():
                if id(b) not in seen:
                    seen.add(id(b))
                    out.append((f"{mod_name}.{key}" if mod_name else key, b))
        return out

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    # ------------------------------------------------------------------ modes
    def train(self, mode=True):
        """Training mode: batch norm uses batch statistics, dropout drops."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Inference mode: batch norm uses its moving statistics, dropout is the identity."""
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def astype(self, dtype):
        """Convert every parameter and buffer to ``dtype`` (float64 for gradient checks)."""
        dtype = np.dtype(dtype)
        for m in self.modules():
            for key, p in list(m._parameters.items()):
                p.data = np.ascontiguousarray(p.data, dtype=dtype)
                p.grad = None
            for key, b in list(m._buffers.items()):
                new = np.ascontiguousarray(b, dtype=dtype)
                m._buffers[key] = new
                object.__setattr__(m, key, new)
        return self

    def double(self):
        return self.astype(np.float64)

    def float(self):
        return self.astype(np.float32)

    # ------------------------------------------------------------------ counting
    def count_params(self):
        """Keras's count: trainable (parameters) + non-trainable (buffers)."""
        trainable = sum(int(p.data.size) for p in self.parameters())
        non_trainable = sum(int(b.size) for b in self.buffers())
        return trainable + non_trainable

    def param_counts(self):
        """dict(total, trainable, non_trainable, and their sizes in bytes)."""
        params, bufs = self.parameters(), self.buffers()
        trainable = sum(int(p.data.size) for p in params)
        non_trainable = sum(int(b.size) for b in bufs)
        trainable_bytes = sum(int(p.data.nbytes) for p in params)
        non_trainable_bytes = sum(int(b.nbytes) for b in bufs)
        return {
            "total": trainable + non_trainable,
            "trainable": trainable,
            "non_trainable": non_trainable,
            "total_bytes": trainable_bytes + non_trainable_bytes,
            "trainable_bytes": trainable_bytes,
            "non_trainable_bytes": non_trainable_bytes,
        }

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """Ordered dict dotted-name -> ndarray copy, parameters and buffers of every module."""
        out = OrderedDict()
        for mod_name, mod in self.named_modules():
            for key, p in mod._parameters.items():
                out[f"{mod_name}.{key}" if mod_name else key] = np.array(p.data, copy=True)
            for key, b in mod._buffers.items():
                out[f"{mod_name}.{key}" if mod_name else key] = np.array(b, copy=True)
        return out

    def _state_targets(self):
        """dotted name -> (module, key, is_parameter)."""
        out = OrderedDict()
        for mod_name, mod in self.named_modules():
            for key in mod._parameters:
                out[f"{mod_name}.{key}" if mod_name else key] = (mod, key, True)
            for key in mod._buffers:
                out[f"{mod_name}.{key}" if mod_name else key] = (mod, key, False)
        return out

    def load_state_dict(self, state, strict=True):
        """Copy arrays from ``state`` into this module's parameters and buffers, in place.

        Every check runs before anything is copied, so a failed load changes nothing.
        With strict=True, a key missing from ``state`` or a key this model does not have
        raises KeyError naming it; a shape mismatch always raises ValueError with the
        expected and the given shape.
        """
        targets = self._state_targets()
        owner = type(self).__name__ + (f" '{self.name}'" if self._name else "")
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing key(s): " + ", ".join(repr(k) for k in missing))
            if unexpected:
                parts.append("unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
            raise KeyError(f"load_state_dict into {owner}: " + "; ".join(parts))
        for key, (mod, attr, is_param) in targets.items():
            if key not in state:
                continue
            current = mod._parameters[attr].data if is_param else mod._buffers[attr]
            value = np.asarray(state[key])
            if value.shape != current.shape:
                raise ValueError(f"load_state_dict into {owner}: shape mismatch for {key!r}: "
                                 f"expected {_fmt_shape(current.shape)}, got {_fmt_shape(value.shape)}")
        for key, (mod, attr, is_param) in targets.items():
            if key not in state:
                continue
            current = mod._parameters[attr].data if is_param else mod._buffers[attr]
            np.copyto(current, np.asarray(state[key]), casting="unsafe")
        return self

    def save(self, path):
        """Write state_dict() to an .npz file atomically (temp file + os.replace)."""
        return atomic_savez(path, self.state_dict())

    def load(self, path, strict=True):
        """Load weights written by ``save``."""
        with np.load(os.fspath(path), allow_pickle=False) as data:
            state = {k: data[k] for k in data.files}
        return self.load_state_dict(state, strict=strict)

    # ------------------------------------------------------------------ running
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def __call__(self, x):
        y = self.forward(x)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, x, y)
            if result is not None:
                y = result
        return y

    def register_forward_hook(self, hook):
        """``hook(module, input, output)`` runs after every forward; it may return a new
        output (e.g. to record a layer's activation; ``tinycnn.gradcam`` cuts the model in
        two instead and needs no hook)."""
        key = self._hook_counter
        object.__setattr__(self, "_hook_counter", key + 1)
        self._forward_hooks[key] = hook
        return RemovableHandle(self._forward_hooks, key)

    # ------------------------------------------------------------------ shapes and cost
    def output_shape(self, input_shape):
        """Output shape (batch axis excluded) for this input shape, computed without data."""
        raise NotImplementedError(f"{type(self).__name__} does not implement output_shape")

    def macs(self, input_shape):
        """Multiply-accumulates of one forward pass on one example (convs and dense only)."""
        return 0

    def _expect_rank(self, input_shape, rank, what="(H, W, C)"):
        if len(input_shape) != rank:
            raise ValueError(f"{self.describe()}: expected input of shape {what} "
                             f"(batch axis excluded), got {_fmt_shape(input_shape)}")

    def _expect_channels(self, got, expected):
        if got != expected:
            raise ValueError(f"{self.describe()}: expected input with {expected} channels, got {got}")

    def _check_input(self, x, rank, channels=None, what="(N, H, W, C)"):
        """Runtime check of a Tensor input (batch axis included)."""
        if x.ndim != rank:
            raise ValueError(f"{self.describe()}: expected a {rank}-d input {what}, "
                             f"got shape {_fmt_shape(x.shape)}")
        if channels is not None:
            self._expect_channels(x.shape[-1], channels)

    # ------------------------------------------------------------------ printing
    def extra_repr(self):
        return ""

    def __repr__(self):
        head = f"{type(self).__name__}(name={self.name!r}"
        extra = self.extra_repr()
        head += (", " + extra if extra else "") + ")"
        kids = self.named_children()
        if not kids:
            return head
        lines = [head[:-1] + ", ["]
        for key, child in kids:
            lines.extend("  " + line for line in f"{key}: {child!r}".splitlines())
        lines.append("])")
        return "\n".join(lines)


def assign_names(root):
    """Give every auto-named module below ``root`` a Keras-style name, per model.

    Layers directly inside containers (Sequential) count per type: conv2d, conv2d_1, ...;
    explicit names are kept and skipped by the counter.  Children of a block are named
    ``<block name>_<attribute>``.  Raises if two layers of one container share a name.
    """
    taken = set()

    def collect(mod):
        for _, child in mod._modules.items():
            if mod.is_container and not child._auto_name:
                taken.add(child._name)
            collect(child)

    collect(root)
    counts = {}

    def fresh(base):
        while True:
            n = counts.get(base, 0)
            counts[base] = n + 1
            candidate = base if n == 0 else f"{base}_{n}"
            if candidate not in taken:
                taken.add(candidate)
                return candidate

    def visit(mod):
        for key, child in mod._modules.items():
            if child._auto_name:
                if mod.is_container:
                    child._name = fresh(to_snake_case(child.type_name))
                else:
                    child._name = f"{mod.name}_{key}"
            visit(child)

    visit(root)


class Sequential(Module):
    """Layers applied one after the other; also the class of every model in tinycnn.models.

    ``model.layers`` is the ordered list of its layers / blocks.  Parameter names use the
    layer names: ``conv2d_1.kernel``.  ``input_shape`` (batch axis excluded) is optional; the
    models set it so ``summary(model)`` and ``last_spatial_layer()`` need no argument.
    """

    is_container = True

    def __init__(self, layers=None, name=None, input_shape=None):
        super().__init__(name)
        object.__setattr__(self, "_layers", [])
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        for layer in (layers or []):
            self._append(layer)
        self._rename()

    # -- building
    def _append(self, layer):
        if not isinstance(layer, Module):
            raise TypeError(f"{self.describe()}: can only hold Modules, got {type(layer).__name__}")
        self._layers.append(layer)
        self._modules[str(len(self._layers) - 1)] = layer

    def _rename(self):
        assign_names(self)
        names = [layer.name for layer in self._layers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"{self.describe()}: layer names must be unique, repeated: {dupes}")

    def add(self, layer):
        self._append(layer)
        self._rename()
        return self

    @property
    def layers(self):
        return list(self._layers)

    def __len__(self):
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def __getitem__(self, index):
        if isinstance(index, slice):
            part = Sequential(name=self.name)      # no renaming: the layers keep their names
            for layer in self._layers[index]:
                part._append(layer)
            return part
        return self._layers[index]

    def named_children(self):
        return [(layer.name, layer) for layer in self._layers]

    def get_layer(self, name):
        """Find a layer (at any depth) by name, as Keras's model.get_layer."""
        for _, mod in self.named_modules():
            if mod is not self and mod.name == name:
                return mod
        raise ValueError(f"{self.describe()}: no layer named {name!r}; layers: "
                         + ", ".join(layer.name for layer in self._layers))

    def index(self, layer):
        """Position of ``layer`` (a module or a name) in ``layers``."""
        if isinstance(layer, str):
            layer = self.get_layer(layer)
        for i, candidate in enumerate(self._layers):
            if candidate is layer:
                return i
        raise ValueError(f"{self.describe()}: {layer.describe()} is not one of its top-level layers")

    # -- running
    def forward(self, x):
        for layer in self._layers:
            x = layer(x)
        return x

    def forward_split(self, x, layer):
        """Run the model, cutting the graph after ``layer`` (a top-level layer or its name).

        Returns ``(activation, output)``: ``activation`` is the layer's output as a fresh
        leaf Tensor with requires_grad=True, and ``output`` was computed from it, so after
        ``output[...].sum().backward()`` the gradient d output / d activation is in
        ``activation.grad``.  (Layers before the cut get no gradient.)  ``tinycnn.gradcam``
        makes the same cut in two steps, running the layers before it under ``no_grad()``.
        """
        i = self.index(layer)
        for lay in self._layers[:i + 1]:
            x = lay(x)
        activation = Tensor(x.data, requires_grad=True)
        y = activation
        for lay in self._layers[i + 1:]:
            y = lay(y)
        return activation, y

    # -- shapes
    def _resolve_input_shape(self, input_shape):
        if input_shape is None:
            input_shape = self.input_shape
        if input_shape is None:
            raise ValueError(f"{self.describe()}: no input_shape given and the model has none")
        return tuple(int(s) for s in input_shape)

    def layer_shapes(self, input_shape=None):
        """[(layer, input_shape, output_shape)] for each top-level layer, without computing."""
        shape = self._resolve_input_shape(input_shape)
        out = []
        for layer in self._layers:
            new = tuple(layer.output_shape(shape))
            out.append((layer, shape, new))
            shape = new
        return out

    def output_shape(self, input_shape=None):
        shape = self._resolve_input_shape(input_shape)
        for layer in self._layers:
            shape = tuple(layer.output_shape(shape))
        return shape

    def macs(self, input_shape=None):
        return sum(layer.macs(shape_in) for layer, shape_in, _ in self.layer_shapes(input_shape))

    def spatial_layers(self, input_shape=None):
        """Top-level layers whose output is a feature map (H, W, C), in order."""
        return [layer for layer, _, out in self.layer_shapes(input_shape) if len(out) == 3]

    def last_spatial_layer(self, input_shape=None):
        """The last top-level layer with a spatial (H, W, C) output: Grad-CAM's default."""
        layers = self.spatial_layers(input_shape)
        if not layers:
            raise ValueError(f"{self.describe()}: no layer has a spatial output")
        return layers[-1]

    def extra_repr(self):
        return f"input_shape={self.input_shape}" if self.input_shape else ""
