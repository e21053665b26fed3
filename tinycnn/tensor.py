"""The autograd: a Tensor remembers the op that made it, and backward() walks that graph.

How it works, in four sentences:

1. A ``Tensor`` holds an ndarray ``data`` and, after ``backward()``, its gradient ``grad``.
2. Every differentiable op is a subclass of ``Function`` with ``forward(ctx, *arrays)``
   and ``backward(ctx, grad_out)`` side by side; ``Function.apply`` runs ``forward`` and,
   when gradients are wanted, records a ``Node`` (op, ctx, input tensors) on the output.
3. ``backward()`` sorts the recorded graph topologically (iteratively, so a 500-layer
   chain does not hit Python's recursion limit) and visits it from the output to the
   inputs, calling each op's ``backward`` and *adding* (``+=``) what it returns into its
   inputs' gradients, so a tensor used twice (fan-out, a residual skip) gets both parts.
4. Broadcasting is undone in exactly one place, ``unbroadcast``, when a gradient reaches
   an input that was smaller than the op's output.

The elementary ops behind the operators (``x + y`` is ``AddOp``, ``x.sum()`` is ``SumOp``)
live in ``tensor_ops.py``.  They subclass ``Function`` from here, so that module imports this
one, and this one imports it back once, as ``_ops``, on its last line (after ``Function`` is
defined); operators look their op up through ``_ops`` when they run.  One module name each
way, nothing else crosses.  This module knows no convolution (the ops on images live in
``functional/``) and loads nothing but NumPy.

Gradients are stored in ``.grad`` for leaves (tensors made by the user with
``requires_grad=True``) and for tensors on which ``retain_grad()`` was called.
"""

import contextlib

import numpy as np

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


def as_float_array(data, name="Tensor"):
    """float32 array from data; float64 arrays stay float64 (gradient checks use them)."""
    if isinstance(data, Tensor):
        return data.data
    array = np.asarray(data)
    if array.dtype == np.float64 or array.dtype == np.float32:
        return array
    if array.dtype.kind in "biu" or array.dtype == np.float16:
        return array.astype(np.float32)
    raise TypeError(f"{name}: expected real numbers, got an array of dtype {array.dtype}")


class Tensor:
    """An n-dimensional array that can compute gradients of anything built from it."""

    # make `ndarray * Tensor` call Tensor.__rmul__ instead of NumPy looping over the Tensor
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False):
        self.data = as_float_array(data)
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = None          # the op that produced this tensor (None for leaves)
        self._retain_grad = False

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
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python float."""
        return self.data.item()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

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


def topological_order(root):
    """Tensors of the graph ending at root, each after all of its inputs (iterative DFS)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor._node is not None:
            for parent in tensor._node.inputs:
                if isinstance(parent, Tensor) and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def backpropagate(root, grad):
    """Yield (tensor, d root / d tensor) for every tensor of root's graph, outputs first.

    Each tensor comes out once, after all the ops that used it have sent it their part.
    """
    grads = {id(root): grad}
    for tensor in reversed(topological_order(root)):
        g = grads.pop(id(tensor), None)
        if g is None:
            continue
        yield tensor, g
        if tensor._node is not None:
            tensor._node.send_grads_to_inputs(g, grads)


def grad(output, inputs, grad_output=None):
    """Gradients of output w.r.t. each tensor in inputs, returned instead of stored.

    Nothing's ``.grad`` changes (not even the parameters'), so this is how Grad-CAM asks
    for d score / d activation without disturbing a model.
    """
    if not output.requires_grad:
        raise RuntimeError("grad(): the output does not require grad")
    if grad_output is None:
        if output.size != 1:
            raise RuntimeError(f"grad(): grad_output must be given for an output of shape {output.shape}")
        grad_output = np.ones_like(output.data)
    wanted = {id(t): k for k, t in enumerate(inputs)}
    found = [None] * len(inputs)
    for tensor, g in backpropagate(output, np.asarray(grad_output, dtype=output.dtype)):
        if id(tensor) in wanted:
            found[wanted[id(tensor)]] = g
    return [np.zeros_like(t.data) if g is None else g for t, g in zip(inputs, found)]


def unbroadcast(grad, shape):
    """Sum grad over the axes that broadcasting stretched, so it gets back the input's shape.

    forward:  x of shape (3, 1) + y of shape (4,) -> (3, 4)
    backward: d/dx = sum of the (3, 4) gradient over axis 1, keeping it; d/dy = sum over axis 0.
    """
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Context:
    """A bag where forward() stores what backward() will need."""

    def save(self, **values):
        self.__dict__.update(values)


class Node:
    """One recorded op application: which Function, its ctx, and its input tensors."""

    def __init__(self, function, ctx, inputs):
        self.function = function
        self.ctx = ctx
        self.inputs = inputs

    def send_grads_to_inputs(self, grad_out, grads):
        input_grads = self.function.backward(self.ctx, grad_out)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, g in zip(self.inputs, input_grads):
            if not isinstance(parent, Tensor) or not parent.requires_grad or g is None:
                continue
            g = unbroadcast(np.asarray(g), parent.shape).astype(parent.dtype, copy=False)
            key = id(parent)
            grads[key] = g if key not in grads else grads[key] + g


class Function:
    """Base class of every differentiable op.

    Subclasses define ``forward(ctx, *arrays, **params) -> array`` and
    ``backward(ctx, grad_out) -> one gradient per array input`` (None for inputs
    that need none).  Tensor inputs arrive in forward as plain ndarrays, an input
    given as None stays None, and ``ctx.needs_grad[i]`` says whether input i wants a
    gradient (so backward can skip work nobody will use).
    """

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
        result = Tensor(out, requires_grad=needs_grad)
        if needs_grad:
            result._node = Node(cls, ctx, inputs)
        return result

    @staticmethod
    def forward(ctx, *arrays, **params):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_out):
        raise NotImplementedError


def to_array_like(value, like):
    """A non-Tensor operand (a Python number, an ndarray) as an array of the tensor's dtype."""
    array = np.asarray(value)
    if array.dtype.kind not in "fbiu":
        raise TypeError(f"expected a number or a real array, got dtype {array.dtype}")
    return array.astype(like.dtype if like is not None else np.float32, copy=False)


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
