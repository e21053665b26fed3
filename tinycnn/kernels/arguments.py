"""Checks of scalar arguments and array sizes, one copy for the whole package.

The ops (``functional``), the layers (``nn``), the optimizers and the models all take counts
(filters, units, strides), rates and step sizes, and all must refuse a bad one with the same
kind of message: ``<owner>: <argument> must be ..., got <value>``.  The checks live here, at
the bottom of the package, because this is the one layer all of them may import (the import
contract in pyproject.toml); they are plain Python and NumPy, like the rest of ``kernels/``.

* ``as_count(value, name, owner)``   an int >= 1 (Python or NumPy integer; not a bool, not 3.7)
* ``as_real(value, name, owner, ...)`` a finite real number inside an interval, as a float
* ``check_array_size(shape, what, owner)``  refuse, before allocating, an array of more than
  ``MAX_ARRAY_ELEMENTS`` values (a padding of 10^6, a layer of 10^6 x 10^6 weights)

Wrong type -> TypeError, right type but out of range -> ValueError.
"""

import math

import numpy as np

#: The largest array tinycnn will allocate: 2^31 values (8 GiB of float32).  Anything bigger
#: is a typo (a padding of 10^6, alpha=1000) on any machine this package is meant for.
MAX_ARRAY_ELEMENTS = 2 ** 31


def is_integer(value):
    """True for Python and NumPy integers, False for bools and floats."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value):
    """True for Python and NumPy ints and floats, False for bools, strings, None, arrays."""
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def as_count(value, name, owner, minimum=1):
    """``value`` as a Python int >= minimum, or an error naming owner and argument."""
    if not is_integer(value):
        raise TypeError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r} "
                        f"({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be >= {minimum}, got {value}")
    return int(value)


def interval_text(low, high, low_open, high_open):
    """'[0, 1)', '(0, inf)': how the messages write an interval."""
    opening = "(" if low_open or low == -math.inf else "["
    closing = ")" if high_open or high == math.inf else "]"
    return f"{opening}{low:g}, {high:g}{closing}"


def as_real(value, name, owner, low=-math.inf, high=math.inf, low_open=False, high_open=False):
    """``value`` as a finite Python float in the interval from low to high (open ends as asked)."""
    interval = interval_text(low, high, low_open, high_open)
    if not is_real(value):
        raise TypeError(f"{owner}: {name} must be a number in {interval}, got {value!r} "
                        f"({type(value).__name__})")
    number = float(value)
    inside = ((number > low if low_open else number >= low)
              and (number < high if high_open else number <= high))
    if not math.isfinite(number) or not inside:
        raise ValueError(f"{owner}: {name} must be in {interval}, got {value}")
    return number


def check_array_size(shape, what, owner):
    """Refuse an array of ``shape`` with more than MAX_ARRAY_ELEMENTS values, before it exists."""
    count = math.prod(int(s) for s in shape)
    if count > MAX_ARRAY_ELEMENTS:
        gib = count * 4 / 2 ** 30
        raise ValueError(f"{owner}: the {what} would have shape {tuple(int(s) for s in shape)}, "
                         f"{count:,} values ({gib:,.1f} GiB as float32), more than the limit of "
                         f"{MAX_ARRAY_ELEMENTS:,} values (2^31) for one array")
    return count
