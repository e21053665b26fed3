"""Bad and unusual inputs to the learning core (tensors, ops, layers, models, optimizers,
load_state_dict): each gets either a clear error naming the culprit, the expected and the
actual value, or the correct answer (an empty batch gives an empty output, as in PyTorch).

Two tables: REFUSED (the exception type and the words it must contain) and ACCEPTED (what
the call must return).  The in-place / version-counter cases are in test_inplace.py.
"""

import math

import numpy as np
import pytest

import tinycnn as tc
import tinycnn.functional as F
from tinycnn import nn
from tinycnn.models import efficientnet_b0, mobilenet_v1, pneumonia_net, vgg_like
from tinycnn.optim import SGD, Adam, AdamW

pytestmark = pytest.mark.nojit   # also run with NUMBA_DISABLE_JIT=1 in CI


def f32(*shape):
    return np.ones(shape, dtype=np.float32)


def weight(*shape):
    return tc.Tensor(f32(*shape), requires_grad=True)


def load(state):
    """load_state_dict of a 3 -> 2 Dense layer named 'head' with this state."""
    return nn.Dense(3, 2, name="head").load_state_dict(state)


GOOD_DENSE_STATE = {"kernel": np.zeros((3, 2)), "bias": np.zeros(2)}

# (the call, the exception it must raise, the words its message must contain: a regex)
REFUSED = {
    # ------------------------------------------------------------------ tensors and backward
    "tensor-of-strings": (lambda: tc.Tensor(np.array(["a"])), TypeError,
                          r"Tensor: expected real numbers, got an array of dtype <U1"),
    "backward-without-grad": (lambda: tc.Tensor([1.0]).backward(), RuntimeError,
                              r"backward\(\): this tensor does not require grad"),
    "backward-grad-shape": (lambda: (weight(3) * 2).backward(np.ones(4)), ValueError,
                            r"backward\(\): grad has shape \(4,\), tensor has \(3,\)"),
    "backward-non-scalar": (lambda: (weight(3) * 2).backward(), RuntimeError,
                            r"grad must be given for a non-scalar output of shape \(3,\)"),
    "reshape-wrong-size": (lambda: tc.Tensor(np.ones(12)).reshape(5), ValueError,
                           r"reshape: a tensor of shape \(12,\) \(12 values\) cannot be viewed as shape \(5,\)"),
    "matmul-inner-sizes": (lambda: tc.Tensor(np.ones((2, 3))) @ tc.Tensor(np.ones((4, 2))), ValueError,
                           r"matmul: shapes \(2, 3\) and \(4, 2\) do not fit: the first has 3 columns, "
                           r"the second 4 rows"),
    # ------------------------------------------------------------------ ops: padding, stride, dtype
    "conv2d-float-padding": (lambda: F.conv2d(f32(1, 5, 5, 1), f32(3, 3, 1, 1), padding=((1.5, 1), (1, 1))),
                             ValueError, r"conv2d: padding must be whole numbers of pixels \(ints\), "
                                         r"got \(\(1.5, 1\), \(1, 1\)\)"),
    "conv2d-bool-padding": (lambda: F.conv2d(f32(1, 5, 5, 1), f32(3, 3, 1, 1), padding=True),
                            ValueError, r"conv2d: padding must be 'valid', 'same', an int, .* got True"),
    "max_pool-float-padding": (lambda: F.max_pool2d(f32(1, 4, 4, 1), padding=((0.5, 0), (0, 0))),
                               ValueError, r"max_pool2d: padding must be whole numbers of pixels"),
    "depthwise-float-stride": (lambda: F.depthwise_conv2d(f32(1, 5, 5, 1), f32(3, 3, 1), stride=1.5),
                               ValueError, r"depthwise_conv2d: stride must be an int or a pair of ints, got 1.5"),
    "conv2d-bool-stride": (lambda: F.conv2d(f32(1, 5, 5, 1), f32(3, 3, 1, 1), stride=True),
                           ValueError, r"conv2d: stride must be an int or a pair of ints, got True"),
    "conv2d-int32-weight": (lambda: F.conv2d(f32(1, 5, 5, 1), np.ones((3, 3, 1, 1), np.int32)),
                            TypeError, r"conv2d: weight must hold floats \(float32 or float64\), got dtype int32"),
    "linear-int64-input": (lambda: F.linear(np.ones((2, 3), np.int64), f32(3, 2)),
                           TypeError, r"linear: x must hold floats .* got dtype int64"),
    # ------------------------------------------------------------------ ops: memory bounds, before allocating
    "conv2d-padding-1e6": (lambda: F.conv2d(f32(1, 5, 5, 1), f32(3, 3, 1, 1), padding=10**6), ValueError,
                           r"conv2d: the padded input would have shape \(1, 2000005, 2000005, 1\), "
                           r"4,000,020,000,025 values .* more than the limit of 2,147,483,648"),
    "conv2d-output-too-large": (lambda: F.conv2d(f32(1, 2048, 2048, 1), f32(1, 1, 1, 1024)), ValueError,
                                r"conv2d: the output would have shape \(1, 2048, 2048, 1024\), "
                                r"4,294,967,296 values \(16.0 GiB as float32\)"),
    "avg_pool-padding-1e6": (lambda: F.avg_pool2d(f32(1, 5, 5, 1), size=3, padding=10**6), ValueError,
                             r"avg_pool2d: the padded input would have shape \(1, 2000005, 2000005, 1\)"),
    "conv2d-kernel-beyond-padded-input": (lambda: F.conv2d(f32(1, 2, 2, 1), f32(5, 5, 1, 1), padding=1), ValueError,
                                          r"conv2d: kernel height 5 is larger than the padded input height 4 "
                                          r"\(input 2 \+ padding \(1, 1\)\)"),
    # ------------------------------------------------------------------ ops: hyper-parameters, empty batches
    "batch_norm-eps-0": (lambda: F.batch_norm(f32(2, 2, 2, 3), f32(3), f32(3), f32(3), f32(3), True, eps=0),
                         ValueError, r"batch_norm: eps must be in \(0, inf\), got 0"),
    "batch_norm-momentum-1": (lambda: F.batch_norm(f32(2, 2, 2, 3), f32(3), f32(3), f32(3), f32(3), True,
                                                   momentum=1.0),
                              ValueError, r"batch_norm: momentum must be in \[0, 1\), got 1.0"),
    "batch_norm-train-empty-batch": (lambda: F.batch_norm(f32(0, 4, 4, 3), f32(3), f32(3), f32(3), f32(3), True),
                                     ValueError, r"batch_norm: training needs more than one value per channel "
                                                 r".* got input shape \(0, 4, 4, 3\)"),
    "cross_entropy-empty-batch": (lambda: F.cross_entropy(f32(0, 3), np.zeros(0, np.int64)), ValueError,
                                  r"cross_entropy: logits is empty \(shape \(0, 3\).*mean loss over zero examples"),
    "bce-empty-batch": (lambda: F.binary_cross_entropy_with_logits(f32(0, 1), np.zeros((0, 1))), ValueError,
                        r"binary_cross_entropy_with_logits: logits is empty \(shape \(0, 1\)"),
    "bce-pos_weight-string": (lambda: F.binary_cross_entropy_with_logits(f32(2), np.ones(2), pos_weight="2"),
                              TypeError, r"binary_cross_entropy_with_logits: pos_weight must be a number "
                                         r"in \(0, inf\), got '2' \(str\)"),
    "cross_entropy-negative-class-weight": (lambda: F.cross_entropy(f32(2, 2), np.array([0, 1]), weight=[1.0, -1.0]),
                                            ValueError, r"cross_entropy: weight must be finite and >= 0"),
    "dropout-rate-negative": (lambda: F.dropout(f32(3), -0.1, training=True), ValueError,
                              r"dropout: rate must be in \[0, 1\), got -0.1"),
    "dropout-rate-string": (lambda: F.dropout(f32(3), "0.5", training=True), TypeError,
                            r"dropout: rate must be a number in \[0, 1\), got '0.5' \(str\)"),
    # ------------------------------------------------------------------ layers
    "Conv2D-float-filters": (lambda: nn.Conv2D(3, 3.7, 3), TypeError,
                             r"Conv2D: filters must be an integer >= 1, got 3.7 \(float\)"),
    "Conv2D-zero-filters": (lambda: nn.Conv2D(3, 0, 3), ValueError, r"Conv2D: filters must be >= 1, got 0"),
    "Conv2D-negative-filters-named": (lambda: nn.Conv2D(3, -4, 3, name="stem"), ValueError,
                                      r"Conv2D 'stem': filters must be >= 1, got -4"),
    "Conv2D-bool-channels": (lambda: nn.Conv2D(True, 4, 3), TypeError,
                             r"Conv2D: in_channels must be an integer >= 1, got True \(bool\)"),
    "Conv2D-kernel-0": (lambda: nn.Conv2D(3, 4, 0), ValueError, r"Conv2D: kernel_size must be >= 1, got 0"),
    "Conv2D-strides-0": (lambda: nn.Conv2D(3, 4, 3, strides=0), ValueError, r"Conv2D: strides must be >= 1, got 0"),
    "Conv2D-float-padding": (lambda: nn.Conv2D(3, 4, 3, padding=((1.5, 1), (1, 1))), ValueError,
                             r"Conv2D: padding must be whole numbers of pixels"),
    "Conv2D-unknown-padding": (lambda: nn.Conv2D(3, 4, 3, padding="full"), ValueError,
                               r"Conv2D: unknown padding 'full'"),
    "Conv2D-huge-weight": (lambda: nn.Conv2D(4096, 4096, 64, name="big"), ValueError,
                           r"Conv2D 'big': the weight 'kernel' would have shape \(64, 64, 4096, 4096\), "
                           r"68,719,476,736 values"),
    "DepthwiseConv2D-float-multiplier": (lambda: nn.DepthwiseConv2D(3, 3, depth_multiplier=1.5), TypeError,
                                         r"DepthwiseConv2D: depth_multiplier must be an integer >= 1, got 1.5"),
    "DepthwiseConv2D-repeat-too-large": (lambda: nn.DepthwiseConv2D(1, 3, depth_multiplier=2**19, name="dw")(
        tc.Tensor(f32(1, 128, 64, 1))), ValueError,
        r"DepthwiseConv2D 'dw': the input repeated depth_multiplier times would have shape \(1, 128, 64, 524288\)"),
    "DepthwiseConv2D-zero-channels": (lambda: nn.DepthwiseConv2D(0, 3), ValueError,
                                      r"DepthwiseConv2D: in_channels must be >= 1, got 0"),
    "SeparableConv2D-multiplier-0": (lambda: nn.SeparableConv2D(3, 4, 3, depth_multiplier=0), ValueError,
                                     r"SeparableConv2D: depth_multiplier must be >= 1, got 0"),
    "PointwiseConv2D-float-filters": (lambda: nn.PointwiseConv2D(3, 2.0), TypeError,
                                      r"PointwiseConv2D: filters must be an integer >= 1, got 2.0"),
    "BatchNorm2D-epsilon-0": (lambda: nn.BatchNorm2D(3, epsilon=0), ValueError,
                              r"BatchNorm2D: epsilon must be in \(0, inf\), got 0"),
    "BatchNorm2D-epsilon-negative": (lambda: nn.BatchNorm2D(3, epsilon=-1e-3), ValueError,
                                     r"BatchNorm2D: epsilon must be in \(0, inf\), got -0.001"),
    "BatchNorm2D-momentum-1": (lambda: nn.BatchNorm2D(3, momentum=1), ValueError,
                               r"BatchNorm2D: momentum must be in \[0, 1\), got 1"),
    "BatchNorm2D-momentum-negative": (lambda: nn.BatchNorm2D(3, momentum=-0.1, name="bn"), ValueError,
                                      r"BatchNorm2D 'bn': momentum must be in \[0, 1\), got -0.1"),
    "BatchNorm2D-zero-channels": (lambda: nn.BatchNorm2D(0), ValueError, r"BatchNorm2D: channels must be >= 1, got 0"),
    "Dense-zero-units": (lambda: nn.Dense(4, 0), ValueError, r"Dense: units must be >= 1, got 0"),
    "Dense-float-features": (lambda: nn.Dense(4.0, 2), TypeError, r"Dense: in_features must be an integer >= 1"),
    "Dense-huge": (lambda: nn.Dense(10**6, 10**6), ValueError,
                   r"Dense: the weight 'kernel' would have shape \(1000000, 1000000\)"),
    "Dropout-rate-1": (lambda: nn.Dropout(1.0), ValueError, r"Dropout: rate must be in \[0, 1\), got 1.0"),
    "Dropout-rate-nan": (lambda: nn.Dropout(float("nan")), ValueError, r"Dropout: rate must be in \[0, 1\), got nan"),
    "MaxPool2D-size-0": (lambda: nn.MaxPool2D(0), ValueError, r"MaxPool2D: pool_size must be >= 1, got 0"),
    "MBConv-float-expand": (lambda: nn.MBConv(16, 16, 3, 1, 1.5), TypeError,
                            r"MBConv: expand_ratio must be an integer >= 1, got 1.5"),
    "MBConv-se_ratio-1.5": (lambda: nn.MBConv(16, 16, 3, 1, 1, se_ratio=1.5), ValueError,
                            r"MBConv: se_ratio must be in \[0, 1\], got 1.5"),
    "predict-batch-0": (lambda: nn.Sequential([nn.Dense(3, 1)]).predict(f32(2, 3), batch_size=0), ValueError,
                        r"predict: batch_size must be >= 1, got 0"),
    # ------------------------------------------------------------------ models
    "mobilenet-alpha-0.01": (lambda: mobilenet_v1(alpha=0.01), ValueError,
                             r"mobilenet_v1: alpha=0.01 leaves layer 'conv1' with no filters "
                             r"\(int\(32 \* 0.01\) = 0\); "
                             r"alpha must be >= 1/32 = 0.03125"),
    "mobilenet-alpha-100": (lambda: mobilenet_v1(alpha=100), ValueError,
                            r"mobilenet_v1: alpha must be in \(0, 8\], got 100"),
    "mobilenet-float-depth-multiplier": (lambda: mobilenet_v1(depth_multiplier=1.5), TypeError,
                                         r"mobilenet_v1: depth_multiplier must be an integer >= 1, got 1.5"),
    "mobilenet-input-too-small": (lambda: mobilenet_v1(input_shape=(16, 16, 3)), ValueError,
                                  r"mobilenet_v1: input_shape \(16, 16, 3\) is too small: the network "
                                  r"divides height and width by 32 .* both must be >= 32"),
    "pneumonia_net-width-0": (lambda: pneumonia_net(width=0), ValueError,
                              r"pneumonia_net: width must be in \(0, 8\], got 0"),
    "pneumonia_net-width-0.05": (lambda: pneumonia_net(width=0.05), ValueError,
                                 r"pneumonia_net: width=0.05 leaves layer 'conv1' with no filters .* "
                                 r"width must be >= 1/16 = 0.0625"),
    "pneumonia_net-2d-input-shape": (lambda: pneumonia_net(input_shape=(64, 64)), ValueError,
                                     r"pneumonia_net: input_shape must be \(height, width, channels\), "
                                     r".* got \(64, 64\)"),
    "pneumonia_net-input-too-small": (lambda: pneumonia_net(input_shape=(4, 4, 1)), ValueError,
                                      r"pneumonia_net: input_shape \(4, 4, 1\) is too small: .* must be >= 8"),
    "pneumonia_net-no-classes": (lambda: pneumonia_net(num_classes=0), ValueError,
                                 r"pneumonia_net: num_classes must be >= 1, got 0"),
    "pneumonia_net-dropout-1": (lambda: pneumonia_net(dropout=1.0), ValueError,
                                r"pneumonia_net: dropout must be in \[0, 1\), got 1.0"),
    "efficientnet-input-too-small": (lambda: efficientnet_b0(input_shape=(16, 16, 3)), ValueError,
                                     r"efficientnet: input_shape \(16, 16, 3\) is too small.* must be >= 32"),
    "vgg-input-too-small": (lambda: vgg_like(input_shape=(16, 16, 3)), ValueError,
                            r"vgg_like: input_shape \(16, 16, 3\) is too small.* must be >= 32"),
    # ------------------------------------------------------------------ optimizers
    "Adam-beta1-1": (lambda: Adam([weight(2)], betas=(1.0, 0.999)), ValueError,
                     r"Adam: betas\[0\] must be in \[0, 1\), got 1.0"),
    "AdamW-beta2-negative": (lambda: AdamW([weight(2)], betas=(0.9, -0.1)), ValueError,
                             r"AdamW: betas\[1\] must be in \[0, 1\), got -0.1"),
    "Adam-betas-not-a-pair": (lambda: Adam([weight(2)], betas=0.9), ValueError,
                              r"Adam: betas must be a pair \(beta1, beta2\), got 0.9"),
    "Adam-eps-0": (lambda: Adam([weight(2)], eps=0), ValueError, r"Adam: eps must be in \(0, inf\), got 0"),
    "SGD-lr-nan": (lambda: SGD([weight(2)], lr=float("nan")), ValueError, r"SGD: lr must be in \(0, inf\), got nan"),
    "SGD-lr-negative": (lambda: SGD([weight(2)], lr=-0.1), ValueError, r"SGD: lr must be in \(0, inf\), got -0.1"),
    "SGD-lr-string": (lambda: SGD([weight(2)], lr="0.1"), TypeError,
                      r"SGD: lr must be a number in \(0, inf\), got '0.1'"),
    "SGD-momentum-negative": (lambda: SGD([weight(2)], momentum=-0.5), ValueError,
                              r"SGD: momentum must be in \[0, 1\), got -0.5"),
    "AdamW-weight_decay-negative": (lambda: AdamW([weight(2)], weight_decay=-1), ValueError,
                                    r"AdamW: weight_decay must be in \[0, inf\), got -1"),
    "SGD-given-a-model": (lambda: SGD(nn.Sequential([nn.Dense(2, 1)])), TypeError,
                          r"SGD: params must be Tensors \(e.g. model.parameters\(\)\), got Dense at position 0"),
    # ------------------------------------------------------------------ load_state_dict
    "load-missing-key": (lambda: load({"kernel": np.zeros((3, 2))}), KeyError,
                         r"load_state_dict into Dense 'head': missing key\(s\): 'bias'"),
    "load-shape": (lambda: load({"kernel": np.zeros((2, 3)), "bias": np.zeros(2)}), ValueError,
                   r"load_state_dict into Dense 'head': shape mismatch for 'kernel': expected \(3, 2\), got \(2, 3\)"),
    "load-strings": (lambda: load({"kernel": np.zeros((3, 2)), "bias": np.array(["a", "b"])}), ValueError,
                     r"load_state_dict into Dense 'head': 'bias' must hold real numbers, got dtype <U1"),
    "load-nan": (lambda: load({"kernel": np.full((3, 2), np.nan), "bias": np.zeros(2)}), ValueError,
                 r"load_state_dict into Dense 'head': 'kernel' contains NaN or inf"),
    "load-not-a-mapping": (lambda: load([np.zeros((3, 2)), np.zeros(2)]), TypeError,
                           r"load_state_dict into Dense 'head': expected a mapping of names to arrays.*got list"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_bad_input_is_refused_naming_the_culprit(case):
    call, error, words = REFUSED[case]
    with pytest.raises(error, match=words):
        call()


def empty_batch(op, x_shape, w_shape=None):
    """(output shape, input-gradient shape, sum |weight gradient|) of op on an empty batch."""
    x = tc.Tensor(np.zeros(x_shape, np.float32), requires_grad=True)
    w = None if w_shape is None else weight(*w_shape)
    out = op(x) if w is None else op(x, w)
    out.backward(np.zeros(out.shape, np.float32))
    return out.shape, x.grad.shape, None if w is None else float(np.abs(w.grad).sum())


def model_on_empty_batch(model):
    with model.evaluating():
        return model(tc.Tensor(np.zeros((0, *model.input_shape), np.float32))).shape


# (the call, what it must return): inputs that look odd but have a right answer
ACCEPTED = {
    # an empty batch (N = 0) gives an empty output and empty/zero gradients, as in PyTorch
    "conv2d-empty-batch": (lambda: empty_batch(lambda x, w: F.conv2d(x, w, stride=2, padding="same"),
                                               (0, 5, 5, 3), (3, 3, 3, 4)), ((0, 3, 3, 4), (0, 5, 5, 3), 0.0)),
    "depthwise-empty-batch": (lambda: empty_batch(F.depthwise_conv2d, (0, 5, 5, 3), (3, 3, 3)),
                              ((0, 3, 3, 3), (0, 5, 5, 3), 0.0)),
    "pointwise-empty-batch": (lambda: empty_batch(F.pointwise_conv2d, (0, 5, 5, 3), (3, 4)),
                              ((0, 5, 5, 4), (0, 5, 5, 3), 0.0)),
    "linear-relu-empty-batch": (lambda: empty_batch(lambda x, w: F.linear(x, w, activation="relu"), (0, 4), (4, 2)),
                                ((0, 2), (0, 4), 0.0)),
    "max_pool-empty-batch": (lambda: empty_batch(F.max_pool2d, (0, 4, 4, 3)), ((0, 2, 2, 3), (0, 4, 4, 3), None)),
    "avg_pool-empty-batch": (lambda: empty_batch(F.avg_pool2d, (0, 4, 4, 3)), ((0, 2, 2, 3), (0, 4, 4, 3), None)),
    "gap-empty-batch": (lambda: empty_batch(F.global_avg_pool2d, (0, 4, 4, 3)), ((0, 3), (0, 4, 4, 3), None)),
    "batch_norm-eval-empty-batch": (lambda: F.batch_norm(f32(0, 4, 4, 3), f32(3), f32(3), f32(3), f32(3),
                                                         training=False).shape, (0, 4, 4, 3)),
    "pneumonia_net-eval-empty-batch": (lambda: model_on_empty_batch(pneumonia_net()), (0, 1)),
    "predict-empty": (lambda: pneumonia_net().predict(np.zeros((0, 64, 64, 1), np.float32)).shape, (0, 1)),
    # NumPy integers where ints are expected; exact names of the smallest widths
    "Conv2D-numpy-ints": (lambda: nn.Conv2D(np.int64(3), np.int32(4), np.int64(3)).kernel.shape, (3, 3, 3, 4)),
    "conv2d-numpy-int-padding": (lambda: F.conv2d(f32(1, 5, 5, 1), f32(3, 3, 1, 1),
                                                  padding=((np.int64(1), 1), (1, 1))).shape, (1, 5, 5, 1)),
    "conv2d-padding-upper-case": (lambda: F.conv2d(f32(1, 5, 5, 1), f32(3, 3, 1, 1), padding="SAME").shape,
                                  (1, 5, 5, 1)),
    "BatchNorm2D-numpy-numbers": (lambda: (lambda bn: (bn.channels, bn.momentum))(
        nn.BatchNorm2D(np.int64(3), momentum=np.float32(0.5))), (3, 0.5)),
    "Adam-beta-0": (lambda: Adam([weight(2)], betas=(0, 0.5)).beta1, 0.0),
    "mobilenet-smallest-alpha": (lambda: mobilenet_v1(alpha=1 / 32).layers[0].filters, 1),
    "pneumonia_net-smallest-input": (lambda: pneumonia_net(input_shape=(8, 8, 1)).output_shape(), (1,)),
    # load_state_dict casts float64 to the weights' float32
    "load-float64": (lambda: load({"kernel": np.full((3, 2), 0.5), "bias": np.ones(2)}).kernel.data.dtype,
                     np.float32),
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_unusual_input_gets_the_right_answer(case):
    call, expected = ACCEPTED[case]
    assert call() == expected


def test_the_tables_are_large_enough():
    assert len(REFUSED) + len(ACCEPTED) >= 45


def test_a_load_that_fails_on_its_last_entry_changes_nothing():
    model = pneumonia_net()
    before = model.state_dict()
    state = {k: np.full_like(v, 0.5) for k, v in before.items()}
    last = list(state)[-1]
    state[last] = np.array(["x"] * state[last].size).reshape(state[last].shape)
    with pytest.raises(ValueError, match=f"'{last}' must hold real numbers"):
        model.load_state_dict(state)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_an_optimizer_load_that_fails_changes_nothing():
    w = weight(3)
    adam = Adam([w], lr=0.1)
    w.grad = np.ones(3, np.float32)
    adam.step()
    saved = adam.state_dict()
    bad = dict(saved, lr=np.array(0.5), step_count=np.array(7), **{"v.0": np.zeros(4)})
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: v.0 expected shape \(3,\), got \(4,\)"):
        adam.load_state_dict(bad)
    assert adam.lr == 0.1 and adam.step_count == 1
    assert all(np.array_equal(a, saved[k]) for k, a in adam.state_dict().items() if k not in ("lr", "step_count"))
    assert math.isfinite(adam.lr)
