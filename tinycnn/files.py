"""Writing files so that nothing a user saved is lost, and JSON from NumPy values.

An atomic write puts the data in a temporary file in the same folder, flushes it to disk,
and only then renames it over the target: a rename within one file system is atomic, so
the target always holds either the old complete file or the new complete file, even if
the process is killed half-way.
"""

import json
import os
import tempfile

import numpy as np


def atomic_write(path, write, mode="wb", suffix=""):
    """Call write(file_object) on a temporary file, then rename it to path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(handle, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def atomic_savez(path, arrays):
    """np.savez(path, **arrays), atomically."""
    return atomic_write(path, lambda f: np.savez(f, **arrays), suffix=".npz")


def atomic_write_text(path, text):
    return atomic_write(path, lambda f: f.write(text), mode="w")


def atomic_write_json(path, value):
    return atomic_write_text(path, json.dumps(to_jsonable(value), indent=2))


def replace_marked_section(path, start, end, section, title="# Benchmark results"):
    """Put ``section`` (which begins with ``start`` and ends with ``end``) in the text file at
    ``path``: in place of the old text between those markers, or appended when they are
    missing (a new file starts with ``title``).  Written atomically."""
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else title + "\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    atomic_write_text(path, text)


def to_jsonable(value):
    """Dicts, lists, NumPy arrays and scalars -> plain Python values json can write."""
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
