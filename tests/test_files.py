"""Atomic writes leave either the old or the new file, never a half-written one."""

import json
import os

import numpy as np
import pytest

from tinycnn.files import atomic_savez, atomic_write_json, to_jsonable


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "state.npz"
    atomic_savez(path, {"w": np.ones(2)})

    class Exploding:
        def __array__(self, *args, **kwargs):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_savez(path, {"w": np.zeros(2), "x": Exploding()})
    with np.load(path) as f:
        np.testing.assert_array_equal(f["w"], np.ones(2))
    assert os.listdir(tmp_path) == ["state.npz"]


def test_json_of_numpy_values(tmp_path):
    value = {"a": np.float32(0.5), "b": np.arange(3), "c": [np.int64(2), (1, 2)]}
    atomic_write_json(tmp_path / "m.json", value)
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 0.5, "b": [0, 1, 2], "c": [2, [1, 2]]}
    assert to_jsonable(np.bool_(True)) is True
