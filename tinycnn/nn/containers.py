"""Containers: modules made of whole networks or layers, run one after the other or side by side.

``Sequential``: layers applied one after the other (every model in ``tinycnn.models`` is one).

``Ensemble``: a deep ensemble, K networks of one architecture trained from different random
starts::

    ensemble = Ensemble([pneumonia_net(seed=0), pneumonia_net(seed=1000), pneumonia_net(seed=2000)])
    logits = ensemble(x)            # (N, classes): the mean of the members' logits

Forward (member k maps the batch x to logits z_k, shape N x classes)::

    z = (1 / K) sum_k z_k

Backward: dL/dz_k = (1 / K) dL/dz for every member (the autograd's add and scale ops do it).
Output shape: the members' output shape, (classes,) per image.

Why an ensemble: members that start from different random weights and see the data in a
different order make partly different mistakes, and averaging them cancels part of those
mistakes. Under a shift between training and test data, ensembles are the most reliable of
the simple remedies (Lakshminarayanan et al. 2017; Ovadia et al. 2019, "Can you trust your
model's uncertainty?"). The price is K times the training and inference time.

We average *logits* rather than probabilities, so the ensemble is again a model with one
logit per class: temperature scaling, thresholds and Grad-CAM treat it like any network.

What Grad-CAM, summaries and training need from a container is a method of it:
``split_forward(x, index)`` (the cut Grad-CAM makes), ``layer_shapes`` / ``summary_layers``
(shapes without data) and ``members`` (the networks whose logits are averaged).

Fusion: a BatchNorm2D directly followed by a ReLU, ReLU6 or Swish layer runs as one op,
``F.batch_norm_activation`` (the same numbers, one pass over memory instead of two; see
``fusable_pairs``).  The layers stay two layers: names, summaries and weights do not change.
"""

from .. import functional as F
from ..tensor import Tensor, enable_grad, no_grad
from .layers import BatchNorm2D
from .module import Module
from .naming import assign_names
from .parameter_free import ReLU, ReLU6, Swish

#: The activation layers a BatchNorm2D hands its output to inside one fused op.  Exact
#: classes, not subclasses: a subclass may change what its forward does.
FUSABLE_AFTER_BATCH_NORM = (ReLU, ReLU6, Swish)


def fuses_with(layer, next_layer):
    """True when ``layer`` is a BatchNorm2D and ``next_layer`` a ReLU, ReLU6 or Swish."""
    return type(layer) is BatchNorm2D and type(next_layer) in FUSABLE_AFTER_BATCH_NORM


def fusable_pairs(layers):
    """The indices i at which layers[i] (a batch norm) and layers[i + 1] (its activation)
    run as one fused op."""
    return [i for i in range(len(layers) - 1) if fuses_with(layers[i], layers[i + 1])]


def batch_norm_then_activation(batch_norm, activation, x):
    """activation(batch_norm(x)) computed as one op: the batch norm layer's checks, then
    ``F.batch_norm_activation`` with its weights, mode, momentum and epsilon."""
    batch_norm.check_input(x)
    return F.batch_norm_activation(x, batch_norm.gamma, batch_norm.beta, batch_norm.moving_mean,
                                   batch_norm.moving_variance, batch_norm.training, activation.activation,
                                   momentum=batch_norm.momentum, eps=batch_norm.epsilon)


def run_pair(batch_norm, activation, x):
    """activation(batch_norm(x)): one fused op when ``fuses_with(batch_norm, activation)``,
    else the two layers one after the other (a subclass or another activation runs as itself)."""
    if fuses_with(batch_norm, activation):
        return batch_norm_then_activation(batch_norm, activation, x)
    return activation(batch_norm(x))


