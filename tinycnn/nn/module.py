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

Names follow Keras: an unnamed layer is named after its type (``conv2d``, ``conv2d_1``, ...),
counted per model by ``assign_names`` (naming.py; so two models both start at ``conv2d``); a
child of a block is named after the block: ``block2a_dwconv``.  Containers are in ``containers.py``.

Constructor arguments are checked when the layer is made (``Conv2D(3, 3.7, 3)`` is refused,
naming the layer and the argument), and no weight of more than 2^31 values is allocated.
"""

import contextlib
import os
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from ..files import NpzArchive, array_layout, atomic_savez
from ..kernels.arguments import as_count, check_array_size
from ..tensor import Tensor, no_grad
from . import init as initializers
from .naming import to_snake_case


def _stored_array(module, key, is_parameter):
    """The ndarray behind a parameter (its ``.data``) or a buffer of ``module``."""
    return module._parameters[key].data if is_parameter else module._buffers[key]


def _fmt_shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def checked_state_arrays(state, targets, owner, strict):
    """The arrays of ``state`` to copy into ``targets`` (see ``Module.load_state_dict``), each
    checked and converted to its target's dtype; raises, naming the key, before anything is copied."""
    if not isinstance(state, Mapping):
        raise TypeError(f"{owner}: expected a mapping of names to arrays (a state_dict), "
                        f"got {type(state).__name__}")
    missing = [k for k in targets if k not in state]
    unexpected = [k for k in state if k not in targets]
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append("missing key(s): " + ", ".join(repr(k) for k in missing))
        if unexpected:
            parts.append("unexpected key(s): " + ", ".join(repr(k) for k in unexpected))
        raise KeyError(f"{owner}: " + "; ".join(parts))
    arrays = {}
    for key, (mod, attr, is_param) in targets.items():
        if key not in state:
            continue
        current = _stored_array(mod, attr, is_param)
        value = state[key]
        value = np.asarray(value.data if isinstance(value, Tensor) else value)
        if value.shape != current.shape:
            raise ValueError(f"{owner}: shape mismatch for {key!r}: "
                             f"expected {_fmt_shape(current.shape)}, got {_fmt_shape(value.shape)}")
        if value.dtype.kind not in "fiu":
            raise ValueError(f"{owner}: {key!r} must hold real numbers, got dtype {value.dtype}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{owner}: {key!r} contains NaN or inf")
        arrays[key] = value.astype(current.dtype)
    return arrays


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
        check_array_size(shape, f"weight {name!r}", self.constructor_label())
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

    def constructor_label(self):
        """How errors in ``__init__`` name this module: ``Conv2D 'conv1'`` when it was given a
        name, else ``Conv2D`` (an automatic name comes later, from its container)."""
        return type(self).__name__ + ("" if self._name is None else f" '{self._name}'")

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

    def _named_unique(self, store, prefix):
        """(dotted name, value) from every module's ``store`` (parameters or buffers), each once."""
        out, seen = [], set()
        for mod_name, mod in self.named_modules(prefix):
            for key, value in getattr(mod, store).items():
                if id(value) not in seen:
                    seen.add(id(value))
                    out.append((f"{mod_name}.{key}" if mod_name else key, value))
        return out

    def named_parameters(self, prefix=""):
        return self._named_unique("_parameters", prefix)

    def parameters(self):
        """Trainable Tensors, each once, in a fixed order (what an optimizer updates)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        return self._named_unique("_buffers", prefix)

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

    @contextlib.contextmanager
    def evaluating(self):
        """``with model.evaluating():`` eval mode inside the block; afterwards every module gets
        back the mode it had before (the one place where modes are saved and restored)."""
        saved = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            yield self
        finally:
            for m, mode in saved:
                object.__setattr__(m, "training", mode)

    def predict(self, x, batch_size=256):
        """Outputs for the array ``x`` (N, ...) in eval mode, in batches, without a graph:
        an ndarray (N, ...), as Keras's ``model.predict``.  The modes are restored after."""
        batch_size = as_count(batch_size, "batch_size", f"{self.describe()}.predict")
        starts = range(0, max(len(x), 1), batch_size)       # an empty x: one empty batch
        with self.evaluating(), no_grad():
            return np.concatenate([self(Tensor(x[start:start + batch_size])).data for start in starts])

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

    # ------------------------------------------------------------------ counting
    def count_params(self):
        """Keras's count: trainable (parameters) + non-trainable (buffers)."""
        return self.param_counts()["total"]

    def param_counts(self):
        """dict(total, trainable, non_trainable, and their sizes in bytes)."""
        trainable = [p.data for p in self.parameters()]
        non_trainable = self.buffers()
        counts = {"trainable": sum(int(a.size) for a in trainable),
                  "non_trainable": sum(int(b.size) for b in non_trainable),
                  "trainable_bytes": sum(int(a.nbytes) for a in trainable),
                  "non_trainable_bytes": sum(int(b.nbytes) for b in non_trainable)}
        counts["total"] = counts["trainable"] + counts["non_trainable"]
        counts["total_bytes"] = counts["trainable_bytes"] + counts["non_trainable_bytes"]
        return counts

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """Ordered dict dotted-name -> ndarray copy, parameters and buffers of every module."""
        return OrderedDict((key, np.array(_stored_array(mod, attr, is_param), copy=True))
                           for key, (mod, attr, is_param) in self._state_targets().items())

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

        Every check runs before anything is copied, so a failed load changes nothing:
        with strict=True, a key missing from ``state`` or a key this model does not have
        raises KeyError naming it; a value of the wrong shape, a value that is not real
        numbers, or one holding NaN or inf raises ValueError naming the key, the expected
        and the given value.  Each parameter written counts as an in-place change (its
        version goes up), so a graph built before the load refuses to backpropagate.
        """
        targets = self._state_targets()
        owner = "load_state_dict into " + type(self).__name__ + (f" '{self.name}'" if self._name else "")
        arrays = checked_state_arrays(state, targets, owner, strict)
        for key, value in arrays.items():
            mod, attr, is_param = targets[key]
            np.copyto(_stored_array(mod, attr, is_param), value)
            if is_param:
                mod._parameters[attr].bump_version()
        return self

    def save(self, path):
        """Write state_dict() to an .npz file atomically (temp file + os.replace)."""
        return atomic_savez(path, self.state_dict())

    def load(self, path, strict=True):
        """Load weights written by ``save``.  Every array's header (name, shape, dtype) is checked
        against this module's weights before any data is read (``files.NpzArchive``), so a
        damaged, foreign or oversized file is refused in one line naming it."""
        expected = array_layout(self.state_dict())
        with NpzArchive(path, "weights file") as archive:
            if not strict:
                expected = {k: v for k, v in expected.items() if k in archive.members}
            state = archive.read_arrays(expected, also=() if strict else archive.names)
        return self.load_state_dict(state, strict=strict)

    # ------------------------------------------------------------------ running
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def __call__(self, x):
        return self.forward(x)

    # ------------------------------------------------------------------ shapes and cost
    def output_shape(self, input_shape):
        """Output shape (batch axis excluded) for this input shape, computed without data."""
        raise NotImplementedError(f"{type(self).__name__} does not implement output_shape")

    def macs(self, input_shape):
        """Multiply-accumulates of one forward pass on one example (convs and dense only)."""
        return 0

    def summary_layers(self, input_shape):
        """[(child, input_shape, output_shape)]: the rows under this module in an expanded
        summary; by default its children, run one after the other (as in MBConv)."""
        rows, shape = [], tuple(input_shape)
        for _, child in self.named_children():
            out = tuple(child.output_shape(shape))
            rows.append((child, shape, out))
            shape = out
        return rows

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
        extra = self.extra_repr()
        head = f"{type(self).__name__}(name={self.name!r}" + (", " + extra if extra else "")
        kids = self.named_children()
        if not kids:
            return head + ")"
        lines = [head + ", ["] + ["  " + line for key, child in kids for line in f"{key}: {child!r}".splitlines()]
        return "\n".join(lines + ["])"])
