"""Threading setup for the fast kernels: import this before any parallel Numba kernel runs.

Two thread pools share the cores here: Numba's (for ``prange`` loops) and OpenBLAS's
(for the GEMMs behind ``numpy @``).  They take turns: im2col in Numba, then a GEMM in
OpenBLAS, then col2im in Numba again.  With Numba's OpenMP threading layer the OpenMP
workers keep spinning for a while after every parallel region, so the OpenBLAS threads
that run next fight them for the same cores; on a 2-core machine that made im2col+GEMM
4-13x slower.

We therefore pick Numba's ``workqueue`` layer: it ships with every Numba build (no TBB
or libgomp needed) and its idle workers sleep on a condition variable instead of
spinning.  The layer is fixed the first time a parallel kernel launches, so this module
only sets ``numba.config.THREADING_LAYER`` and must be imported first (``fast.py`` and
every kernel module do).  A user who sets ``NUMBA_THREADING_LAYER`` explicitly keeps
their choice.
"""

import os

import numba

#: The layer we ask for when the user has not chosen one.
PREFERRED_LAYER = "workqueue"

if "NUMBA_THREADING_LAYER" in os.environ:
    CHOSEN_LAYER = numba.config.THREADING_LAYER
else:
    numba.config.THREADING_LAYER = PREFERRED_LAYER
    CHOSEN_LAYER = PREFERRED_LAYER


def parallel_blocks(n_items, per_thread=4):
    """How many blocks to split ``n_items`` independent rows into for per-thread partial sums."""
    return max(1, min(n_items, numba.get_num_threads() * per_thread))
