"""Optimizers and learning-rate schedules.

Each optimizer updates a list of Tensors in place from their ``.grad``:

* SGD with momentum:  v = mu * v + g;            w -= lr * v
  (weight decay adds lambda * w to g first: L2 regularisation)
* Adam:               m = b1 m + (1 - b1) g;     v = b2 v + (1 - b2) g^2
                      m_hat = m / (1 - b1^t);    v_hat = v / (1 - b2^t)
                      w -= lr * m_hat / (sqrt(v_hat) + eps)
  (weight decay adds lambda * w to g: coupled, as the original Adam + L2)
* AdamW:              Adam on g, plus a decoupled decay w -= lr * lambda * w
  (Loshchilov & Hutter: the decay is not rescaled by the adaptive denominator)

``state_dict()`` / ``load_state_dict()`` save and restore the moments and the step
count, so a resumed run continues exactly where the killed one stopped.

Every hyper-parameter is checked when the optimizer is made (lr > 0, weight_decay >= 0,
momentum and betas in [0, 1), eps > 0, all finite), naming the optimizer and the argument.
An update writes into each weight's array through ``p.data -= ...``, which counts as an
in-place change (the tensor's version goes up): a graph built before a step refuses to
backpropagate, because its gradients would belong to the old weights.
"""

import math

import numpy as np

from .kernels.arguments import as_real
from .tensor import Tensor


class Optimizer:
    def __init__(self, params, lr, weight_decay=0.0):
        name = type(self).__name__
        self.params = [p for p in params]
        if not self.params:
            raise ValueError(f"{name}: got an empty parameter list")
        for index, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: params must be Tensors (e.g. model.parameters()), got "
                                f"{type(p).__name__} at position {index}")
        self.lr = as_real(lr, "lr", name, 0, low_open=True)
        self.weight_decay = as_real(weight_decay, "weight_decay", name, 0)
        self.step_count = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.step_count += 1
        for index, p in enumerate(self.params):
            if p.grad is not None:
                self.update(index, p)

    def update(self, index, p):
        raise NotImplementedError

    # ---- saving and restoring (for checkpoints) ----
    def state_arrays(self):
        """name -> list of per-parameter arrays that make up the optimizer's memory."""
        return {}

    def state_dict(self):
        state = {"step_count": np.array(self.step_count), "lr": np.array(self.lr)}
        for name, arrays in self.state_arrays().items():
            for index, array in enumerate(arrays):
                state[f"{name}.{index}"] = array.copy()
        return state

    def load_state_dict(self, state):
        """Restore what ``state_dict`` saved; every entry is checked before anything changes."""
        owner = f"{type(self).__name__}.load_state_dict"
        for key in ("step_count", "lr"):
            if key not in state or np.shape(state[key]) != ():
                raise ValueError(f"{owner}: {key} expected a single number, got "
                                 f"{np.shape(state[key]) if key in state else 'nothing'}")
        step_count, lr = int(state["step_count"]), as_real(float(state["lr"]), "lr", owner, 0)   # 0: a schedule's end
        for name, arrays in self.state_arrays().items():
            for index, array in enumerate(arrays):
                key = f"{name}.{index}"
                if key not in state or np.shape(state[key]) != array.shape:
                    got = np.shape(state[key]) if key in state else "nothing"
                    raise ValueError(f"{owner}: {key} expected shape {array.shape}, got {got}")
        self.step_count, self.lr = step_count, lr
        for name, arrays in self.state_arrays().items():
            for index, array in enumerate(arrays):
                array[...] = state[f"{name}.{index}"]


class SGD(Optimizer):
    """Stochastic gradient descent with (optional) momentum and L2 weight decay."""

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = as_real(momentum, "momentum", "SGD", 0, 1, high_open=True)
        self.velocity = [np.zeros_like(p.data) for p in self.params]

    def update(self, index, p):
        g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
        v = self.velocity[index]
        v *= self.momentum
        v += g
        p.data -= self.lr * v

    def state_arrays(self):
        return {"velocity": self.velocity}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias-corrected first and second moments."""

    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1 = as_real(betas[0], "betas[0]", name, 0, 1, high_open=True)
        self.beta2 = as_real(betas[1], "betas[1]", name, 0, 1, high_open=True)
        self.eps = as_real(eps, "eps", name, 0, low_open=True)
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def update(self, index, p):
        g = p.grad
        if self.weight_decay and not self.decoupled_weight_decay:
            g = g + self.weight_decay * p.data
        m, v = self.m[index], self.v[index]
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        m_hat = m / (1 - self.beta1 ** self.step_count)
        v_hat = v / (1 - self.beta2 ** self.step_count)
        if self.weight_decay and self.decoupled_weight_decay:
            p.data -= self.lr * self.weight_decay * p.data
        p.data -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(p.data.dtype)

    def state_arrays(self):
        return {"m": self.m, "v": self.v}


class AdamW(Adam):
    """Adam with decoupled weight decay (the decay skips the adaptive scaling)."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


def cosine_with_warmup(step, total_steps, base_lr, warmup_steps=0, min_lr=0.0):
    """Learning rate at a step: linear warm-up from base_lr / warmup_steps to base_lr, then

        lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * progress)) / 2,
        progress = (step - warmup_steps) / (total_steps - warmup_steps)  in [0, 1].
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr + (base_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
