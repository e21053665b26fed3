"""Threading setup for the fast kernels; imported by every kernel module before any njit.

Two thread pools could share the cores: Numba's (``prange`` loops) and OpenBLAS's (the GEMMs
behind ``numpy @``).  A step takes turns between them: im2col in Numba, a GEMM, col2im in
Numba again.  Two traps (measurements: benchmarks/RESULTS.md, "Import order" and "Notes"):

1. Numba's OpenMP workers keep spinning after every parallel loop (libgomp's default: about
   300,000 iterations before they sleep, longer than the GEMM that follows).  A second
   OpenBLAS thread then fights a spinning worker for its core, and the GEMM becomes many
   times slower.  Which runtime spins depends on what was imported first: Numba's threads
   started by the user, or PyTorch's own libgomp (Numba's pool then calls into it, as the
   first runtime loaded with global symbols), cannot be changed afterwards.
2. For the thin GEMMs of these networks (a few MFLOP each, one per layer and pass), handing
   half of the work to a second OpenBLAS thread and back costs more than it gains (OpenBLAS
   wakes its own thread for every product, and that thread then meets trap 1).

So, whatever was imported first:

* NumPy's OpenBLAS gets **one thread** (``blas.set_blas_threads(1)``): it never starts a
  thread of its own, so trap 1 has nothing to fight.  The convolutions' GEMMs still use
  both cores: ``gemm.py`` splits the larger ones by rows over Numba's workers (the threads
  that are running anyway), each calling
  single-threaded BLAS on its block.  This is process-wide: NumPy's own ``@`` elsewhere in
  the program runs on one thread.
  Set ``OPENBLAS_NUM_THREADS`` to choose otherwise; above 1, if no OpenMP runtime is loaded
  yet, we also set ``OMP_WAIT_POLICY=PASSIVE`` (unless set; child processes inherit it), so
  that trap 1 cannot happen.
* Numba uses its **OpenMP layer** (``omp``) with the runtime's wait policy as it is: a worker
  still spinning from the last loop starts the next one at once (the cost: an idle worker
  spins briefly after each loop instead of sleeping, taking CPU from other programs).
  ``workqueue`` only where Numba has no OpenMP pool; ``NUMBA_THREADING_LAYER`` set by the
  user is kept (their call), and so is the layer of Numba threads started before tinycnn
  (e.g. ``tbb`` where it is installed): it cannot change.

``SETUP`` records what was found and done (tests check it for every import order);
``CHOSEN_LAYER`` is the layer Numba uses (or will use at its first parallel call).
"""

import os
from collections import namedtuple

import numba

from . import blas

#: layer: Numba's threading layer; blas_threads: what we set OpenBLAS's thread count to (None:
#: left alone); reason: why that layer.
ThreadSetup = namedtuple("ThreadSetup", "layer blas_threads reason")


def _started_layer():
    """The layer of Numba's already started threads, or None if none have started."""
    try:
        return numba.threading_layer()
    except ValueError:          # "Threading layer is not initialized": no parallel call yet
        return None


def _threaded_gemms():
    """True if the user asked OpenBLAS for more than one thread (OPENBLAS_NUM_THREADS > 1)."""
    try:
        return int(os.environ.get("OPENBLAS_NUM_THREADS", "1")) > 1
    except ValueError:
        return False


def _choose_layer():
    """(layer, reason), loading Numba's OpenMP pool now when it is the one."""
    started = _started_layer()
    if started is not None:                 # fixed for this process: kept (tbb, omp, workqueue)
        return started, "Numba's threads were started before tinycnn"
    if _threaded_gemms() and not blas.mapped_libraries("libgomp"):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # threaded GEMMs: no spinning workers
    if "NUMBA_THREADING_LAYER" in os.environ:
        return numba.config.THREADING_LAYER, "NUMBA_THREADING_LAYER set by the user"
    try:
        from numba.np.ufunc import omppool  # noqa: F401  (loads libgomp, which reads its policy now)
    except ImportError:
        return "workqueue", "Numba has no OpenMP pool here"
    return "omp", "Numba's OpenMP pool"


def _one_blas_thread():
    """1, or None when the user chose OPENBLAS_NUM_THREADS or NumPy's BLAS is not OpenBLAS."""
    if "OPENBLAS_NUM_THREADS" in os.environ:
        return None
    return None if blas.set_blas_threads(1) is None else 1


def _choose_setup():
    layer, reason = _choose_layer()
    return ThreadSetup(layer, _one_blas_thread(), reason)


SETUP = _choose_setup()
CHOSEN_LAYER = SETUP.layer
if _started_layer() is None:
    numba.config.THREADING_LAYER = CHOSEN_LAYER
