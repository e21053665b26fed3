"""The test suite's one finite-difference helper (central differences, float64), and two checks on it.

- ``numerical_gradients(loss, arrays)``: d loss / d every entry of every array; use it directly
  when the loss is something of your own (a score of a Grad-CAM target, a model's logits);
- ``check_gradients(fn, *arrays)``: backward() of an op on Tensors against it, every input;
- ``check_module_gradients(module, x)``: backward() of a module against it, for the input and
  every parameter.
No other test writes its own ``(f(x + eps) - f(x - eps)) / (2 eps)`` loop.
"""

import numpy as np

import tinycnn as tc


def numerical_gradients(loss_of_arrays, arrays, eps=1e-6):
    """d loss / d array[k] ~ (loss(a + eps e_k) - loss(a - eps e_k)) / (2 eps), for all k.

    ``loss_of_arrays()`` takes no argument: it reads the arrays, which are changed in place one
    entry at a time and restored exactly afterwards.  The arrays must be float64 (in float32 the
    rounding error of the loss, divided by 2 eps, would swamp the derivative).
    """
    grads = []
    for array in arrays:
        if not isinstance(array, np.ndarray) or array.dtype != np.float64:
            raise TypeError(f"numerical_gradients: expected float64 ndarrays, got "
                            f"{getattr(array, 'dtype', type(array).__name__)}")
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):      # indexes the array itself: works for any layout
            original = array[index]
            array[index] = original + eps
            plus = loss_of_arrays()
            array[index] = original - eps
            minus = loss_of_arrays()
            array[index] = original
            grad[index] = (plus - minus) / (2 * eps)
        grads.append(grad)
    return grads


def _assert_gradients_match(named_tensors, numeric, rtol, atol):
    for (name, tensor), expected in zip(named_tensors, numeric):
        assert tensor.grad is not None, f"{name} received no gradient"
        np.testing.assert_allclose(tensor.grad, expected, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of {name} (shape {tensor.shape})")


def check_gradients(fn, *arrays, seed=0, rtol=1e-5, atol=1e-7):
    """Compare backward() of sum(fn(*tensors) * R) with finite differences, all entries.

    fn takes Tensors (one per array, all requires_grad=True) and returns a Tensor;
    R is a fixed random array so every output entry matters with a different weight.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    tensors = [tc.Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    (out * weights).sum().backward()

    def loss():
        with tc.no_grad():
            return float(((fn(*[tc.Tensor(a) for a in arrays])).data * weights).sum())

    numeric = numerical_gradients(loss, arrays)
    _assert_gradients_match([(f"input {k}", t) for k, t in enumerate(tensors)], numeric, rtol, atol)


def check_module_gradients(module, x, seed=0, rtol=1e-5, atol=1e-7):
    """The same for a module in float64 (``module.double()``): the input and every parameter.

    The module keeps the mode it is in (train or eval), so both can be checked.
    """
    module.double()
    x = tc.Tensor(np.array(x, np.float64), requires_grad=True)
    out = module(x)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    module.zero_grad()
    (out * tc.Tensor(weights)).sum().backward()

    def loss():
        with tc.no_grad():
            return float((module(tc.Tensor(x.data)).data * weights).sum())

    targets = [("input", x)] + list(module.named_parameters())
    numeric = numerical_gradients(loss, [t.data for _, t in targets])
    _assert_gradients_match(targets, numeric, rtol, atol)
