"""What a model description may say: a registry name, an input shape, builder arguments and a
number of members, each within bounds, so that no file can make tinycnn build a network of
unbounded size.

Bounds, and why:

* ``input_shape`` is (H, W, C) with 1 <= H, W <= 512 and 1 <= C <= 4.  The registry's models
  are built for 28 (baseline_cnn), 64 (pneumonia_net) and 224 (the others); 512 leaves room
  for larger X-rays.
  An image has at most 4 channels (grey, grey + alpha, RGB, RGBA).  Each builder refuses,
  naming its layer, an input too small for its strides.
* width multipliers (``width``, ``alpha``) lie in [1/16, 4]: below 1/16 the thinnest layer
  (16 filters in pneumonia_net) has no filter left; 4 x the default is 16 x the weights.
  MobileNet's ``depth_multiplier`` is 1 or 2, vgg_like's ``dense_units`` at most 4 layers of
  at most 1024 (the lecture's size).
* at most 32 ensemble members (deep ensembles use 5 to 10).

With these bounds the largest network one description can ask for has about 135 million
weights (about 540 MB: vgg_like's Flatten head at 512 x 512, or MobileNet at alpha 4 and
depth_multiplier 2), and a model file's arrays are read only once their headers match it.
"""

from .. import models
from .checks import (RunError, check_bool, check_choice, check_dict, check_int, check_list, check_number,
                     fail)

MIN_INPUT_SIDE, MAX_INPUT_SIDE, MAX_CHANNELS = 1, 512, 4
MIN_WIDTH, MAX_WIDTH = 1 / 16, 4.0
MAX_MEMBERS = 32


def _width(value, name, source):
    return check_number(value, name, source, low=MIN_WIDTH, high=MAX_WIDTH)


def _rate(value, name, source):
    return check_number(value, name, source, low=0, below=1)


def _depth_multiplier(value, name, source):
    return check_int(value, name, source, low=1, high=2)


def _head(value, name, source):
    return check_choice(value, name, source, ("flatten", "gap"))


def _dense_units(value, name, source):
    check_list(value, name, source)
    if not 1 <= len(value) <= 4:
        raise fail(source, name, "a list of 1 to 4 layer sizes", value)
    for units in value:
        check_int(units, name, source, low=1, high=1024)
    return value


#: model name -> {builder argument a run may set: its check}.  input_shape, seed and
#: num_classes are not among them: the description gives the first two, a detector has 1 class.
MODEL_KWARGS = {
    "pneumonia_net": {"width": _width, "dropout": _rate},
    "mobilenet_v1": {"alpha": _width, "depth_multiplier": _depth_multiplier, "dropout": _rate,
                     "layer_names": check_bool},
    "efficientnet_b0": {"dropout_rate": _rate, "drop_connect_rate": _rate},
    "vgg_like": {"head": _head, "dense_units": _dense_units, "dropout": _rate},
    "baseline_cnn": {"batch_norm": check_bool},
}


def check_model_name(value, source, name="model"):
    return check_choice(value, name, source, sorted(models.MODELS))


def check_model_kwargs(model_name, kwargs, source, name="model_kwargs"):
    """The builder arguments of ``model_name``: only the known names, each within its bounds."""
    check_dict(kwargs, name, source)
    rules = MODEL_KWARGS[model_name]
    for key, value in kwargs.items():
        if key not in rules:
            raise RunError(f"{source}: {name} has unknown argument {key!r} for {model_name} "
                           f"(known: {', '.join(sorted(rules))})")
        rules[key](value, f"{name}[{key!r}]", source)
    return kwargs


def check_described_shape(value, source, name="input_shape"):
    """[H, W, C] of ints, MIN_INPUT_SIDE <= H, W <= MAX_INPUT_SIDE, 1 <= C <= MAX_CHANNELS."""
    shape = list(value) if isinstance(value, tuple) else value
    check_list(shape, name, source, length=3)
    highs = (MAX_INPUT_SIDE, MAX_INPUT_SIDE, MAX_CHANNELS)
    for index, (size, high) in enumerate(zip(shape, highs)):
        check_int(size, f"{name}[{index}]", source, low=MIN_INPUT_SIDE, high=high)
    return shape


def check_members(value, source, name="members"):
    return check_int(value, name, source, low=1, high=MAX_MEMBERS)


def build_network(name, input_shape, seed, members=None, **kwargs):
    """The registry's ``name`` with one output logit (a detector), or an ``Ensemble`` of them."""
    return models.build(name, input_shape, seed, members=members, num_classes=1, **kwargs)


def ensemble_size(state):
    """K for the weights of an ``Ensemble`` (keys ``member0.*`` ... ``member{K-1}.*``), None otherwise."""
    prefixes = {key.split(".")[0] for key in state}
    if all(p.startswith("member") and p[6:].isdigit() for p in prefixes):
        return len(prefixes)
    return None
