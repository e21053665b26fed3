"""Array kernels (NumPy / Numba).  They know nothing about Tensor or autograd.

The ops in ``tinycnn.functional`` call kernels only through ``tinycnn.kernels.active``,
chosen here in one place:

* ``TINYCNN_KERNELS=reference`` selects the plain reference loops (``reference.py``),
* ``TINYCNN_KERNELS=fast`` (or unset) selects the fast Numba twins (``fast.py``),
* any other value is an error, raised when this package is imported.

``active`` is loaded on first use (a module ``__getattr__``, PEP 562), so importing
``tinycnn.kernels`` or ``tinycnn.kernels.reference`` does not load Numba; only code that
asks for the active kernels (the ops in ``functional``) does.

``fast.py`` and ``reference.py`` export the same kernel names with the same signatures
(a test checks it).
"""

import os

from . import reference  # noqa: F401  (NumPy only: cheap, and always there)

BACKENDS = ("fast", "reference")

KERNEL_BACKEND = os.environ.get("TINYCNN_KERNELS", "fast").lower()

if KERNEL_BACKEND not in BACKENDS:
    raise ValueError(f"TINYCNN_KERNELS must be 'fast' or 'reference', got {KERNEL_BACKEND!r}")


def __getattr__(name):
    """``tinycnn.kernels.active``: the kernel module TINYCNN_KERNELS chose, imported now."""
    if name != "active":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if KERNEL_BACKEND == "reference":
        module = reference
    else:
        from . import fast as module
    globals()["active"] = module          # later look-ups find it without this function
    return module
