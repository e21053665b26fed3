"""The fast kernels under the reference names: ``tinycnn.kernels.active`` when not in
reference mode.  Same function names, signatures, return conventions and dtypes as
``reference.py``; the implementations live in one module per op family:

* ``conv.py``        standard convolution: im2col + GEMM in bounded chunks
* ``depthwise.py``   depthwise convolution: direct Numba loops vectorised over C
  (``depthwise_rows.py``: the stride-1 kernels, vectorised along a row's pixels x channels)
* ``pointwise.py``   1x1 convolution: one GEMM on the (N*H*W, C) view
* ``gemm.py``        the GEMMs of both, split by rows over Numba's threads (one BLAS call each)
* ``pool.py``        max / average / global average pooling
* ``elementwise.py`` relu, relu6, sigmoid, tanh, silu and the fused bias + activation epilogue
* ``batchnorm.py``   batch norm (single-pass statistics)
* ``fused.py``       batch norm + relu / relu6 / silu as one op (forward and backward)
* ``scale.py``       x * s with one s per image and channel (squeeze-excite), backward in one pass
* ``softmax.py``     softmax / log-softmax
* ``fastmath.py``    exp and sigmoid as plain arithmetic (vectorisable) for sigmoid / SiLU
* ``helpers.py``     the helpers they share (dtype, row views, tap ranges, partial-sum blocks)
* ``_threads.py``, ``blas.py``, ``allocator.py``: the thread pools and the memory allocator set
  up once, at import

Every function here has its twin of the same name and signature in ``reference.py``; the
tests check each pair against each other, and that the two modules export the same names.
"""

from . import _threads  # noqa: F401  (must come first: picks Numba's threading layer)
from ._threads import CHOSEN_LAYER  # noqa: F401
from . import allocator  # noqa: F401,E402  (glibc keeps freed big blocks for the next step)
from .batchnorm import (  # noqa: F401
    batch_norm_eval_backward,
    batch_norm_eval_forward,
    batch_norm_train_backward,
    batch_norm_train_forward,
    batch_norm_update_running,
)
from .conv import conv2d_backward_input, conv2d_backward_weight, conv2d_forward  # noqa: F401
from .depthwise import (  # noqa: F401
    depthwise_conv2d_backward_input,
    depthwise_conv2d_backward_weight,
    depthwise_conv2d_forward,
)
from .elementwise import (  # noqa: F401
    bias_activation_backward,
    bias_activation_forward,
    relu6_backward,
    relu6_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    silu_backward,
    silu_forward,
    tanh_backward,
    tanh_forward,
)
from .fused import (  # noqa: F401
    batch_norm_activation_eval_backward,
    batch_norm_activation_eval_forward,
    batch_norm_activation_train_backward,
    batch_norm_activation_train_forward,
)
from .pointwise import (  # noqa: F401
    pointwise_conv2d_backward_input,
    pointwise_conv2d_backward_weight,
    pointwise_conv2d_forward,
)
from .pool import (  # noqa: F401
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d_backward,
    global_avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from .scale import channel_scale_backward, channel_scale_forward  # noqa: F401
from .softmax import (  # noqa: F401
    log_softmax_backward,
    log_softmax_forward,
    softmax_backward,
    softmax_forward,
)
