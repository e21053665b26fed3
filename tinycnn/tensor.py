"""The autograd: a Tensor remembers the op that made it, and backward() walks that graph.

How it works, in four sentences:

1. A ``Tensor`` holds an ndarray ``data`` and, after ``backward()``, its gradient ``grad``.
2. Every differentiable op is a subclass of ``Function`` with ``forward(ctx, *arrays)``
   and ``backward(ctx, grad_out)`` side by side; ``Function.apply`` runs ``forward`` and,
   when gradients are wanted, records a ``Node`` (op, ctx, input tensors) on the output.
3. ``backward()`` sorts the recorded graph topologically (iteratively, so a 500-layer
   chain does not hit Python's recursion limit) and visits it from the output to the
   inputs, calling each op's ``backward`` and *adding* (``+``) what it returns to its
   inputs' gradients, so a tensor used twice (fan-out, a residual skip) gets both parts.
   That walk, and the checks made on the way, are in ``graph.py``.
4. Broadcasting is undone in exactly one place, ``graph.unbroadcast``, when a gradient
   reaches an input that was smaller than the op's output.

The elementary ops behind the operators (``x + y`` is ``AddOp``, ``x.sum()`` is ``SumOp``)
live in ``tensor_ops.py``.  They subclass ``Function`` from here, so that module imports this
one, and this one imports it back once, as ``_ops``, on its last line (after ``Function`` is
defined); operators look their op up through ``_ops`` when they run.  One module name each
way, nothing else crosses.  This module knows no convolution (the ops on images live in
``functional/``) and loads nothing but NumPy.

Gradients are stored in ``.grad`` for leaves (tensors made by the user with
``requires_grad=True``) and for tensors on which ``retain_grad()`` was called.

In-place changes (PyTorch's contract).  backward() computes gradients from arrays that
forward saved (a conv keeps its input and its weight); if one of them changes in between,
the gradient is silently wrong.  So every Tensor counts its in-place changes (``version``),
and backward refuses with "a tensor needed for the gradient was modified in place after
the forward pass" when a tensor whose array an op saved has changed since the op ran.

* Seen by tinycnn (each bumps the version): assigning ``t.data = array`` and the augmented
  assignments ``t.data -= g``, ``t.data *= s`` (Python runs those through the ``data``
  setter too: this is how the optimizers update weights), ``Module.load_state_dict`` and
  ``Module.astype``.  A view shares its base's version: ``x.reshape``, ``x.T``, ``x[1:]``
  and ``x.detach()`` hold x's array, so a change through either counts for both.
* Not seen, so avoided: writing into the array itself (``t.data[0] = 1``,
  ``t.numpy()[...] = 0``): NumPy has no hook for it; outside a pending backward (setting
  weights up before training, as the tests do) it is fine.  Editing the ndarray a Tensor
  was made from cannot reach the Tensor: ``Tensor(arr)`` copies ``arr`` (as
  ``torch.tensor``); ``Tensor(arr, copy=False)`` shares it (as ``torch.from_numpy``) and is
  what the ops use for their fresh outputs.  Plain-array operands (``t * arr``) are copied
  when the op runs, and ops copy the plain arrays they keep (labels, running statistics).
* How it is checked: ``Context.save`` lists the arrays an op keeps; ``Function.apply``
  watches every input and the output that shares memory with one of them, with its
  version's count; ``Node`` compares before calling the op's backward (graph.py).
  Only graphs that will be differentiated pay, and little: in pneumonia_net's training step at
  batch 64 (one thread) the bookkeeping took about 0.7 ms of an 82 ms step; the median step
  was 80-83 ms without it and 82-84 ms with it, within the noise of the machine.

backward also refuses an op whose backward returns the wrong number of gradients, or a
gradient that does not sum back (unbroadcast) to its input's shape.
"""

import contextlib

import numpy as np

from .graph import (Version, backpropagate, check_saved_unchanged, grad, gradient_for_input,  # noqa: F401
                    one_gradient_per_input, topological_order, unbroadcast, watch_saved)

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Inside ``with no_grad():`` ops record nothing (evaluation, optimizer steps)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


