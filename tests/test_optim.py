"""Optimizers: they minimise, they match PyTorch step for step, and they save/restore exactly."""

import math

import numpy as np
import pytest

import tinycnn as tc
from tinycnn.optim import SGD, Adam, AdamW, cosine_with_warmup

OPTIMIZERS = {
    "sgd": (lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
            lambda p, torch: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)),
    "adam": (lambda p: Adam(p, lr=0.05, weight_decay=0.01),
             lambda p, torch: torch.optim.Adam(p, lr=0.05, weight_decay=0.01)),
    "adamw": (lambda p: AdamW(p, lr=0.05, weight_decay=0.1),
              lambda p, torch: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1)),
}


def quadratic_loss(w, target):
    diff = w - target
    return (diff * diff).sum()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_minimises_a_quadratic(name):
    target = np.array([1.0, -2.0, 3.0])
    w = tc.Tensor(np.zeros(3), requires_grad=True)
    opt = OPTIMIZERS[name][0]([w])
    for _ in range(300):
        opt.zero_grad()
        quadratic_loss(w, target).backward()
        opt.step()
    # weight decay pulls a little towards 0, so ask for the loss to drop 50-fold, not to hit 0
    assert quadratic_loss(w, target).item() < quadratic_loss(tc.Tensor(np.zeros(3)), target).item() / 50


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_matches_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    start, target = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    w = tc.Tensor(start.copy(), requires_grad=True)
    tw = torch.tensor(start.copy(), requires_grad=True)
    ours, theirs = OPTIMIZERS[name][0]([w]), OPTIMIZERS[name][1]([tw], torch)
    for _ in range(10):
        ours.zero_grad()
        quadratic_loss(w, target).backward()
        ours.step()
        theirs.zero_grad()
        ((tw - torch.tensor(target)) ** 2).sum().backward()
        theirs.step()
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_resume_gives_identical_trajectory(name):
    target = np.array([0.5, -1.5])
    make = OPTIMIZERS[name][0]

    def run(steps, w, opt):
        for _ in range(steps):
            opt.zero_grad()
            quadratic_loss(w, target).backward()
            opt.step()

    w_full = tc.Tensor(np.zeros(2), requires_grad=True)
    run(8, w_full, make([w_full]))

    w_a = tc.Tensor(np.zeros(2), requires_grad=True)
    opt_a = make([w_a])
    run(5, w_a, opt_a)
    saved_w, saved_state = w_a.data.copy(), opt_a.state_dict()
    w_b = tc.Tensor(saved_w, requires_grad=True)
    opt_b = make([w_b])
    opt_b.load_state_dict(saved_state)
    run(3, w_b, opt_b)
    np.testing.assert_array_equal(w_b.data, w_full.data)


def test_cosine_schedule_with_warmup():
    lrs = [cosine_with_warmup(s, 100, 1.0, warmup_steps=10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[55] == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))           # decays monotonically
    assert cosine_with_warmup(100, 100, 1.0, 10, min_lr=0.01) == pytest.approx(0.01)


def test_bad_optimizer_arguments():
    w = tc.Tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(ValueError, match=r"SGD: lr must be in \(0, inf\), got -1"):
        SGD([w], lr=-1)
    with pytest.raises(ValueError, match="Adam: got an empty parameter list"):
        Adam([])
