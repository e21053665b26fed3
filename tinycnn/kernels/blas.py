"""NumPy's BLAS (the library behind ``numpy @``): find it, read and set its thread count.

NumPy has no API for this, so we ask the library itself, as threadpoolctl does: find the
OpenBLAS that NumPy mapped into this process (``/proc/self/maps``, Linux) and call its own
``openblas_get_num_threads`` / ``openblas_set_num_threads`` through ctypes.  NumPy's wheels
ship OpenBLAS with prefixed, 64-bit-integer names (``scipy_openblas_get_num_threads64_``);
other builds use the plain names.  Where no OpenBLAS is found (MKL, Apple Accelerate, not
Linux) every function here returns None and changes nothing.

Used by ``_threads.py`` (which gives NumPy's OpenBLAS one thread unless
``OPENBLAS_NUM_THREADS`` is set, see there), by ``gemm.py`` (which splits the GEMMs over
Numba's threads, each calling OpenBLAS's cblas_sgemm)
and by the benchmarks (which report the library, its kernel and threads).
"""

import ctypes
import functools
import os

#: (prefix, suffix) of OpenBLAS's exported names: NumPy's wheels, 64-bit builds, plain builds
_NAME_FORMS = (("scipy_", "64_"), ("scipy_", "_64_"), ("", "64_"), ("", ""))


def mapped_libraries(word):
    """Paths of the files mapped into this process whose path contains ``word`` (any case;
    Linux's /proc/self/maps; an empty set elsewhere)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            return {line.split()[-1] for line in maps if word.lower() in line.lower() and "/" in line}
    except OSError:
        return set()


def openblas_paths():
    """Paths of the OpenBLAS libraries mapped into this process (Linux): NumPy's own first
    (a path that names numpy, e.g. ``site-packages/numpy.libs/``), then any other (SciPy's, ...)."""
    return sorted(mapped_libraries("openblas"), key=lambda path: ("numpy" not in path, path))


@functools.lru_cache(maxsize=None)
def openblas_function(name):
    """OpenBLAS's function ``name`` (e.g. "openblas_get_num_threads") from the library NumPy
    loaded, under whichever name form it exports; None if there is none.  Looked up once per
    name (the libraries mapped into the process do not change), so that asking the thread
    count before every GEMM costs one C call."""
    import numpy  # noqa: F401  (NumPy loads its OpenBLAS on import)
    for path in openblas_paths():
        library = ctypes.CDLL(path)
        for prefix, suffix in _NAME_FORMS:
            function = getattr(library, f"{prefix}{name}{suffix}", None)
            if function is not None:
                return function
    return None


def blas_threads():
    """How many threads NumPy's OpenBLAS uses for a GEMM; None if unknown."""
    get = openblas_function("openblas_get_num_threads")
    return None if get is None else int(get())


def set_blas_threads(n):
    """Give NumPy's OpenBLAS ``n`` threads; returns the count before, or None (no OpenBLAS)."""
    before = blas_threads()
    if before is not None:
        openblas_function("openblas_set_num_threads")(int(n))
    return before


def _text(name):
    """The string OpenBLAS's function ``name`` returns, or None (no such function, NULL)."""
    function = openblas_function(name)
    if function is None:
        return None
    function.restype = ctypes.c_char_p
    value = function()
    return None if value is None else value.decode()


def openblas_config():
    """OpenBLAS's build configuration ('OpenBLAS 0.3.31 USE64BITINT DYNAMIC_ARCH ...'), or None."""
    return _text("openblas_get_config")


def openblas_description():
    """'OpenBLAS 0.3.x kernel SkylakeX, 2 threads (libscipy_openblas64_-....so)', or None."""
    config, core = openblas_config(), _text("openblas_get_corename")
    if core is None or config is None:
        return None
    name = os.path.basename(openblas_paths()[0])
    return f"{config.split('  ')[0]} kernel {core}, {blas_threads()} threads ({name})"
