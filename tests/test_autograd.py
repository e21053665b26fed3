"""The autograd engine: fan-out, reuse, residuals, broadcasting, deep chains, no_grad."""

import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinycnn as tc
import tinycnn.functional as F
from tinycnn import tensor_ops

pytestmark = pytest.mark.nojit   # also run with NUMBA_DISABLE_JIT=1 in CI


def test_fan_out_accumulates_both_paths():
    x = tc.Tensor(np.array([2.0, -3.0]), requires_grad=True)
    a, b = x * 3, x * x                     # x feeds two ops
    (a + b).sum().backward()
    np.testing.assert_allclose(x.grad, 3 + 2 * x.data)


def test_tensor_used_twice_in_one_op():
    x = tc.Tensor(np.array([1.5, 4.0]), requires_grad=True)
    (x * x).sum().backward()                # d(x^2)/dx = 2x, not x
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_residual_block_gradient_includes_skip():
    rng = np.random.default_rng(0)
    x = tc.Tensor(rng.standard_normal((1, 4, 4, 2)), requires_grad=True)
    w = tc.Tensor(rng.standard_normal((3, 3, 2, 2)) * 0.1, requires_grad=True)
    y = F.relu(F.conv2d(x, w, padding="same")) + x
    y.sum().backward()
    # same graph without the skip: the difference must be exactly the skip's ones
    x2 = tc.Tensor(x.data, requires_grad=True)
    F.relu(F.conv2d(x2, tc.Tensor(w.data), padding="same")).sum().backward()
    np.testing.assert_allclose(x.grad - x2.grad, np.ones_like(x.data), atol=1e-12)


def test_broadcast_gradient_is_summed_back_to_input_shape():
    x = tc.Tensor(np.ones((2, 3, 4)), requires_grad=True)
    bias = tc.Tensor(np.zeros(4), requires_grad=True)
    scale = tc.Tensor(np.full((3, 1), 2.0), requires_grad=True)
    ((x + bias) * scale).sum().backward()
    assert bias.grad.shape == (4,) and scale.grad.shape == (3, 1)
    np.testing.assert_allclose(bias.grad, np.full(4, 2 * 3 * 2.0))
    np.testing.assert_allclose(scale.grad, np.full((3, 1), 2 * 4.0))


def test_500_deep_chain_has_no_recursion_limit():
    x = tc.Tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(500):
        y = F.relu(y * 1.01 + 0.0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.01 ** 500], rtol=1e-9)


def test_backward_on_two_fresh_graphs_gives_the_same_gradients():
    rng = np.random.default_rng(1)
    w = tc.Tensor(rng.standard_normal((3, 3, 1, 2)), requires_grad=True)
    x = rng.standard_normal((2, 5, 5, 1))
    grads = []
    for _ in range(2):
        w.grad = None
        F.conv2d(x, w).sum().backward()
        grads.append(w.grad.copy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_gradients_accumulate_across_backward_calls_until_cleared():
    w = tc.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w * 3).sum().backward()
    (w * 3).sum().backward()
    np.testing.assert_allclose(w.grad, [6.0, 6.0])


def test_no_grad_records_nothing():
    w = tc.Tensor(np.ones(3), requires_grad=True)
    with tc.no_grad():
        y = (w * 2).sum()
    assert not y.requires_grad and y._node is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    assert tc.is_grad_enabled()


def test_intermediate_grad_kept_only_when_retained():
    x = tc.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    hidden = (x * 3).retain_grad()
    other = x * 5
    (hidden * hidden + other).sum().backward()
    np.testing.assert_allclose(hidden.grad, 2 * hidden.data)
    assert other.grad is None


def test_float32_default_and_float64_kept():
    assert tc.Tensor([1, 2]).dtype == np.float32
    assert tc.Tensor(np.zeros(2)).dtype == np.float64
    assert tc.Tensor(np.zeros(2, np.float32)).dtype == np.float32
    assert (tc.Tensor(np.zeros(2, np.float32)) * 2.5).dtype == np.float32
    with pytest.raises(TypeError, match="real numbers"):
        tc.Tensor(np.array(["a"]))


def test_detach_numpy_item():
    x = tc.Tensor(np.array([3.0]), requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.item() == 6.0
    assert d.numpy() is d.data


def test_grad_returns_gradients_without_touching_any_grad():
    w = tc.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    hidden = w * 3
    out = (hidden * hidden).sum()
    d_hidden, d_w = tc.grad(out, [hidden, w])
    np.testing.assert_allclose(d_hidden, 2 * hidden.data)
    np.testing.assert_allclose(d_w, 18 * w.data)
    assert w.grad is None and hidden.grad is None


def test_each_leaf_gets_its_own_writable_grad():
    a = tc.Tensor(np.ones(3), requires_grad=True)
    b = tc.Tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad *= 0.5                       # gradient clipping in place must work
    np.testing.assert_allclose(b.grad, np.ones(3))


def test_ndarray_times_tensor_is_a_tensor_in_the_graph():
    x = tc.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, tc.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


def test_enable_grad_records_again_inside_no_grad():
    a = tc.Tensor(np.ones(3), requires_grad=True)
    with tc.no_grad():
        with tc.enable_grad():
            inside = (a * 2).sum()
        after = (a * 2).sum()
    assert inside.requires_grad and not after.requires_grad
    inside.backward()
    np.testing.assert_array_equal(a.grad, [2, 2, 2])


def test_importing_the_autograd_loads_neither_numba_nor_matplotlib():
    code = ("import sys, tinycnn.tensor, tinycnn.tensor_ops; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'numba', 'matplotlib'}))")
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_every_elementary_op_says_forward_backward_and_shape():
    ops = [cls for _, cls in inspect.getmembers(tensor_ops, inspect.isclass)
           if issubclass(cls, tc.tensor.Function) and cls is not tc.tensor.Function]
    assert sorted(cls.__name__ for cls in ops) == sorted(tensor_ops.__all__)
    for cls in ops:
        assert cls.__name__.endswith("Op"), cls.__name__          # never mistaken for a layer
        doc = cls.__doc__ or ""
        assert "forward:" in doc and "backward:" in doc and "shape:" in doc, cls.__name__
