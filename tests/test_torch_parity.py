"""Forward values and gradients agree with PyTorch (float32, 1e-4) when torch is installed."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinycnn as tc
import tinycnn.functional as F
from tinycnn.kernels.shapes import as_pair, resolve_padding

torch = pytest.importorskip("torch")
tF = torch.nn.functional

TOL = dict(rtol=1e-4, atol=1e-4)


def nchw(a):
    return torch.tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), requires_grad=True)


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def torch_pad(t, pads):
    (top, bottom), (left, right) = pads
    return tF.pad(t, (left, right, top, bottom))


@st.composite
def conv_case(draw):
    n, h, w, c = draw(st.integers(1, 3)), draw(st.integers(3, 12)), draw(st.integers(3, 12)), draw(st.integers(1, 5))
    k = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same", 1]))
    return (n, h, w, c), k, stride, padding, draw(st.integers(0, 2**16))


def run_ours(fn, *arrays):
    tensors = [tc.Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    return out, tensors


@given(conv_case(), st.integers(1, 6))
def test_conv2d_matches_torch(case, filters):
    shape, k, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((k, k, shape[3], filters)).astype(np.float32)
    b = rng.standard_normal(filters).astype(np.float32)
    y, (xt, wt, bt) = run_ours(lambda x, w, b: F.conv2d(x, w, b, stride, padding), x, w, b)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)

    pads = resolve_padding(padding, shape[1:3], (k, k), as_pair(stride, "s", "t"))
    tx, tw, tb = nchw(x), torch.tensor(w.transpose(3, 2, 0, 1).copy(), requires_grad=True), torch.tensor(b, requires_grad=True)
    ty = tF.conv2d(torch_pad(tx, pads), tw, tb, stride=stride)
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(y.data, nhwc(ty), **TOL)
    np.testing.assert_allclose(xt.grad, nhwc(tx.grad), **TOL)
    np.testing.assert_allclose(wt.grad, tw.grad.numpy().transpose(2, 3, 1, 0), **TOL)
    np.testing.assert_allclose(bt.grad, tb.grad.numpy(), **TOL)


@given(conv_case())
def test_depthwise_conv2d_matches_torch_groups(case):
    shape, k, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    c = shape[3]
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((k, k, c)).astype(np.float32)
    y, (xt, wt) = run_ours(lambda x, w: F.depthwise_conv2d(x, w, stride=stride, padding=padding), x, w)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)

    pads = resolve_padding(padding, shape[1:3], (k, k), as_pair(stride, "s", "t"))
    tx = nchw(x)
    tw = torch.tensor(w.transpose(2, 0, 1)[:, None].copy(), requires_grad=True)   # (C, 1, K, K)
    ty = tF.conv2d(torch_pad(tx, pads), tw, stride=stride, groups=c)
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(y.data, nhwc(ty), **TOL)
    np.testing.assert_allclose(xt.grad, nhwc(tx.grad), **TOL)
    np.testing.assert_allclose(wt.grad, tw.grad.numpy()[:, 0].transpose(1, 2, 0), **TOL)


def test_pointwise_matches_torch_1x1():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 5, 7)).astype(np.float32)
    w = rng.standard_normal((7, 4)).astype(np.float32)
    y, (xt, wt) = run_ours(F.pointwise_conv2d, x, w)
    y.sum().backward()
    tx, tw = nchw(x), torch.tensor(w.T[:, :, None, None].copy(), requires_grad=True)
    ty = tF.conv2d(tx, tw)
    ty.sum().backward()
    np.testing.assert_allclose(y.data, nhwc(ty), **TOL)
    np.testing.assert_allclose(xt.grad, nhwc(tx.grad), **TOL)
    np.testing.assert_allclose(wt.grad, tw.grad.numpy()[:, :, 0, 0].T, **TOL)


@pytest.mark.parametrize("size, stride", [(2, 2), (3, 2), (3, 1)])
def test_pools_match_torch(size, stride):
    rng = np.random.default_rng(size * 10 + stride)
    x = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
    for ours, theirs in ((F.max_pool2d, tF.max_pool2d), (F.avg_pool2d, tF.avg_pool2d)):
        y, (xt,) = run_ours(lambda x: ours(x, size, stride), x)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        y.backward(dy)
        tx = nchw(x)
        ty = theirs(tx, size, stride)
        ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
        np.testing.assert_allclose(y.data, nhwc(ty), **TOL)
        np.testing.assert_allclose(xt.grad, nhwc(tx.grad), **TOL)


def test_global_avg_pool_matches_torch():
    x = np.random.default_rng(4).standard_normal((3, 7, 7, 5)).astype(np.float32)
    y, (xt,) = run_ours(F.global_avg_pool2d, x)
    (y * y).sum().backward()
    tx = nchw(x)
    ty = tF.adaptive_avg_pool2d(tx, 1).flatten(1)
    (ty * ty).sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **TOL)
    np.testing.assert_allclose(xt.grad, nhwc(tx.grad), **TOL)


def test_batch_norm_train_and_eval_match_torch():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((4, 5, 5, 3)) * 3 + 2).astype(np.float32)
    gamma, beta = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y, (xt, gt, bt) = run_ours(lambda x, g, b: F.batch_norm(x, g, b, rm, rv, training=True, momentum=0.9, eps=1e-3),
                               x, gamma, beta)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)

    tx = nchw(x)
    tg, tb = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    trm, trv = torch.zeros(3), torch.ones(3)
    ty = tF.batch_norm(tx, trm, trv, tg, tb, training=True, momentum=0.1, eps=1e-3)   # torch momentum = 1 - ours
    ty.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(y.data, nhwc(ty), **TOL)
    np.testing.assert_allclose(xt.grad, nhwc(tx.grad), **TOL)
    np.testing.assert_allclose(gt.grad, tg.grad.numpy(), **TOL)
    np.testing.assert_allclose(bt.grad, tb.grad.numpy(), **TOL)
    np.testing.assert_allclose(rm, trm.numpy(), **TOL)
    np.testing.assert_allclose(rv, trv.numpy(), **TOL)

    y_eval = F.batch_norm(x, gamma, beta, rm, rv, training=False, eps=1e-3)
    ty_eval = tF.batch_norm(nchw(x), trm, trv, torch.tensor(gamma), torch.tensor(beta), training=False, eps=1e-3)
    np.testing.assert_allclose(y_eval.data, nhwc(ty_eval), **TOL)


def test_cross_entropy_matches_torch():
    rng = np.random.default_rng(6)
    logits = (rng.standard_normal((6, 4)) * 3).astype(np.float32)
    labels = rng.integers(0, 4, 6)
    weight = rng.uniform(0.5, 2, 4).astype(np.float32)
    for wt in (None, weight):
        loss, (lt,) = run_ours(lambda z: F.cross_entropy(z, labels, weight=wt), logits)
        loss.backward()
        tl = torch.tensor(logits, requires_grad=True)
        tloss = tF.cross_entropy(tl, torch.tensor(labels), weight=None if wt is None else torch.tensor(wt))
        tloss.backward()
        np.testing.assert_allclose(loss.item(), tloss.item(), **TOL)
        np.testing.assert_allclose(lt.grad, tl.grad.numpy(), **TOL)


@pytest.mark.parametrize("pos_weight", [None, 2.9])
def test_binary_cross_entropy_matches_torch_even_at_1000(pos_weight):
    logits = np.array([1000.0, -1000.0, 0.3, -2.0, 1000.0, -1000.0], dtype=np.float32)
    targets = np.array([1, 0, 1, 0, 0, 1], dtype=np.float32)
    loss, (lt,) = run_ours(lambda z: F.binary_cross_entropy_with_logits(z, targets, pos_weight=pos_weight), logits)
    loss.backward()
    tl = torch.tensor(logits, requires_grad=True)
    tloss = tF.binary_cross_entropy_with_logits(
        tl, torch.tensor(targets), pos_weight=None if pos_weight is None else torch.tensor(pos_weight))
    tloss.backward()
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    np.testing.assert_allclose(lt.grad, tl.grad.numpy(), **TOL)


@pytest.mark.parametrize("name", ["relu", "relu6", "sigmoid", "tanh", "silu", "softmax", "log_softmax"])
def test_activations_match_torch(name):
    x = (np.random.default_rng(7).standard_normal((4, 9)) * 5).astype(np.float32)
    y, (xt,) = run_ours(getattr(F, name), x)
    (y * y).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    theirs = {"relu": tF.relu, "relu6": tF.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "silu": tF.silu,
              "softmax": lambda t: tF.softmax(t, -1), "log_softmax": lambda t: tF.log_softmax(t, -1)}[name]
    ty = theirs(tx)
    (ty * ty).sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **TOL)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), **TOL)
