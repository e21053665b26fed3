"""Checking one value read from a run's files (or given in a configuration) at a time.

Each ``check_*`` returns the value when it is acceptable and raises ``RunError`` otherwise,
with one line that names where the value came from, the field, what was expected and what
was found:

    runs/pneumonia/metrics.json: temperature must be > 0, got -0.5
"""

import math


class RunError(ValueError):
    """A run folder's file, a configuration or a model's output that tinycnn refuses to use."""


def fail(source, name, expected, value):
    """The RunError for field ``name`` of ``source``: ``expected`` is a phrase ("> 0")."""
    return RunError(f"{source}: {name} must be {expected}, got {short_repr(value)}")


def short_repr(value, limit=80):
    """repr(value), cut to ``limit`` characters (a field may hold a whole file's worth)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_int(value, name, source, low=None, high=None):
    """An int (not a bool) with low <= value <= high."""
    if not is_integer(value):
        raise fail(source, name, "an integer", value)
    if low is not None and value < low:
        raise fail(source, name, f">= {low}", value)
    if high is not None and value > high:
        raise fail(source, name, f"<= {high}", value)
    return value


def check_number(value, name, source, low=None, high=None, above=None, below=None):
    """A finite int or float with low <= value <= high and above < value < below."""
    if not is_number(value):
        raise fail(source, name, "a number", value)
    if not math.isfinite(value):
        raise fail(source, name, "a finite number", value)
    for bound, holds, phrase in ((low, lambda b: value >= b, ">="), (high, lambda b: value <= b, "<="),
                                 (above, lambda b: value > b, ">"), (below, lambda b: value < b, "<")):
        if bound is not None and not holds(bound):
            raise fail(source, name, f"{phrase} {bound}", value)
    return value


def check_choice(value, name, source, choices):
    """One of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        raise fail(source, name, f"one of {tuple(choices)}", value)
    return value


def check_bool(value, name, source):
    if not isinstance(value, bool):
        raise fail(source, name, "true or false", value)
    return value


def check_str(value, name, source):
    if not isinstance(value, str):
        raise fail(source, name, "a string", value)
    return value


def check_dict(value, name, source):
    if not isinstance(value, dict):
        raise fail(source, name, "an object ({...})", value)
    return value


def check_list(value, name, source, length=None):
    """A list (JSON array), of ``length`` items when given."""
    if not isinstance(value, list):
        raise fail(source, name, "a list", value)
    if length is not None and len(value) != length:
        raise fail(source, name, f"a list of {length} items", value)
    return value


def field(record, name, source):
    """``record[name]``; a RunError naming the field when it is missing."""
    if name not in record:
        raise RunError(f"{source}: field {name!r} is missing")
    return record[name]
