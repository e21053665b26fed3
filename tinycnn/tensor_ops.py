"""The elementary differentiable ops behind ``Tensor``'s operators and methods.

``x + y`` runs ``AddOp.apply(x, y)``, ``x.sum()`` runs ``SumOp.apply(x, ...)``, and so on:
each class here is one op, ``forward`` and ``backward`` side by side, on plain ndarrays.
The names end in ``Op`` so that an op (a function of arrays with a backward rule) cannot be
mistaken for a layer (an ``nn.Module`` holding parameters).

Each docstring gives the forward rule, the backward rule (what ``backward(ctx, dz)`` returns
for each input) and the output shape.  Gradients may come back in the output's broadcast
shape: ``Node`` in tensor.py sums them back to each input's shape (``unbroadcast``), so no op
here undoes broadcasting itself.

Why two modules and how they meet: tensor.py holds the graph (``Tensor``, ``Function``,
``backward``), this module holds the ops.  The ops subclass ``tensor.Function``, so this module
imports tensor.py; ``Tensor``'s operators need the ops, so tensor.py imports this module once,
as the single name ``_ops``, at its very end (after ``Function`` exists), and every operator
reaches an op through it (``_ops.AddOp.apply``).  That is the whole cycle: one import each way,
both in the same layer, resolved at call time.  Like tensor.py, this module loads only NumPy.
"""

import numpy as np

from .tensor import Function

__all__ = ["AddOp", "SubOp", "MulOp", "DivOp", "NegOp", "PowOp", "MatMulOp", "ExpOp", "LogOp",
           "MaximumOp", "SumOp", "MeanOp", "ReshapeOp", "TransposeOp", "GetItemOp", "ConcatenateOp"]


# ---------------------------------------------------------------------- arithmetic


class AddOp(Function):
    """forward: z = x + y.  backward: dx = dz, dy = dz.  shape: broadcast(x, y)."""

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class SubOp(Function):
    """forward: z = x - y.  backward: dx = dz, dy = -dz.  shape: broadcast(x, y)."""

    @staticmethod
    def forward(ctx, x, y):
        return x - y

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


class MulOp(Function):
    """forward: z = x * y (elementwise).  backward: dx = dz * y, dy = dz * x.  shape: broadcast(x, y)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save(x=x, y=y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.y, grad * ctx.x


class DivOp(Function):
    """forward: z = x / y.  backward: dx = dz / y, dy = -dz * x / y^2.  shape: broadcast(x, y)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save(x=x, y=y)
        return x / y

    @staticmethod
    def backward(ctx, grad):
        return grad / ctx.y, -grad * ctx.x / (ctx.y * ctx.y)


class NegOp(Function):
    """forward: z = -x.  backward: dx = -dz.  shape: x's."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class PowOp(Function):
    """forward: z = x^p (p a constant).  backward: dx = dz * p * x^(p-1).  shape: x's."""

    @staticmethod
    def forward(ctx, x, exponent):
        ctx.save(x=x, exponent=exponent)
        return x ** exponent

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.exponent * ctx.x ** (ctx.exponent - 1)


class MatMulOp(Function):
    """forward: Z = X @ Y.  backward: dX = dZ @ Y^T, dY = X^T @ dZ (batched over leading axes).

    shape: (..., n, k) @ (..., k, m) -> (..., n, m), leading axes broadcast; both need >= 2 axes.
    """

    @staticmethod
    def forward(ctx, x, y):
        if x.ndim < 2 or y.ndim < 2:
            raise ValueError(f"matmul: both operands need >= 2 dimensions, got {x.shape} and {y.shape}")
        if x.shape[-1] != y.shape[-2]:
            raise ValueError(f"matmul: shapes {x.shape} and {y.shape} do not fit: the first has "
                             f"{x.shape[-1]} columns, the second {y.shape[-2]} rows")
        ctx.save(x=x, y=y)
        return x @ y

    @staticmethod
    def backward(ctx, grad):
        return grad @ np.swapaxes(ctx.y, -1, -2), np.swapaxes(ctx.x, -1, -2) @ grad


# ---------------------------------------------------------------------- elementwise functions


class ExpOp(Function):
    """forward: z = e^x.  backward: dx = dz * z.  shape: x's."""

    @staticmethod
    def forward(ctx, x):
        z = np.exp(x)
        ctx.save(z=z)
        return z

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.z


