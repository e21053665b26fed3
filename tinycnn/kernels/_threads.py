"""Threading setup for the fast kernels; imported by every kernel module before any njit.

Two thread pools share the cores: Numba's (``prange`` loops) and OpenBLAS's (the GEMMs
behind ``numpy @``).  They take turns: im2col in Numba, a GEMM in OpenBLAS, col2im in
Numba again.  The trap: with Numba's OpenMP layer in its default (active) wait policy the
OpenMP workers keep spinning after every parallel region, so the OpenBLAS threads that
run next fight them for the same cores, and a GEMM right after a parallel loop becomes
many times slower (measurements: benchmarks/RESULTS.md, "Notes moved out of code comments").

What we choose, in order:

1. ``NUMBA_THREADING_LAYER`` set by the user: kept as it is (their call).
2. Numba's ``omp`` layer with ``OMP_WAIT_POLICY=PASSIVE``: idle OpenMP workers sleep
   instead of spinning, so OpenBLAS gets the cores, and a parallel launch stays cheap.
   libgomp reads the policy once, when it is loaded, so we set the variable
   (unless the user set it) and load Numba's OpenMP pool right away.  Only possible if no
   libgomp is in the process yet: PyTorch, for one, ships its own ``libgomp.so.1``, and
   Numba's pool would share that already-initialised (spinning) runtime when torch was
   imported first.
3. Otherwise ``workqueue``: ships with every Numba and its idle workers sleep too, but a
   launch costs more than with ``omp`` and it aborts if two Python threads launch kernels
   at once.

The layer is fixed the first time a parallel kernel runs, so this module only sets
``numba.config.THREADING_LAYER``; ``CHOSEN_LAYER`` records the choice (tests check that
``numba.threading_layer()`` equals it after a parallel call).
"""

import os
import sys

import numba

_OMP_POOL = "numba.np.ufunc.omppool"


def _libgomp_loaded():
    """True if an OpenMP runtime (libgomp) is already mapped into this process (Linux)."""
    try:
        with open("/proc/self/maps") as maps:
            return any("libgomp" in line for line in maps)
    except OSError:             # not Linux: no way to tell, assume not
        return False


def _choose_layer():
    if "NUMBA_THREADING_LAYER" in os.environ:
        return numba.config.THREADING_LAYER
    passive_from_start = os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
    if _OMP_POOL in sys.modules or _libgomp_loaded():
        # libgomp is already initialised: its wait policy can no longer be changed.
        return "omp" if passive_from_start else "workqueue"
    policy = os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if policy.upper() != "PASSIVE":
        return "workqueue"      # the user asked for spinning OpenMP threads: avoid the trap
    try:
        from numba.np.ufunc import omppool  # noqa: F401  (loads libgomp with the policy set)
    except ImportError:
        return "workqueue"
    return "omp"


CHOSEN_LAYER = _choose_layer()
numba.config.THREADING_LAYER = CHOSEN_LAYER
