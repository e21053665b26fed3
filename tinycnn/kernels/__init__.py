"""Array kernels (NumPy / Numba).  They know nothing about Tensor or autograd.

The ops in ``tinycnn.functional`` call kernels only through ``tinycnn.kernels.active``,
chosen here in one place:

* ``TINYCNN_KERNELS=reference`` selects the plain reference loops (``reference.py``),
* otherwise the fast versions are used.

Every kernel module exposes the same function names with the same signatures.
"""

import os

from . import reference

KERNEL_BACKEND = os.environ.get("TINYCNN_KERNELS", "fast").lower()

if KERNEL_BACKEND == "reference":
    active = reference
elif KERNEL_BACKEND == "fast":
    from . import fast as active
else:
    raise ValueError(f"TINYCNN_KERNELS must be 'fast' or 'reference', got {KERNEL_BACKEND!r}")
