"""Fast activations and the fused bias + activation epilogue (Numba).

Element-wise ops do one or two flops per value, so their cost is memory traffic: read the
input once, write the output once.  NumPy's ``dy * (x > 0)`` makes a boolean temporary
and a second pass; here every backward is one fused pass.  The flat arrays are split into
blocks that the threads take in parallel; inside a block the loop is vectorised (sigmoid
and SiLU too: their exp is fastmath.exp, plain arithmetic, not a call to the C library).

``bias_activation_forward`` adds a per-channel bias and applies the activation in place,
in the same pass (the epilogue of a convolution: saves two full passes over its output).
"""

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401
from .fastmath import sigmoid as _sigmoid     # after editing fastmath.py, delete __pycache__:
from .fastmath import silu_grad as _silu_grad  # Numba's cache does not see that file change
from .helpers import parallel_blocks

_BLOCK = 1 << 15

#: activation name -> code used inside the kernels
_ACT = {None: 0, "linear": 0, "relu": 1, "relu6": 2, "sigmoid": 3, "silu": 4, "tanh": 5}


def _flat(a, dtype=None):
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1)


@njit(parallel=True, cache=True)
def _act_forward(x, code, y):
    n = x.size
    for b in prange((n + _BLOCK - 1) // _BLOCK):
        lo = np.uint64(b * _BLOCK)
        hi = np.uint64(min(n, (b + 1) * _BLOCK))
        if code == 1:
            for k in range(lo, hi):
                y[k] = max(x[k], 0)
        elif code == 2:
            for k in range(lo, hi):
                y[k] = min(max(x[k], 0), 6)
        elif code == 3:
            for k in range(lo, hi):
                y[k] = _sigmoid(x[k])
        elif code == 4:
            for k in range(lo, hi):
                y[k] = x[k] * _sigmoid(x[k])
        elif code == 5:
            for k in range(lo, hi):
                y[k] = np.tanh(x[k])
        else:
            for k in range(lo, hi):
                y[k] = x[k]


@njit(parallel=True, cache=True)
def _act_backward(dy, v, code, dx):
    """dx = dy * act'(.) where v is the input x (relu, relu6, silu) or the output y (sigmoid, tanh)."""
    n = dy.size
    for b in prange((n + _BLOCK - 1) // _BLOCK):
        lo = np.uint64(b * _BLOCK)
        hi = np.uint64(min(n, (b + 1) * _BLOCK))
        if code == 1:
            for k in range(lo, hi):
                dx[k] = dy[k] if v[k] > 0 else 0
        elif code == 2:
            for k in range(lo, hi):
                dx[k] = dy[k] if (v[k] > 0 and v[k] < 6) else 0
        elif code == 3:
            for k in range(lo, hi):
                dx[k] = dy[k] * v[k] * (1 - v[k])
        elif code == 4:
            for k in range(lo, hi):
                dx[k] = dy[k] * _silu_grad(v[k])
        elif code == 5:
            for k in range(lo, hi):
                dx[k] = dy[k] * (1 - v[k] * v[k])
        else:
            for k in range(lo, hi):
                dx[k] = dy[k]


def _forward(x, code):
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _act_forward(x.reshape(-1), code, y.reshape(-1))
    return y


def _backward(dy, v, code):
    dtype = np.result_type(dy, v)
    dy = np.ascontiguousarray(dy, dtype=dtype)
    dx = np.empty_like(dy)
    _act_backward(dy.reshape(-1), _flat(v, dtype), code, dx.reshape(-1))
    return dx


def relu_forward(x):
    """forward: y = max(x, 0); shape unchanged."""
    return _forward(x, 1)


def relu_backward(dy, x):
    """backward: dx = dy * [x > 0]   (the gradient at exactly 0 is taken as 0, as PyTorch)."""
    return _backward(dy, x, 1)


def relu6_forward(x):
    """forward: y = min(max(x, 0), 6)  (MobileNet's activation); shape unchanged."""
    return _forward(x, 2)


def relu6_backward(dy, x):
    """backward: dx = dy * [0 < x < 6]."""
    return _backward(dy, x, 2)


def sigmoid_forward(x):
    """forward: y = 1 / (1 + exp(-x)), branch-free with fastmath.exp (0 and 1 at -inf, +inf)."""
    return _forward(x, 3)


def sigmoid_backward(dy, y):
    """backward (from the output y): dx = dy * y * (1 - y)."""
    return _backward(dy, y, 3)


def tanh_forward(x):
    """forward: y = tanh(x), in (-1, 1); shape unchanged."""
    return _forward(x, 5)


def tanh_backward(dy, y):
    """backward (from the output y): dx = dy * (1 - y^2)."""
    return _backward(dy, y, 5)


def silu_forward(x):
    """SiLU / swish (EfficientNet's activation). forward: y = x * sigmoid(x)."""
    return _forward(x, 4)


def silu_backward(dy, x):
    """backward: dx = dy * (s + x * s * (1 - s)) with s = sigmoid(x)."""
    return _backward(dy, x, 4)


# ----------------------------------------------------------------------------- fused epilogue


@njit(parallel=True, cache=True)
def _bias_act_inplace(y, b, code):
    M, C = y.shape
    yf = y.reshape(-1)
    uC = np.uint64(C)
    n_blocks = (M + 255) // 256
    for blk in prange(n_blocks):
        for m in range(blk * 256, min(M, (blk + 1) * 256)):
            row = np.uint64(m * C)
            for c in range(uC):
                z = yf[row + c] + b[c]
                if code == 1:
                    z = max(z, 0)
                elif code == 2:
                    z = min(max(z, 0), 6)
                elif code == 3:
                    z = _sigmoid(z)
                elif code == 4:
                    z = z * _sigmoid(z)
                elif code == 5:
                    z = np.tanh(z)
                yf[row + c] = z


@njit(parallel=True, cache=True)
def _bias_act_backward(dy, out, code, dz, partial):
    M, C = dy.shape
    dyf = dy.reshape(-1)
    of = out.reshape(-1)
    dzf = dz.reshape(-1)
    uC = np.uint64(C)
    n_blocks = partial.shape[0]
    for blk in prange(n_blocks):
        acc = partial[blk]
        acc[:] = 0.0
        for m in range(blk * M // n_blocks, (blk + 1) * M // n_blocks):
            row = np.uint64(m * C)
            for c in range(uC):
                g = dyf[row + c]
                o = of[row + c]
                if code == 1:
                    g = g if o > 0 else 0
                elif code == 2:
                    g = g if (o > 0 and o < 6) else 0
                elif code == 3:
                    g = g * o * (1 - o)
                elif code == 5:
                    g = g * (1 - o * o)
                dzf[row + c] = g
                acc[c] += g


def bias_activation_forward(y, b, activation=None):
    """Fused epilogue, in place: y <- act(y + b), b broadcast over the last (channel) axis.

    y: any shape (..., C), overwritten and returned; b: (C,) or None (no bias).
    activation: None / "linear", "relu", "relu6", "sigmoid", "tanh" or "silu".

    forward:  y[..., c] = act(z[..., c]) with z = y + b[c]   (one pass instead of three)
    backward: bias_activation_backward (needs only the output for relu/relu6/sigmoid/tanh/None)
    shape:    unchanged.
    """
    code = _ACT[activation]
    if not y.flags.c_contiguous:        # cannot work in place on a flat view: plain NumPy
        z = y + b if b is not None else y.copy()
        y[...] = _forward(z, code)
        return y
    C = y.shape[-1]
    bias = np.zeros(C, dtype=y.dtype) if b is None else np.ascontiguousarray(b, dtype=y.dtype)
    _bias_act_inplace(y.reshape(-1, C), bias, code)
    return y


def bias_activation_backward(dy, out, activation=None):
    """Backward of bias_activation_forward, from its output ``out``; returns (dz, db).

    backward: dz = dy * act'(z) written with the output: relu [out > 0],
              relu6 [0 < out < 6], sigmoid out * (1 - out), tanh 1 - out^2, None 1;
              db[c] = sum over every other axis of dz[..., c]   (the bias gradient)
              SiLU's derivative cannot be written with its output alone: keep z and use
              silu_backward instead (raises ValueError here).
    shape:    dz like dy; db (C,).
    """
    code = _ACT[activation]
    if code == 4:
        raise ValueError("bias_activation_backward: silu needs the pre-activation; "
                         "use silu_backward(dy, z)")
    dtype = np.result_type(dy, out)
    C = dy.shape[-1]
    dy2 = np.ascontiguousarray(dy, dtype=dtype).reshape(-1, C)
    out2 = np.ascontiguousarray(out, dtype=dtype).reshape(-1, C)
    dz = np.empty(dy2.shape, dtype=dtype)
    partial = np.empty((parallel_blocks(dy2.shape[0]), C), dtype=np.float64)
    _bias_act_backward(dy2, out2, code, dz, partial)
    return dz.reshape(dy.shape), partial.sum(axis=0).astype(dtype)
