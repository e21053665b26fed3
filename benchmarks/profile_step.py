"""Where a training step's time goes: each kernel's share of a tinycnn train step.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_step.py pneumonia_net 64

Runs forward (training mode) + binary cross-entropy + backward, as bench_models.py times it,
under cProfile, and prints the functions of tinycnn.kernels by their own time, as a share of
the step.  A Numba kernel's time is its own; a BLAS GEMM (``a @ b``, an operator cProfile does
not list) counts in the Python kernel function that calls it (e.g. pointwise_conv2d_forward).  cProfile adds a little time to
every Python call, so the shares, not the absolute milliseconds, are the result.
"""

import argparse
import cProfile
import os
import pstats
import time

import numpy as np

from tinycnn import functional as F
from tinycnn import models
from tinycnn.tensor import Tensor

#: model -> (input side, build keyword arguments), as bench_models.py builds them
SHAPES = {"pneumonia_net": (64, {}), "mobilenet_v1": (128, {"alpha": 0.5, "num_classes": 1}),
          "efficientnet_b0": (128, {"num_classes": 1})}


def train_step(model, x, y):
    model.zero_grad()
    F.binary_cross_entropy_with_logits(model(Tensor(x)).reshape(-1), y).backward()


def kernel_rows(stats, total):
    """(seconds, share, name) of every kernel function, largest first."""
    rows = []
    for (path, line, name), (_, _, own, _, _) in stats.stats.items():
        if os.sep + "kernels" + os.sep in path:
            rows.append((own, own / total, f"{os.path.basename(path)}:{name}"))
    return sorted(rows, reverse=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=sorted(SHAPES))
    parser.add_argument("batch", type=int)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    side, kwargs = SHAPES[args.model]
    model = models.build(args.model, input_shape=(side, side, 1), seed=0, **kwargs)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, side, side, 1)).astype(np.float32)
    y = (np.arange(args.batch) % 2).astype(np.float32)
    for _ in range(3):                                   # compile and warm up
        train_step(model, x, y)
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.runcall(lambda: [train_step(model, x, y) for _ in range(args.steps)])
    total = time.perf_counter() - start
    print(f"{args.model}, batch {args.batch}: {1000 * total / args.steps:.1f} ms per step under cProfile, "
          f"load average {os.getloadavg()[0]:.2f}")
    rows = kernel_rows(pstats.Stats(profile), total)
    for own, share, name in rows[:15]:
        print(f"{100 * share:5.1f}%  {1000 * own / args.steps:7.2f} ms  {name}")
    print(f"{100 * sum(r[1] for r in rows):5.1f}%  in all kernels; the rest is Python (autograd, layers, "
          "allocation) and NumPy outside the kernels")


if __name__ == "__main__":
    main()
