"""How fast can two Numba threads move the bytes of a layer?  A bound for memory-bound kernels.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/copy_bandwidth.py

A depthwise or thin pointwise forward reads its input once and writes its output once; a
plain parallel copy of the same number of bytes, in the same threading setup as tinycnn's
kernels (2 Numba threads), is what such a kernel could at best approach with ordinary
stores.  Prints the median of 31 calls for the shapes quoted in the README's speed section:
batch 32 of 64x64x16 (8.4 MB) copied to an array of the same size, and to one twice as large
(the 64x64x16->32 pointwise forward writes 16.8 MB).
"""

import numpy as np
from numba import njit, prange

import _harness as H
import tinycnn.kernels.fast  # noqa: F401  (the same thread setup as the kernels)


@njit(parallel=True, cache=True)
def parallel_copy(src, dst, offset):
    """dst[offset + k] = src[k], split into 64 blocks over the threads."""
    n = src.size
    for b in prange(64):
        for k in range(b * n // 64, (b + 1) * n // 64):
            dst[offset + k] = src[k]


def main():
    x = np.random.default_rng(0).standard_normal(32 * 64 * 64 * 16).astype(np.float32)
    same, double = np.empty_like(x), np.empty(2 * x.size, np.float32)
    mb = x.nbytes / 1e6
    once = H.median_ms(lambda: parallel_copy(x, same, 0), 1, 31)      # 1 warm-up: compiles
    twice = H.median_ms(lambda: (parallel_copy(x, double, 0), parallel_copy(x, double, x.size)), 1, 31)
    print(f"read {mb:.1f} MB, write {mb:.1f} MB: {once:.2f} ms")
    print(f"read {mb:.1f} MB (twice), write {2 * mb:.1f} MB: {twice:.2f} ms")


if __name__ == "__main__":
    main()