class LogOp(Function):
    """forward: z = ln x.  backward: dx = dz / x.  shape: x's."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x=x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        return grad / ctx.x


class MaximumOp(Function):
    """forward: z = max(x, y) elementwise.  backward: the larger input gets dz (ties: half each).

    shape: broadcast(x, y).
    """

    @staticmethod
    def forward(ctx, x, y):
        ctx.save(x=x, y=y)
        return np.maximum(x, y)

    @staticmethod
    def backward(ctx, grad):
        x_wins = ((ctx.x > ctx.y) + 0.5 * (ctx.x == ctx.y)).astype(grad.dtype)
        return grad * x_wins, grad * (1 - x_wins)


# ---------------------------------------------------------------------- reductions


class SumOp(Function):
    """forward: z = sum of x over axis.  backward: dx = dz broadcast back to x's shape.

    shape: x's without the summed axes (kept as size 1 with keepdims; () for axis=None).
    """

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.save(shape=x.shape, axis=axis, keepdims=keepdims)
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return np.broadcast_to(restore_reduced_axes(grad, ctx.shape, ctx.axis, ctx.keepdims), ctx.shape)


class MeanOp(Function):
    """forward: z = mean of x over axis (M values each).  backward: dx = dz / M, broadcast back.

    shape: as ``SumOp``.
    """

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        z = np.mean(x, axis=axis, keepdims=keepdims)
        ctx.save(shape=x.shape, axis=axis, keepdims=keepdims, count=x.size // max(np.size(z), 1))
        return z

    @staticmethod
    def backward(ctx, grad):
        grad = restore_reduced_axes(grad, ctx.shape, ctx.axis, ctx.keepdims) / ctx.count
        return np.broadcast_to(grad, ctx.shape)


def restore_reduced_axes(grad, shape, axis, keepdims):
    """Re-insert the axes a reduction removed, as size-1 axes, so grad broadcasts to shape."""
    if keepdims or axis is None:
        return np.reshape(grad, [1] * len(shape)) if axis is None else grad
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = sorted(a % len(shape) for a in axes)
    for a in axes:
        grad = np.expand_dims(grad, a)
    return grad


# ---------------------------------------------------------------------- shape and indexing


class ReshapeOp(Function):
    """forward: z = x viewed with a new shape.  backward: dx = dz reshaped back.  shape: the one asked for."""

    returns_view = True          # z holds x's array: an in-place change of either counts for both

    @staticmethod
    def forward(ctx, x, shape):
        ctx.save(shape=x.shape)
        try:
            return np.reshape(x, shape)
        except (TypeError, ValueError):
            raise ValueError(f"reshape: a tensor of shape {x.shape} ({x.size} values) cannot be "
                             f"viewed as shape {shape}") from None

    @staticmethod
    def backward(ctx, grad):
        return np.reshape(grad, ctx.shape)


class TransposeOp(Function):
    """forward: z = x with axes permuted.  backward: dx = dz with the inverse permutation.

    shape: x's axes in the order ``axes`` (reversed for axes=None).
    """

    returns_view = True

    @staticmethod
    def forward(ctx, x, axes):
        ctx.save(axes=axes)
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, grad):
        if ctx.axes is None:
            return np.transpose(grad)
        return np.transpose(grad, np.argsort(ctx.axes))


class GetItemOp(Function):
    """forward: z = x[index] (slices or integer arrays).

    backward: dx = zeros like x, then dx[index] += dz; np.add.at accumulates, so an index
    that picks the same element twice sends it both gradients.
    shape: NumPy's for x[index].
    """

    returns_view = True          # for slices; an integer-array index copies (apply checks which)

    @staticmethod
    def forward(ctx, x, index):
        ctx.save(shape=x.shape, dtype=x.dtype, index=index)
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        dx = np.zeros(ctx.shape, dtype=ctx.dtype)
        np.add.at(dx, ctx.index, grad)
        return dx


class ConcatenateOp(Function):
    """forward: z = [x_1, x_2, ...] joined along axis.  backward: dz split back into pieces.

    shape: the inputs' shape with the sizes along ``axis`` added up.
    """

    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.save(axis=axis, sizes=[a.shape[axis] for a in arrays])
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        edges = np.cumsum(ctx.sizes)[:-1]
        return tuple(np.split(grad, edges, axis=ctx.axis))
