"""Central finite differences over every entry, for the gradient tests (float64)."""

import numpy as np

import tinycnn as tc


def numerical_gradients(loss_of_arrays, arrays, eps=1e-6):
    """d loss / d array[k] ~ (loss(a + eps e_k) - loss(a - eps e_k)) / (2 eps), for all k."""
    grads = []
    for array in arrays:
        grad = np.zeros_like(array)
        flat, flat_grad = array.reshape(-1), grad.reshape(-1)
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + eps
            plus = loss_of_arrays()
            flat[k] = original - eps
            minus = loss_of_arrays()
            flat[k] = original
            flat_grad[k] = (plus - minus) / (2 * eps)
        grads.append(grad)
    return grads


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
    for index, (tensor, expected) in enumerate(zip(tensors, numeric)):
        assert tensor.grad is not None, f"input {index} received no gradient"
        np.testing.assert_allclose(tensor.grad, expected, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {index} (shape {tensor.shape})")
