"""The stride-1 row kernels of the depthwise convolution (kernels/depthwise_rows.py) with
short row segments, so that rows of a few pixels are cut into several segments and the
3x3 window's nine-taps-at-once path meets segment and image borders; against the reference."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tinycnn.kernels import depthwise_rows as rows
from tinycnn.kernels import reference as ref


@settings(deadline=None, max_examples=40)
@given(N=st.integers(1, 2), H=st.integers(1, 8), W=st.integers(1, 11), C=st.integers(1, 5),
       KH=st.integers(1, 5), KW=st.integers(1, 5), sh=st.integers(1, 3),
       pads=st.tuples(*[st.integers(0, 3)] * 4), seg=st.integers(1, 3), seed=st.integers(0, 99))
def test_rows_match_reference_with_short_segments(N, H, W, C, KH, KW, sh, pads, seg, seed):
    top, bottom, left, right = pads
    Ho, Wo = (H + top + bottom - KH) // sh + 1, W + left + right - KW + 1
    if H + top + bottom < KH or Wo < 1:
        return
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((N, H, W, C)), rng.standard_normal((KH, KW, C))
    dy = rng.standard_normal((N, Ho, Wo, C))
    explicit = ((top, bottom), (left, right))
    y = rows.forward_rows(x, w, sh, top, left, np.empty((N, Ho, Wo, C)), segment=seg * C)
    np.testing.assert_allclose(y, ref.depthwise_conv2d_forward(x, w, (sh, 1), explicit), rtol=1e-12, atol=1e-12)
    dw = rows.backward_weight_rows(dy, x, w.shape, sh, top, left, 3, segment=seg * C)
    np.testing.assert_allclose(dw, ref.depthwise_conv2d_backward_weight(dy, x, w.shape, (sh, 1), explicit),
                               rtol=1e-12, atol=1e-12)


@settings(deadline=None, max_examples=25)
@given(N=st.integers(1, 3), H=st.integers(3, 13), W=st.integers(1, 9), C=st.integers(1, 4),
       pads=st.tuples(*[st.integers(0, 2)] * 4), seg=st.integers(1, 4), n_blocks=st.integers(1, 5),
       seed=st.integers(0, 99))
def test_3x3_row_groups_match_reference(N, H, W, C, pads, seg, n_blocks, seed):
    """3x3 stride 1 with images of 3..13 rows: groups of four and two rows at once (forward)
    and of four (weight gradient) meet image, block and segment borders."""
    top, bottom, left, right = pads
    Ho, Wo = H + top + bottom - 2, W + left + right - 2
    if Wo < 1:
        return
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((N, H, W, C)), rng.standard_normal((3, 3, C))
    dy = rng.standard_normal((N, Ho, Wo, C))
    explicit = ((top, bottom), (left, right))
    y = rows.forward_rows(x, w, 1, top, left, np.empty((N, Ho, Wo, C)), segment=seg * C)
    np.testing.assert_allclose(y, ref.depthwise_conv2d_forward(x, w, (1, 1), explicit), rtol=1e-12, atol=1e-12)
    dw = rows.backward_weight_rows(dy, x, w.shape, 1, top, left, n_blocks, segment=seg * C)
    np.testing.assert_allclose(dw, ref.depthwise_conv2d_backward_weight(dy, x, w.shape, (1, 1), explicit),
                               rtol=1e-12, atol=1e-12)
