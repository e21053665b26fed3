"""Walking the recorded graph backwards, and the checks made on the way.  Read tensor.py first:
it records the graph (each op's output holds a ``Node``); this module visits it.

* ``topological_order``  the tensors of a graph, each after all of its inputs (iterative, so a
  500-layer chain does not hit Python's recursion limit)
* ``backpropagate``      the visit from the output to the inputs: each node's op sends its
  gradients on, and what reaches one tensor from several ops is *added* (``+``), so a tensor
  used twice (fan-out, a residual skip) gets both parts
* ``grad``               gradients returned instead of stored in ``.grad``

The checks, so that a mistake fails loudly instead of giving a wrong gradient:

1. **Saved tensors are unchanged.**  Every Tensor has a ``Version`` (how many times its array
   was changed in place; a view shares its base's).  When an op runs, ``watch_saved`` notes
   which of its inputs and its output share memory with an array the op saved for backward,
   and the count each had then (``SavedTensor``).  ``check_saved_unchanged`` compares before
   the op's backward runs.
2. **One gradient per input** (``one_gradient_per_input``): a backward returning two
   gradients for three inputs is an error, not something ``zip`` quietly truncates.
3. **Each gradient has its input's shape**, once broadcasting is undone (``unbroadcast``, the
   one place where that happens; ``gradient_for_input``).

Nothing here imports Tensor (tensor.py imports this module): a tensor is whatever has
``_node`` (None for a leaf) and ``data``; a node lists the ``parents`` that want a gradient.
"""

from typing import NamedTuple

import numpy as np


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
            for parent in tensor._node.parents:
                if id(parent) not in visited:
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


# ---------------------------------------------------------------------- the checks


class Version:
    """How many times a tensor's array has been changed in place (shared by a tensor, its
    views and ``detach()``: they hold one array, so a change through any of them counts)."""

    __slots__ = ("count",)

    def __init__(self):
        self.count = 0

    def bump(self):
        self.count += 1


class SavedTensor(NamedTuple):
    """A tensor whose array an op saved for backward, and its version's count at that time."""

    label: str              # "input 1", "its output": how the error names it
    shape: tuple
    version: Version
    count: int


def watch_saved(saved_arrays, candidates):
    """The candidates ``(label, array, version)`` whose array shares memory with a saved array.

    ``np.may_share_memory`` compares the arrays' address ranges only (constant time), so a
    view of an input (``x.reshape(...)``) counts as the input.
    """
    return [SavedTensor(label, array.shape, version, version.count)
            for label, array, version in candidates
            if any(np.may_share_memory(array, saved) for saved in saved_arrays)]


def check_saved_unchanged(op, saved):
    """Refuse to run ``op``'s backward if a tensor it saved was changed in place since."""
    for entry in saved:
        if entry.version.count != entry.count:
            raise RuntimeError(
                f"backward of {op}: a tensor needed for the gradient was modified in place after the "
                f"forward pass ({entry.label}, shape {entry.shape}: version "
                f"{entry.version.count} now, {entry.count} when it was saved); run the forward pass "
                "again after changing it")


def one_gradient_per_input(op, grads, n_inputs):
    """``op``'s backward result as a tuple of exactly ``n_inputs`` gradients (None allowed)."""
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != n_inputs:
        raise RuntimeError(f"backward of {op} returned {len(grads)} gradient(s) for its "
                           f"{n_inputs} input(s); expected one per input (None for no gradient)")
    return grads


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


def gradient_for_input(op, index, grad, shape):
    """The gradient ``op``'s backward returned for input ``index``, summed back to ``shape``;
    a gradient that broadcasting cannot explain is an error naming both shapes."""
    returned = grad = np.asarray(grad)
    if grad.shape != shape and grad.ndim >= len(shape):
        grad = unbroadcast(grad, shape)
    if grad.shape != shape:
        raise RuntimeError(f"backward of {op} returned a gradient of shape {returned.shape} for input "
                           f"{index}, whose shape is {shape}; expected {shape} (or a shape that "
                           "broadcasts to it)")
    return grad
