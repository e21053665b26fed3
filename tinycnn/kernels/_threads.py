"""Threading setup for the fast kernels; imported by every kernel module before any njit.

Two thread pools share the cores: Numba's (``prange`` loops) and OpenBLAS's (the GEMMs
behind ``numpy @``).  They take turns: im2col in Numba, a GEMM in OpenBLAS, col2im in
Numba again.  The trap: with Numba's OpenMP layer in its default (active) wait policy the
OpenMP workers keep spinning after every parallel region (libgomp spins about 300,000
times before it sleeps, longer than the GEMM that follows), so the OpenBLAS threads that
run next fight them for the same cores, and a GEMM right after a parallel loop becomes
many times slower (measurements: benchmarks/RESULTS.md).

libgomp reads its wait policy (``OMP_WAIT_POLICY``) once, when it is loaded, and Numba's
threading layer is fixed the first time a parallel region runs; after that neither can
change.  So what we can do depends on what happened before tinycnn was imported:

1. Numba's threads not started yet (the usual case): set ``OMP_WAIT_POLICY=PASSIVE``
   (unless the user set it) and load Numba's OpenMP pool now, so the runtime starts
   with it.  Idle OpenMP workers then sleep, OpenBLAS gets the cores.  If an OpenMP
   runtime is already in the process (``import torch`` brings PyTorch's own libgomp,
   and Numba's pool then calls into it, spinning; benchmarks/RESULTS.md, "Import
   order"), use the ``workqueue`` layer instead (its idle workers sleep too; a launch
   costs a little more), unless ``OMP_WAIT_POLICY=PASSIVE`` was set before anything
   was loaded (then that runtime sleeps too, and ``omp`` is kept).  The same when the
   user asked for spinning threads (another ``OMP_WAIT_POLICY``): ``workqueue``.  ``NUMBA_THREADING_LAYER`` set by the user is kept (their call).
2. Numba's threads already started with spinning OpenMP workers (e.g. the user ran
   ``import numba; numba.set_num_threads(2)`` before ``import tinycnn``): the spinning
   workers keep every core but the calling thread's busy right after each parallel
   loop, so a second GEMM thread only fights them.  We give NumPy's OpenBLAS one thread
   (``blas.set_blas_threads(1)``): the GEMM runs undisturbed on the calling thread.

``SETUP`` records what was found and done (tests check it for every import order);
``CHOSEN_LAYER`` is the layer Numba uses (or will use at its first parallel call).
"""

import os
import sys
from collections import namedtuple

import numba

from . import blas

_OMP_POOL = "numba.np.ufunc.omppool"

#: layer: Numba's threading layer; openmp_spins: OpenMP workers spin after a parallel loop;
#: blas_threads: what we set OpenBLAS's thread count to (None: left alone); reason: why.
ThreadSetup = namedtuple("ThreadSetup", "layer openmp_spins blas_threads reason")


def _libgomp_paths():
    """The OpenMP runtimes (libgomp) mapped into this process (Linux; empty elsewhere)."""
    try:
        with open("/proc/self/maps") as maps:
            return {line.split()[-1] for line in maps if "libgomp" in line}
    except OSError:
        return set()


def _started_layer():
    """The layer of Numba's already started threads, or None if none have started."""
    try:
        return numba.threading_layer()
    except ValueError:          # "Threading layer is not initialized": no parallel call yet
        return None


def _load_openmp_pool(user_policy):
    """Load Numba's OpenMP pool with a passive wait policy; True if its workers would spin.

    If any OpenMP runtime is in the process already (PyTorch's own libgomp, say), Numba's
    pool may bind to it: the dynamic linker resolves ``GOMP_parallel`` to the first runtime
    loaded with global symbols, which started with the policy of then (the user's)."""
    passive_from_start = (user_policy or "").upper() == "PASSIVE"
    if _OMP_POOL in sys.modules or _libgomp_paths():
        return not passive_from_start
    policy = os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from numba.np.ufunc import omppool  # noqa: F401  (loads libgomp, which reads the policy now)
    return policy.upper() != "PASSIVE"


def _setup_before_start(user_policy):
    """Case 1 of the module docstring: choose the layer Numba will start."""
    if "NUMBA_THREADING_LAYER" in os.environ:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        return ThreadSetup(numba.config.THREADING_LAYER, None, None, "NUMBA_THREADING_LAYER set by the user")
    try:
        spins = _load_openmp_pool(user_policy)
    except ImportError:
        return ThreadSetup("workqueue", False, None, "Numba has no OpenMP pool here")
    if spins:
        return ThreadSetup("workqueue", False, None,
                           "Numba's OpenMP runtime would spin (loaded earlier, or OMP_WAIT_POLICY not PASSIVE)")
    return ThreadSetup("omp", False, None, "OpenMP runtime started with OMP_WAIT_POLICY=PASSIVE")


def _setup_after_start(layer, user_policy):
    """Case 2 of the module docstring: Numba's threads are running; adapt OpenBLAS."""
    if layer != "omp" or (user_policy or "").upper() == "PASSIVE":
        return ThreadSetup(layer, False, None, f"Numba's threads started before tinycnn ({layer}, idle workers sleep)")
    if blas.set_blas_threads(1) is None:
        return ThreadSetup(layer, True, None, "OpenMP workers spin and NumPy's BLAS is not OpenBLAS: left alone")
    return ThreadSetup(layer, True, 1, "Numba's OpenMP workers were started spinning before tinycnn: "
                                       "OpenBLAS given 1 thread so its GEMMs do not fight them")


def _choose_setup():
    user_policy = os.environ.get("OMP_WAIT_POLICY")
    started = _started_layer()
    if started is None:
        return _setup_before_start(user_policy)
    return _setup_after_start(started, user_policy)


SETUP = _choose_setup()
CHOSEN_LAYER = SETUP.layer
if _started_layer() is None:
    numba.config.THREADING_LAYER = CHOSEN_LAYER