@contextlib.contextmanager
def enable_grad():
    """Inside ``with enable_grad():`` ops record the graph again, even within ``no_grad()``
    (Grad-CAM needs a gradient while the caller may be evaluating)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, True
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


def as_float_array(data, name="Tensor", copy=False):
    """float32 array from data; float64 arrays stay float64 (gradient checks use them).

    With copy=True the result never shares memory with ``data`` (the layout is kept).
    """
    array = np.asarray(data.data if isinstance(data, Tensor) else data)
    if array.dtype == np.float64 or array.dtype == np.float32:
        return np.array(array, copy=True) if copy else array
    if array.dtype.kind in "biu" or array.dtype == np.float16:
        return array.astype(np.float32)
    raise TypeError(f"{name}: expected real numbers, got an array of dtype {array.dtype}")


class Tensor:
    """An n-dimensional array that can compute gradients of anything built from it."""

    # make `ndarray * Tensor` call Tensor.__rmul__ instead of NumPy looping over the Tensor
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, copy=True):
        """``data``: numbers, an ndarray or a Tensor.  copy=True (default): the tensor gets its own
        array; copy=False shares data's array (and, for a Tensor, its version): see the module
        docstring before editing a shared array."""
        self._data = as_float_array(data, copy=copy)
        self._version = data._version if isinstance(data, Tensor) and not copy else Version()
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = None          # the op that produced this tensor (None for leaves)
        self._retain_grad = False

    @property
    def data(self):
        """The ndarray (shared, not copied)."""
        return self._data

    @data.setter
    def data(self, value):
        """``t.data = a`` and ``t.data -= g`` change the tensor in place: its version goes up."""
        self._data = as_float_array(value)
        self._version.bump()

    @property
    def version(self):
        """How many times this tensor's array was changed in place (see the module docstring)."""
        return self._version.count

    def bump_version(self):
        """Count an in-place change tinycnn cannot see (a write into ``t.data[...]``), so that a
        graph that saved this tensor refuses to backpropagate (``Module.load_state_dict`` uses it)."""
        self._version.bump()

    # ------------------------------------------------------------------ basics
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{grad})"

    def numpy(self):
        """The underlying array (shared, not copied; writing into it is not counted as a version)."""
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python float."""
        return self.data.item()

    def detach(self):
        """The same array (and version), cut from the graph."""
        return Tensor(self, copy=False)

    def retain_grad(self):
        """Keep ``.grad`` for this intermediate tensor after backward() (otherwise only leaves keep it)."""
        self._retain_grad = True
        return self

    def zero_grad(self):
        self.grad = None

    # ------------------------------------------------------------------ backward
    def backward(self, grad=None):
        """Compute d(self)/d(every tensor this one was built from).

        ``grad`` defaults to 1 for a one-element tensor (a loss); for any other shape it
        must be given (the vector in the vector-Jacobian product).
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad (no input "
                               "had requires_grad=True, or it was made under no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward(): grad must be given for a non-scalar output "
                                   f"of shape {self.shape}")
            grad = np.ones_like(self.data)
        grad = np.asarray(grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise ValueError(f"backward(): grad has shape {grad.shape}, tensor has {self.shape}")

        for tensor, g in backpropagate(self, grad):
            if tensor._node is None or tensor._retain_grad:
                # np.array copies: a gradient may be a read-only broadcast view, or the very
                # array another input received; each .grad must be its own, writable array
                tensor.grad = np.array(g) if tensor.grad is None else tensor.grad + g

    # ------------------------------------------------------------------ operators
    def __add__(self, other):
        return _ops.AddOp.apply(self, other)

    def __radd__(self, other):
        return _ops.AddOp.apply(other, self)

    def __sub__(self, other):
        return _ops.SubOp.apply(self, other)

    def __rsub__(self, other):
        return _ops.SubOp.apply(other, self)

    def __mul__(self, other):
        return _ops.MulOp.apply(self, other)

    def __rmul__(self, other):
        return _ops.MulOp.apply(other, self)

    def __truediv__(self, other):
        return _ops.DivOp.apply(self, other)

    def __rtruediv__(self, other):
        return _ops.DivOp.apply(other, self)

    def __matmul__(self, other):
        return _ops.MatMulOp.apply(self, other)

    def __rmatmul__(self, other):
        return _ops.MatMulOp.apply(other, self)

    def __neg__(self):
        return _ops.NegOp.apply(self)

    def __pow__(self, exponent):
        return _ops.PowOp.apply(self, exponent=float(exponent))

    def __getitem__(self, index):
        return _ops.GetItemOp.apply(self, index=index)

    def sum(self, axis=None, keepdims=False):
        return _ops.SumOp.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops.MeanOp.apply(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.ReshapeOp.apply(self, shape=shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.TransposeOp.apply(self, axes=axes or None)

    @property
    def T(self):
        return self.transpose()

    def exp(self):
        return _ops.ExpOp.apply(self)

    def log(self):
        return _ops.LogOp.apply(self)

    def maximum(self, other):
        return _ops.MaximumOp.apply(self, other)


# ---------------------------------------------------------------------- graph machinery


class Context:
    """A bag where forward() stores what backward() will need (``saved_arrays``: the arrays
    among them, whose tensors' versions backward checks)."""

    def __init__(self):
        self.saved_arrays = []

    def save(self, **values):
        self.__dict__.update(values)
        self.saved_arrays.extend(v for v in values.values() if isinstance(v, np.ndarray))


class Node:
    """One recorded op application: which Function, its ctx, its input tensors, and the
    tensors whose arrays it saved (``saved``: checked unchanged before its backward runs)."""

    def __init__(self, function, ctx, inputs, saved):
        self.function = function
        self.ctx = ctx
        self.inputs = inputs
        self.parents = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
        self.saved = saved

    def send_grads_to_inputs(self, grad_out, grads):
        op = self.function.__name__
        check_saved_unchanged(op, self.saved)
        input_grads = one_gradient_per_input(op, self.function.backward(self.ctx, grad_out), len(self.inputs))
        for index, (parent, g) in enumerate(zip(self.inputs, input_grads)):
            if not isinstance(parent, Tensor) or not parent.requires_grad or g is None:
                continue
            g = gradient_for_input(op, index, g, parent.shape).astype(parent.dtype, copy=False)
            key = id(parent)
            grads[key] = g if key not in grads else grads[key] + g


class Function:
    """Base class of every differentiable op.

    Subclasses define ``forward(ctx, *arrays, **params) -> array`` and
    ``backward(ctx, grad_out) -> one gradient per array input`` (None for inputs
    that need none).  Tensor inputs arrive in forward as plain ndarrays, an input
    given as None stays None, and ``ctx.needs_grad[i]`` says whether input i wants a
    gradient (so backward can skip work nobody will use).  An op whose output is a view
    of its first input (reshape, transpose, slicing) sets ``returns_view = True``: the
    output then shares that input's version.
    """

    returns_view = False

    @classmethod
    def apply(cls, *inputs, **params):
        tensors = [x if isinstance(x, Tensor) else None for x in inputs]
        like = next((t for t in tensors if t is not None), None)
        arrays = [t.data if t is not None else None if x is None else to_array_like(x, like)
                  for x, t in zip(inputs, tensors)]
        ctx = Context()
        ctx.needs_grad = tuple(t is not None and t.requires_grad for t in tensors)
        out = cls.forward(ctx, *arrays, **params)
        needs_grad = _grad_enabled and any(ctx.needs_grad)
        result = Tensor(out, requires_grad=needs_grad, copy=False)      # a fresh array: no copy
        if cls.returns_view and tensors[0] is not None and np.may_share_memory(out, arrays[0]):
            result._version = tensors[0]._version
        if needs_grad:
            watched = [(f"input {i}", t.data, t._version) for i, t in enumerate(tensors) if t is not None]
            watched.append(("its output", out, result._version))
            result._node = Node(cls, ctx, inputs, watch_saved(ctx.saved_arrays, watched))
        return result

    @staticmethod
    def forward(ctx, *arrays, **params):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_out):
        raise NotImplementedError


def to_array_like(value, like):
    """A non-Tensor operand (a Python number, an ndarray) as a new array of the tensor's dtype
    (a copy, so that editing the caller's array later cannot change a saved operand)."""
    array = np.asarray(value)
    if array.dtype.kind not in "fbiu":
        raise TypeError(f"expected a number or a real array, got dtype {array.dtype}")
    return array.astype(like.dtype if like is not None else np.float32)


# ---------------------------------------------------------------------- functions of tensors


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (differentiable)."""
    return _ops.ConcatenateOp.apply(*tensors, axis=axis)


def maximum(x, y):
    """Elementwise maximum of two tensors (differentiable)."""
    return _ops.MaximumOp.apply(x, y)


# The op classes live in tensor_ops.py and subclass Function above, so they can only be
# imported once Function exists: here, at the end.  Every operator of Tensor reaches them
# through this one module name, looked up when the operator runs.
from . import tensor_ops as _ops  # noqa: E402
