"""In-place changes between forward and backward (PyTorch's contract, tensor.py's docstring):
backward refuses when a tensor an op saved has changed since; what tinycnn copies instead
gives the right gradient; normal training never trips the check.  Also: a custom Function
whose backward returns the wrong number or shape of gradients is refused, naming the op.
"""

import numpy as np
import pytest

import tinycnn as tc
import tinycnn.functional as F
from tinycnn import nn
from tinycnn.models import pneumonia_net
from tinycnn.optim import SGD, AdamW
from tinycnn.tensor import Function

pytestmark = pytest.mark.nojit   # also run with NUMBA_DISABLE_JIT=1 in CI

STALE = "a tensor needed for the gradient was modified in place after the forward pass"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def small_model(seed=0):
    return nn.Sequential([
        nn.Conv2D(1, 4, 3, padding="same", rng=seed), nn.BatchNorm2D(4), nn.ReLU(),
        nn.DepthwiseConv2D(4, 3, strides=2, padding="same", rng=seed + 1),
        nn.GlobalAveragePooling2D(), nn.Dense(4, 1, rng=seed + 2),
    ], input_shape=(8, 8, 1))


def loss_of(model, x):
    return model(tc.Tensor(x)).sum()


# ---------------------------------------------------------------------- refusals


def change_weight_by_assignment():
    w = tc.Tensor(rand(3, 3, 1, 2), requires_grad=True)
    y = F.conv2d(tc.Tensor(rand(1, 5, 5, 1)), w)
    w.data = w.data * 2                              # the setter: a new array, a new version
    return y.sum()


def change_weight_in_place():
    w = tc.Tensor(rand(3, 3, 1, 2), requires_grad=True)
    y = F.conv2d(tc.Tensor(rand(1, 5, 5, 1)), w)
    w.data -= 0.1                                    # augmented assignment runs the setter too
    return y.sum()


def change_input_batch():
    x = tc.Tensor(rand(1, 5, 5, 1))                  # needs no gradient, but dW is computed from it
    y = F.conv2d(x, tc.Tensor(rand(3, 3, 1, 2), requires_grad=True))
    x.data *= 0
    return y.sum()


def change_an_output():
    x = tc.Tensor(rand(4), requires_grad=True)
    y = F.sigmoid(x)                                 # sigmoid's backward uses its output y
    y.data += 1
    return y.sum()


def change_through_a_view():
    w = tc.Tensor(rand(6), requires_grad=True)
    out = (w * 3).sum()
    w.reshape(2, 3).data -= 1                        # the view shares w's array and version
    return out


def change_through_detach():
    w = tc.Tensor(rand(3), requires_grad=True)
    out = (w * w).sum()
    w.detach().data *= 2
    return out


def write_then_bump():
    w = tc.Tensor(rand(3), requires_grad=True)
    out = (w * w).sum()
    w.data[0] = 5.0                                  # invisible to tinycnn by itself ...
    w.bump_version()                                 # ... unless the writer says so
    return out


def optimizer_step_between():
    model, x = small_model(), rand(2, 8, 8, 1)
    opt = SGD(model.parameters(), lr=0.1)
    loss_of(model, x).backward()                     # gradients to step with
    loss = loss_of(model, x)
    opt.step()
    return loss


def load_state_dict_between():
    model, x = small_model(), rand(2, 8, 8, 1)
    loss = loss_of(model, x)
    model.load_state_dict(small_model(seed=5).state_dict())
    return loss


def astype_between():
    model, x = small_model(), rand(2, 8, 8, 1)
    loss = loss_of(model, x)
    model.astype(np.float32)                         # rewrites every parameter's array
    return loss


# (how the stale graph is made, the op and the tensor the message must name)
STALE_GRAPHS = {
    "data-assignment": (change_weight_by_assignment, r"backward of Conv2DOp: .*\(input 1, shape \(3, 3, 1, 2\)"),
    "data-in-place": (change_weight_in_place, r"backward of Conv2DOp: .*\(input 1, shape \(3, 3, 1, 2\): "
                                              r"version 1 now, 0 when it was saved\)"),
    "input-batch": (change_input_batch, r"backward of Conv2DOp: .*\(input 0, shape \(1, 5, 5, 1\)"),
    "op-output": (change_an_output, r"backward of SigmoidOp: .*\(its output, shape \(4,\)"),
    "view": (change_through_a_view, r"backward of MulOp: .*\(input 0, shape \(6,\)"),
    "detach": (change_through_detach, r"backward of MulOp: .*shape \(3,\)"),
    "bump_version": (write_then_bump, r"backward of MulOp: .*shape \(3,\)"),
    "optimizer-step": (optimizer_step_between, r"backward of \w+Op: "),
    "load_state_dict": (load_state_dict_between, r"backward of \w+Op: "),
    "astype": (astype_between, r"backward of \w+Op: "),
}


@pytest.mark.parametrize("case", STALE_GRAPHS)
def test_backward_refuses_a_graph_whose_saved_tensors_changed(case):
    make, words = STALE_GRAPHS[case]
    loss = make()
    with pytest.raises(RuntimeError, match=words) as error:
        loss.backward()
    assert STALE in str(error.value)


