"""Batch norm + activation as one op (kernels/fused.py, F.batch_norm_activation, the fusion in
Sequential and MBConv).

- the fast fused kernels give bit for bit what the fast batch norm kernel followed by the fast
  activation kernel gives (forward, backward, training and evaluation mode), and agree with
  their reference twins, which are exactly the reference composition;
- F.batch_norm_activation == F.activate(F.batch_norm(...)): outputs, gradients and running
  statistics, bit for bit; gradient-checked in float64; equal to PyTorch;
- Sequential and MBConv fuse each BatchNorm2D + ReLU / ReLU6 / Swish pair and give the numbers
  of the layers run one by one; a Grad-CAM cut between the two layers still cuts there.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycnn as tc
import tinycnn.functional as F
from gradcheck import check_gradients
from tinycnn import nn
from tinycnn.kernels import fast
from tinycnn.kernels import reference as ref
from tinycnn.nn.containers import fusable_pairs, fuses_with, run_pair

ACTIVATIONS = ["relu", "relu6", "silu"]
#: the fast activation kernels the fused ones must reproduce: name -> (forward, backward)
FAST_ACTIVATION = {"relu": (fast.relu_forward, fast.relu_backward),
                   "relu6": (fast.relu6_forward, fast.relu6_backward),
                   "silu": (fast.silu_forward, fast.silu_backward)}
SEEDS = st.integers(0, 2**16)
EPS = 1e-3


@st.composite
def bn_shape(draw):
    """(N, H, W, C) with N = 1, H*W = 1 and C = 1 all possible, or a flat (N, C)."""
    n, h, w, c = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 7))
    return (n * h, c) if draw(st.booleans()) else (n, h, w, c)


def batch_norm_inputs(rng, shape, dtype=np.float32):
    """x, gamma, beta, dy, running mean and variance, scaled so that z = BN(x) reaches past 0
    and past 6 (both kinks of relu6)."""
    c = shape[-1]

    def draw(*s, scale=1.0, offset=0.0):
        return (scale * rng.standard_normal(s) + offset).astype(dtype)
    return dict(x=draw(*shape, scale=3, offset=1), gamma=draw(c, scale=3), beta=draw(c, offset=1),
                dy=draw(*shape), running_mean=draw(c, offset=1),
                running_var=rng.uniform(0.5, 9, c).astype(dtype))


def assert_identical(got, want):
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def close(got, want):
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * (1 + np.abs(w).max(initial=0)))


# ----------------------------------------------------------------------------- kernels


@settings(deadline=None)
@given(bn_shape(), st.sampled_from(ACTIVATIONS), SEEDS)
def test_fast_fused_training_kernels_equal_the_separate_kernels_bit_for_bit(shape, activation, seed):
    a = batch_norm_inputs(np.random.default_rng(seed), shape)
    act_forward, act_backward = FAST_ACTIVATION[activation]
    y, mean, var, scale = fast.batch_norm_activation_train_forward(a["x"], a["gamma"], a["beta"], EPS, activation)
    z, mean2, var2 = fast.batch_norm_train_forward(a["x"], a["gamma"], a["beta"], EPS)
    assert_identical((y, mean, var), (act_forward(z), mean2, var2))
    got = fast.batch_norm_activation_train_backward(a["dy"], a["x"], a["gamma"], a["beta"], mean, var, scale,
                                                    EPS, activation)
    want = fast.batch_norm_train_backward(act_backward(a["dy"], z), a["x"], a["gamma"], mean, var, EPS)
    assert_identical(got, want)


@settings(deadline=None)
@given(bn_shape(), st.sampled_from(ACTIVATIONS), SEEDS)
def test_fast_fused_evaluation_kernels_equal_the_separate_kernels_bit_for_bit(shape, activation, seed):
    a = batch_norm_inputs(np.random.default_rng(seed), shape)
    act_forward, act_backward = FAST_ACTIVATION[activation]
    stats = (a["gamma"], a["beta"], a["running_mean"], a["running_var"], EPS)
    y = fast.batch_norm_activation_eval_forward(a["x"], *stats, activation)
    z = fast.batch_norm_eval_forward(a["x"], *stats)
    assert_identical([y], [act_forward(z)])
    got = fast.batch_norm_activation_eval_backward(a["dy"], a["x"], *stats, activation)
    want = fast.batch_norm_eval_backward(act_backward(a["dy"], z), a["x"], a["gamma"], a["running_mean"],
                                         a["running_var"], EPS)
    assert_identical(got, want)


@settings(deadline=None)
@given(bn_shape(), st.sampled_from(ACTIVATIONS), st.sampled_from([np.float32, np.float64]), SEEDS)
def test_fast_fused_kernels_agree_with_their_reference_twins(shape, activation, dtype, seed):
    a = batch_norm_inputs(np.random.default_rng(seed), shape, dtype)
    a64 = {k: v.astype(np.float64) for k, v in a.items()}
    y, mean, var, scale = fast.batch_norm_activation_train_forward(a["x"], a["gamma"], a["beta"], EPS, activation)
    assert y.dtype == dtype
    ry, rmean, rvar, rscale = ref.batch_norm_activation_train_forward(a64["x"], a64["gamma"], a64["beta"], EPS,
                                                                      activation)
    close((y, mean, var, scale), (ry, rmean, rvar, rscale))
    got = fast.batch_norm_activation_train_backward(a["dy"], a["x"], a["gamma"], a["beta"], mean, var, scale,
                                                    EPS, activation)
    want = ref.batch_norm_activation_train_backward(a64["dy"], a64["x"], a64["gamma"], a64["beta"], rmean, rvar,
                                                    rscale, EPS, activation)
    close(got, want)
    stats, stats64 = ([d[k] for k in ("gamma", "beta", "running_mean", "running_var")] for d in (a, a64))
    close([fast.batch_norm_activation_eval_forward(a["x"], *stats, EPS, activation)],
          [ref.batch_norm_activation_eval_forward(a64["x"], *stats64, EPS, activation)])
    close(fast.batch_norm_activation_eval_backward(a["dy"], a["x"], *stats, EPS, activation),
          ref.batch_norm_activation_eval_backward(a64["dy"], a64["x"], *stats64, EPS, activation))


@pytest.mark.nojit
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fast_fused_kernels_equal_their_reference_twins_without_jit(activation):
    """One fixed (2, 3, 3, 4) input, training and evaluation, forward and backward (also run
    with NUMBA_DISABLE_JIT=1)."""
    a = batch_norm_inputs(np.random.default_rng(11), (2, 3, 3, 4))
    a64 = {k: v.astype(np.float64) for k, v in a.items()}
    y, mean, var, scale = fast.batch_norm_activation_train_forward(a["x"], a["gamma"], a["beta"], EPS, activation)
    want = ref.batch_norm_activation_train_forward(a64["x"], a64["gamma"], a64["beta"], EPS, activation)
    close((y, mean, var, scale), want)
    close(fast.batch_norm_activation_train_backward(a["dy"], a["x"], a["gamma"], a["beta"], mean, var, scale,
                                                    EPS, activation),
          ref.batch_norm_activation_train_backward(a64["dy"], a64["x"], a64["gamma"], a64["beta"], *want[1:],
                                                   EPS, activation))
    stats, stats64 = ([d[k] for k in ("gamma", "beta", "running_mean", "running_var")] for d in (a, a64))
    close([fast.batch_norm_activation_eval_forward(a["x"], *stats, EPS, activation)],
          [ref.batch_norm_activation_eval_forward(a64["x"], *stats64, EPS, activation)])
    close(fast.batch_norm_activation_eval_backward(a["dy"], a["x"], *stats, EPS, activation),
          ref.batch_norm_activation_eval_backward(a64["dy"], a64["x"], *stats64, EPS, activation))


REFERENCE_ACTIVATION = {"relu": (ref.relu_forward, ref.relu_backward),
                        "relu6": (ref.relu6_forward, ref.relu6_backward),
                        "silu": (ref.silu_forward, ref.silu_backward)}


@settings(deadline=None)
@given(bn_shape(), st.sampled_from(ACTIVATIONS), SEEDS)
def test_reference_twins_are_the_reference_batch_norm_then_the_reference_activation(shape, activation, seed):
    a = {k: v.astype(np.float64) for k, v in batch_norm_inputs(np.random.default_rng(seed), shape).items()}
    act_forward, act_backward = REFERENCE_ACTIVATION[activation]
    y, mean, var, scale = ref.batch_norm_activation_train_forward(a["x"], a["gamma"], a["beta"], EPS, activation)
    z, mean2, var2 = ref.batch_norm_train_forward(a["x"], a["gamma"], a["beta"], EPS)
    assert_identical((y, mean, var), (act_forward(z), mean2, var2))
    np.testing.assert_array_equal(scale, a["gamma"] / np.sqrt(var + EPS))
    assert_identical(ref.batch_norm_activation_train_backward(a["dy"], a["x"], a["gamma"], a["beta"], mean, var,
                                                              scale, EPS, activation),
                     ref.batch_norm_train_backward(act_backward(a["dy"], z), a["x"], a["gamma"], mean, var, EPS))
    stats = (a["gamma"], a["beta"], a["running_mean"], a["running_var"], EPS)
    ze = ref.batch_norm_eval_forward(a["x"], *stats)
    assert_identical([ref.batch_norm_activation_eval_forward(a["x"], *stats, activation)], [act_forward(ze)])
    assert_identical(ref.batch_norm_activation_eval_backward(a["dy"], a["x"], *stats, activation),
                     ref.batch_norm_eval_backward(act_backward(a["dy"], ze), a["x"], a["gamma"],
                                                  a["running_mean"], a["running_var"], EPS))


@pytest.mark.parametrize("kernels", [fast, ref], ids=["fast", "reference"])
def test_an_activation_the_kernels_do_not_fuse_is_refused_by_name(kernels):
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"batch_norm_activation: activation must be one of "
                                         r"\['relu', 'relu6', 'silu'\], got 'tanh'"):
        kernels.batch_norm_activation_train_forward(x, np.ones(3), np.zeros(3), EPS, "tanh")


# ----------------------------------------------------------------------------- the op


def op_and_composition(a, training, activation, momentum=0.9):
    """(fused output, separate output, fused running stats, separate running stats, gradients of both)."""
    results = []
    for fused in (True, False):
        rm, rv = a["running_mean"].copy(), a["running_var"].copy()
        x, g, b = (tc.Tensor(a[k].copy(), requires_grad=True) for k in ("x", "gamma", "beta"))
        if fused:
            y = F.batch_norm_activation(x, g, b, rm, rv, training, activation, momentum=momentum, eps=EPS)
        else:
            y = F.activate(F.batch_norm(x, g, b, rm, rv, training, momentum=momentum, eps=EPS), activation)
        y.backward(a["dy"])
        results.append((y.data, rm, rv, x.grad, g.grad, b.grad))
    return results


@settings(deadline=None)
@given(bn_shape(), st.booleans(), st.sampled_from(ACTIVATIONS + ["swish"]), SEEDS)
def test_the_op_equals_batch_norm_then_the_activation_bit_for_bit(shape, training, activation, seed):
    a = batch_norm_inputs(np.random.default_rng(seed), shape)
    if training and np.prod(shape[:-1]) < 2:
        shape = (2, *shape[1:])
        a = batch_norm_inputs(np.random.default_rng(seed), shape)
    fused, separate = op_and_composition(a, training, activation)
    assert_identical(fused, separate)                    # y, running mean and var, dx, dgamma, dbeta
    if training:
        assert not np.array_equal(fused[1], a["running_mean"])     # the statistics did move
    else:
        assert_identical(fused[1:3], (a["running_mean"], a["running_var"]))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("training", [True, False])
@settings(deadline=None, max_examples=10)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), SEEDS)
def test_batch_norm_activation_gradients(activation, training, n, h, w, c, seed):
    if training and n * h * w < 2:
        n = 2
    a = {k: v.astype(np.float64) for k, v in batch_norm_inputs(np.random.default_rng(seed), (n, h, w, c)).items()}
    rm, rv = a["running_mean"], a["running_var"]
    check_gradients(lambda x, g, b: F.batch_norm_activation(x, g, b, rm, rv, training, activation),
                    a["x"], a["gamma"], a["beta"], rtol=1e-4, atol=1e-6)


def test_bad_arguments_are_refused_naming_the_op():
    x, v = np.ones((2, 2, 2, 3), np.float32), np.ones(3, np.float32)
    with pytest.raises(ValueError, match=r"batch_norm_activation: activation must be one of "
                                         r"\['relu', 'relu6', 'silu', 'swish'\], got 'sigmoid'"):
        F.batch_norm_activation(x, v, v, v.copy(), v.copy(), True, "sigmoid")
    with pytest.raises(ValueError, match=r"batch_norm_activation: gamma must have shape \(3,\) for an input "
                                         r"with 3 channels, got \(2,\)"):
        F.batch_norm_activation(x, v[:2], v, v.copy(), v.copy(), True, "relu")
    with pytest.raises(ValueError, match=r"batch_norm_activation: training needs more than one value"):
        F.batch_norm_activation(x[:1, :1, :1], v, v, v.copy(), v.copy(), True, "relu")
    with pytest.raises(ValueError, match=r"batch_norm_activation: momentum must be in \[0, 1\), got 1.0"):
        F.batch_norm_activation(x, v, v, v.copy(), v.copy(), True, "relu", momentum=1.0)


# ----------------------------------------------------------------------------- PyTorch


TORCH_ACTIVATION = {"relu": "relu", "relu6": "relu6", "silu": "silu"}


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_activation_matches_torch(activation, training):
    torch = pytest.importorskip("torch")
    a = batch_norm_inputs(np.random.default_rng(7), (4, 5, 6, 3))
    (y, rm, rv, dx, dgamma, dbeta), _ = op_and_composition(a, training, activation, momentum=0.9)

    def nchw(array):
        return torch.tensor(np.ascontiguousarray(array.transpose(0, 3, 1, 2)), requires_grad=True)
    tx = nchw(a["x"])
    tg, tb = (torch.tensor(a[k], requires_grad=True) for k in ("gamma", "beta"))
    trm, trv = torch.tensor(a["running_mean"]), torch.tensor(a["running_var"])
    tz = torch.nn.functional.batch_norm(tx, trm, trv, tg, tb, training=training, momentum=0.1, eps=EPS)
    ty = getattr(torch.nn.functional, TORCH_ACTIVATION[activation])(tz)     # torch momentum = 1 - ours
    ty.backward(torch.tensor(a["dy"].transpose(0, 3, 1, 2).copy()))
    tol = dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), **tol)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), **tol)
    np.testing.assert_allclose(dgamma, tg.grad.numpy(), **tol)
    np.testing.assert_allclose(dbeta, tb.grad.numpy(), **tol)
    np.testing.assert_allclose(rm, trm.numpy(), **tol)
    np.testing.assert_allclose(rv, trv.numpy(), **tol)


# ----------------------------------------------------------------------------- the layers


def small_net(seed=0):
    """conv, BN, ReLU | conv, BN, ReLU6 | BN, Swish | GAP, Dense: three fusable pairs."""
    return nn.Sequential([
        nn.Conv2D(2, 4, 3, padding="same", use_bias=False, rng=seed), nn.BatchNorm2D(4), nn.ReLU(),
        nn.Conv2D(4, 5, 3, strides=2, padding="same", use_bias=False, rng=seed + 1), nn.BatchNorm2D(5),
        nn.ReLU6(), nn.BatchNorm2D(5), nn.Swish(), nn.GlobalAveragePooling2D(), nn.Dense(5, 3, rng=seed + 2),
    ], input_shape=(6, 6, 2))


def run_one_by_one(model, x):
    for layer in model.layers:
        x = layer(x)
    return x


def outputs_and_gradients(model, run, x, dy):
    """Output, parameter gradients and running statistics after one forward/backward with ``run``."""
    model.zero_grad()
    out = run(model, tc.Tensor(x))
    out.backward(dy)
    return ([out.data] + [p.grad.copy() for p in model.parameters()]
            + [b.copy() for b in model.buffers()])


def test_fusable_pairs_are_each_batch_norm_directly_followed_by_relu_relu6_or_swish():
    assert fusable_pairs(small_net().layers) == [1, 4, 6]

    class LoudReLU(nn.ReLU):           # a subclass may change forward: never fused
        pass
    layers = [nn.BatchNorm2D(3), LoudReLU(), nn.BatchNorm2D(3), nn.Sigmoid(), nn.ReLU(), nn.BatchNorm2D(3)]
    assert fusable_pairs(layers) == []


@pytest.mark.parametrize("training", [True, False])
def test_a_fused_sequential_gives_the_numbers_of_its_layers_run_one_by_one(training):
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((3, 6, 6, 2)).astype(np.float32), rng.standard_normal((3, 3)).astype(np.float32)
    fused, separate = small_net().train(training), small_net().train(training)
    got = outputs_and_gradients(fused, lambda m, t: m(t), x, dy)
    want = outputs_and_gradients(separate, run_one_by_one, x, dy)
    assert len(got) == len(want) == 1 + 10 + 6        # output, 10 parameters, 6 buffers
    assert_identical(got, want)


@pytest.mark.parametrize("expand_ratio", [1, 3])
def test_a_fused_mbconv_gives_the_numbers_of_its_layers_run_one_by_one(expand_ratio):
    def block():
        return nn.MBConv(4, 4, 3, 1, expand_ratio, rng=0, name="block")

    def by_hand(m, x):
        h = x
        if m.expand_conv is not None:
            h = m.expand_activation(m.expand_bn(m.expand_conv(h)))
        h = m.se(m.activation(m.bn(m.dwconv(h))))
        return m.project_bn(m.project_conv(h)) + x
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((2, 5, 5, 4)).astype(np.float32), rng.standard_normal((2, 5, 5, 4)).astype(np.float32)
    assert_identical(outputs_and_gradients(block(), lambda m, t: m(t), x, dy),
                     outputs_and_gradients(block(), by_hand, x, dy))


@pytest.mark.parametrize("index", [1, 2, 4, 6, 7])
def test_split_forward_cuts_where_asked_also_between_a_batch_norm_and_its_activation(index):
    model = small_net().eval()
    x = np.random.default_rng(3).standard_normal((2, 6, 6, 2)).astype(np.float32)
    with tc.no_grad():
        expected_a = run_one_by_one(model[:index + 1], tc.Tensor(x)).data
        expected_logits = run_one_by_one(model, tc.Tensor(x)).data
    (A,), logits = model.split_forward(x, index)
    np.testing.assert_array_equal(A.data, expected_a)      # at 1, 4, 6: the batch norm's output
    np.testing.assert_array_equal(logits.data, expected_logits)
    (grad,) = tc.grad(logits[:, 0].sum(), [A])
    A2 = tc.Tensor(expected_a, requires_grad=True)
    (want,) = tc.grad(run_one_by_one(model[index + 1:], A2)[:, 0].sum(), [A2])
    np.testing.assert_array_equal(grad, want)


def test_a_fused_batch_norm_layer_still_refuses_a_wrong_input_by_its_name():
    bn = nn.BatchNorm2D(3, name="bn")
    model = nn.Sequential([bn, nn.ReLU()])
    for x, message in [(np.ones((2, 4, 4, 2), np.float32), r"'bn': expected input with 3 channels, got 2"),
                       (np.ones(3, np.float32), r"'bn': expected input with a channel axis, got shape \(3,\)")]:
        with pytest.raises(ValueError, match=message) as fused_error:
            model(tc.Tensor(x))
        with pytest.raises(ValueError) as layer_error:
            bn(tc.Tensor(x))
        assert str(fused_error.value) == str(layer_error.value)


class DoubledSwish(nn.Swish):
    """A Swish subclass whose forward differs: the fusion must run it, not the fused silu."""

    def forward(self, x):
        return super().forward(x) * 2.0


@pytest.mark.parametrize("replacement", [DoubledSwish, nn.Sigmoid])
def test_an_mbconv_runs_an_activation_it_cannot_fuse_as_that_layer(replacement):
    def block():
        m = nn.MBConv(4, 4, 3, 1, 3, rng=0, name="block")
        m.expand_activation, m.activation = replacement(), replacement()
        return m

    def by_hand(m, x):
        h = m.expand_activation(m.expand_bn(m.expand_conv(x)))
        h = m.se(m.activation(m.bn(m.dwconv(h))))
        return m.project_bn(m.project_conv(h)) + x
    rng = np.random.default_rng(4)
    x, dy = rng.standard_normal((2, 5, 5, 4)).astype(np.float32), rng.standard_normal((2, 5, 5, 4)).astype(np.float32)
    got = outputs_and_gradients(block(), lambda m, t: m(t), x, dy)
    assert_identical(got, outputs_and_gradients(block(), by_hand, x, dy))
    plain = outputs_and_gradients(nn.MBConv(4, 4, 3, 1, 3, rng=0, name="block"), lambda m, t: m(t), x, dy)
    assert not np.array_equal(got[0], plain[0])          # the replacement did change the numbers


@pytest.mark.parametrize("activation, fused", [(nn.Swish, True), (DoubledSwish, False), (nn.Sigmoid, False)])
def test_run_pair_fuses_only_what_fuses_with_allows_and_gives_the_two_layers_numbers(activation, fused):
    bn, act = nn.BatchNorm2D(3), activation()
    assert fuses_with(bn, act) is fused
    x = tc.Tensor(np.random.default_rng(5).standard_normal((2, 3, 3, 3)).astype(np.float32))
    with tc.no_grad():
        np.testing.assert_array_equal(run_pair(bn.eval(), act, x).data, act(bn(x)).data)
        np.testing.assert_array_equal(nn.Sequential([bn, act])(x).data, act(bn(x)).data)


def test_the_batch_norm_layer_and_the_fused_pair_check_their_input_with_one_method(monkeypatch):
    seen = []
    monkeypatch.setattr(nn.BatchNorm2D, "check_input", lambda self, x: seen.append((self.name, x.shape)))
    bn = nn.BatchNorm2D(3, name="bn").eval()
    x = tc.Tensor(np.ones((2, 2, 2, 3), np.float32))
    bn(x)
    nn.Sequential([bn, nn.ReLU()])(x)
    assert seen == [("bn", (2, 2, 2, 3))] * 2