def run_layers(layers, x):
    """Apply ``layers`` one after the other, each pair of ``fusable_pairs`` as one fused op."""
    fused = set(fusable_pairs(layers))
    i = 0
    while i < len(layers):
        if i in fused:
            x = run_pair(layers[i], layers[i + 1], x)
            i += 2
        else:
            x = layers[i](x)
            i += 1
    return x


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
        return run_layers(self._layers, x)

    def split_forward(self, x, index):
        """Cut the model after top-level layer ``index``: returns ([A], logits).

        ``layers[0..index]`` run under ``no_grad()`` (nothing before the cut needs a gradient);
        their output becomes a fresh leaf ``A = Tensor(a, requires_grad=True)``, the start of
        the graph; ``layers[index+1:]`` run from A with the graph recorded, so
        ``tc.grad(logits, [A])`` gives d logits / dA without touching any parameter's
        ``.grad``.  These are Grad-CAM's steps 1 and 2 (``tinycnn.cam``).  A batch norm and
        its activation on the two sides of the cut run as two ops: A is the batch norm's output.
        """
        with no_grad():
            h = run_layers(self._layers[:index + 1], x if isinstance(x, Tensor) else Tensor(x))
        A = Tensor(h.data, requires_grad=True)
        with enable_grad():
            out = run_layers(self._layers[index + 1:], A)
        return [A], out

    @property
    def members(self):
        """``[self]``: one network, so code written for an ``Ensemble`` handles it too."""
        return [self]

    def summary_layers(self, input_shape=None):
        """The rows of a summary: [(layer, input_shape, output_shape)], one per top-level layer."""
        return self.layer_shapes(input_shape)

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


class Ensemble(Module):
    """Mean of the logits of ``members`` (a list of models with equal input and output shapes).

    The members become children called ``member0``, ``member1``, ... (their names are set to
    that too, so a summary tells them apart); ``state_dict`` keys are
    ``member0.<layer>.<weight>`` and so on.
    """

    is_container = True      # its children are whole networks: a summary lists them

    def __init__(self, members, name="ensemble"):
        super().__init__(name=name)
        members = list(members)
        if not members:
            raise ValueError("Ensemble: expected at least one member model, got none")
        for k, member in enumerate(members):
            if not isinstance(member, Module):
                raise TypeError(f"Ensemble: member {k} must be a Module, got {type(member).__name__}")
            member.name = f"member{k}"
            setattr(self, f"member{k}", member)
        first = members[0]
        self.input_shape = getattr(first, "input_shape", None)
        if self.input_shape is not None:
            expected = first.output_shape(self.input_shape)
            for k, member in enumerate(members[1:], 1):
                got = member.output_shape(self.input_shape)
                if got != expected:
                    raise ValueError(f"Ensemble: member {k} outputs {got} for input {self.input_shape}, "
                                     f"member 0 outputs {expected}; members must agree")

    @property
    def members(self):
        """The member models, in order."""
        return self.children()

    def __len__(self):
        return len(self.members)

    def forward(self, x):
        return mean_of([member(x) for member in self.members])

    def split_forward(self, x, index):
        """Every member cut after its top-level layer ``index``: ([A_1, ..., A_K], z).

        A_k is member k's activation as a leaf of the graph (see ``Sequential.split_forward``)
        and z = (1/K) sum_k z_k is built from them as ``forward`` builds it, so
        ``tc.grad(z, [A_1, ..., A_K])`` gives every dz/dA_k = (1/K) dz_k/dA_k at once.
        """
        activations, logits = [], []
        for member in self.members:
            (A,), z = member.split_forward(x, index)
            activations.append(A)
            logits.append(z)
        with enable_grad():
            return activations, mean_of(logits)

    def layer_shapes(self, input_shape=None):
        """Member 0's [(layer, input_shape, output_shape)]: the members share one architecture."""
        return self.members[0].layer_shapes(input_shape if input_shape is not None else self.input_shape)

    def summary_layers(self, input_shape=None):
        """The rows of a summary: one per member, like nested Keras models."""
        shape = tuple(input_shape if input_shape is not None else self.input_shape)
        return [(member, shape, member.output_shape(shape)) for member in self.members]

    def output_shape(self, input_shape=None):
        return self.members[0].output_shape(input_shape if input_shape is not None else self.input_shape)

    def macs(self, input_shape=None):
        """Multiply-accumulates of one forward pass: the members' sum."""
        shape = input_shape if input_shape is not None else self.input_shape
        return sum(member.macs(shape) for member in self.members)


def mean_of(outputs):
    """(1/K) sum_k outputs_k, summed left to right: the ensemble's logit."""
    total = outputs[0]
    for output in outputs[1:]:
        total = total + output
    return total * (1.0 / len(outputs))