def test_the_weight_reshaped_inside_a_layer_is_watched_too():
    # DepthwiseConv2D and a 1x1 Conv2D reshape their kernel (a view) before the op saves it
    for layer in (nn.DepthwiseConv2D(2, 3, rng=0), nn.Conv2D(2, 3, 1, rng=0)):
        out = layer(tc.Tensor(rand(1, 4, 4, 2))).sum()
        layer.kernel.data -= 0.5
        with pytest.raises(RuntimeError, match=STALE):
            out.backward()


# ---------------------------------------------------------------------- copies give the right gradient


def test_editing_the_array_a_tensor_was_made_from_does_not_change_the_gradient():
    arr, w = rand(3), tc.Tensor(rand(3, seed=1), requires_grad=True)
    x = tc.Tensor(arr)                               # a copy (as torch.tensor)
    out = (x * w).sum()
    expected = arr.copy()
    arr[...] = 100.0
    out.backward()
    np.testing.assert_array_equal(w.grad, expected)
    assert tc.Tensor(arr, copy=False).data is arr    # copy=False shares (as torch.from_numpy)


def test_editing_a_plain_array_operand_labels_or_running_statistics_does_not_change_the_gradient():
    x = tc.Tensor(rand(2, 3), requires_grad=True)
    scale = rand(2, 3, seed=1)
    labels = np.array([0, 2])
    loss = F.cross_entropy(x * scale, labels)
    reference = tc.Tensor(x.data, requires_grad=True)
    F.cross_entropy(reference * scale.copy(), labels.copy()).backward()
    scale[...], labels[...] = 0.0, 1
    loss.backward()
    np.testing.assert_array_equal(x.grad, reference.grad)

    bn = nn.BatchNorm2D(3).eval()
    bn.moving_variance[...] = 4.0
    x = tc.Tensor(rand(2, 2, 2, 3), requires_grad=True)
    out = bn(x).sum()
    bn.moving_variance[...] = 100.0                  # a buffer: plain array, copied by the op
    out.backward()
    np.testing.assert_allclose(x.grad, np.full(x.shape, 1 / np.sqrt(4.0 + 1e-3)), rtol=1e-6)


# ---------------------------------------------------------------------- normal use never trips it


def test_normal_training_never_trips_the_check():
    model = pneumonia_net(input_shape=(16, 16, 1), seed=0)
    opt = AdamW(model.parameters(), lr=1e-3)
    x, y = rand(8, 16, 16, 1), (np.arange(8) % 2).astype(np.float32)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(tc.Tensor(x)).reshape(-1), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    # every step wrote each weight twice (AdamW: the decoupled decay, then the Adam update)
    assert {p.version for p in model.parameters()} == {6}


def test_a_graph_can_be_differentiated_twice_before_any_change():
    w = tc.Tensor(rand(3), requires_grad=True)
    out = (w * w).sum()
    out.backward()
    out.backward()                                   # nothing changed in between: allowed
    np.testing.assert_allclose(w.grad, 4 * w.data)


# ---------------------------------------------------------------------- a custom Function's mistakes


class TwoGradientsForOneInput(Function):
    """forward: y = 2x.  backward: (wrongly) two gradients.  shape: x's."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        return 2 * grad, 2 * grad


class GradientOfShape(Function):
    """forward: y = 2x.  backward: a gradient of the shape ctx.wanted.  shape: x's."""

    @staticmethod
    def forward(ctx, x, wanted):
        ctx.save(wanted=wanted)
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        return np.ones(ctx.wanted, grad.dtype)


CUSTOM_MISTAKES = {
    "too-many": (lambda x: TwoGradientsForOneInput.apply(x), (3,),
                 r"backward of TwoGradientsForOneInput returned 2 gradient\(s\) for its 1 input\(s\)"),
    "wrong-length": (lambda x: GradientOfShape.apply(x, wanted=(5,)), (3,),
                     r"backward of GradientOfShape returned a gradient of shape \(5,\) for input 0, "
                     r"whose shape is \(3,\)"),
    "axis-missing": (lambda x: GradientOfShape.apply(x, wanted=(3,)), (3, 1),
                     r"backward of GradientOfShape returned a gradient of shape \(3,\) for input 0, "
                     r"whose shape is \(3, 1\)"),
    "not-broadcastable": (lambda x: GradientOfShape.apply(x, wanted=(2, 4)), (3,),
                          r"gradient of shape \(2, 4\) for input 0, whose shape is \(3,\)"),
}


@pytest.mark.parametrize("case", CUSTOM_MISTAKES)
def test_a_backward_with_the_wrong_number_or_shape_of_gradients_is_refused(case):
    apply, shape, words = CUSTOM_MISTAKES[case]
    x = tc.Tensor(np.ones(shape), requires_grad=True)
    with pytest.raises(RuntimeError, match=words):
        apply(x).sum().backward()


def test_a_gradient_in_the_broadcast_shape_is_summed_back_not_refused():
    x = tc.Tensor(np.ones(3), requires_grad=True)
    GradientOfShape.apply(x, wanted=(2, 3)).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])
