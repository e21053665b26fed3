"""Keep freed memory for the next step: glibc's malloc told not to hand big blocks back at once.

A training step allocates the same large arrays every time (activations, im2col chunks,
gradients: megabytes each) and frees them at its end.  By default glibc serves a block of
more than 128 KiB (a threshold it raises, up to 32 MiB, as it sees such blocks freed) with
its own ``mmap`` and unmaps it on ``free``, and it returns the free top of the heap to the
kernel once more than twice that is free.  The next step then gets fresh pages, and the
kernel zero-fills each one at its first touch: a "minor page fault" per 4 KiB page, which
for these arrays costs about as much time as the arithmetic (benchmarks/RESULTS.md,
"Allocator").  The cure is to reuse the buffers: here the allocator does it.

``keep_freed_memory()`` calls glibc's ``mallopt`` once, at import of the fast kernels:

* ``M_MMAP_THRESHOLD`` = 64 MiB (32 MiB where an older glibc refuses more): blocks below it
  come from the heap, so a freed one is reused by the next allocation of that size (blocks
  above it, rarer, are still mapped and unmapped);
* ``M_TRIM_THRESHOLD`` = 256 MiB: up to that much free memory stays in the process.

The cost, for the whole process (every malloc in it, NumPy's and PyTorch's too): freed memory,
up to 256 MiB at the top of the heap, stays in the process instead of going back to the system.
Not done when the user set ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or a malloc
threshold in ``GLIBC_TUNABLES`` (their choice), with ``TINYCNN_MALLOC=default`` (any other
value but unset or "keep" is an error), or where the C library is not glibc (macOS, Windows,
musl: their allocators behave differently).
``SETUP`` says what was done.
"""

import ctypes
import os
import platform

#: glibc's mallopt parameter numbers (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 64 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024
USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory():
    """Set glibc's thresholds (module docstring); returns a sentence saying what was done."""
    choice = os.environ.get("TINYCNN_MALLOC", "").lower()
    if choice not in ("", "keep", "default"):
        raise ValueError(f"TINYCNN_MALLOC must be 'default' (glibc's own thresholds) or unset, got {choice!r}")
    if choice == "default":
        return "left alone: TINYCNN_MALLOC=default"
    chosen = [name for name in USER_VARIABLES if name in os.environ]
    if "threshold" in os.environ.get("GLIBC_TUNABLES", ""):
        chosen.append("GLIBC_TUNABLES")
    if chosen:
        return f"left alone: {', '.join(chosen)} set by the user"
    if platform.libc_ver()[0] != "glibc":
        return "left alone: the C library is not glibc"
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    mmap_bytes = next((size for size in (MMAP_THRESHOLD_BYTES, MMAP_THRESHOLD_BYTES // 2)
                       if mallopt(M_MMAP_THRESHOLD, size)), None)
    if mmap_bytes is None or not mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES):
        return "left alone: glibc refused mallopt"
    return (f"glibc keeps freed blocks: mmap threshold {mmap_bytes >> 20} MiB, "
            f"trim threshold {TRIM_THRESHOLD_BYTES >> 20} MiB")


SETUP = keep_freed_memory()
