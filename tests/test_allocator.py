"""tinycnn.kernels.allocator: glibc keeps freed big blocks, so the next step faults no pages in.

Each case runs in a fresh interpreter (mallopt is process-wide): it builds pneumonia_net, runs
three training steps (forward + loss + backward, batch 32) and counts the minor page faults of
a fourth (``resource.getrusage``).  With glibc's defaults the step's big temporaries are
mapped and unmapped each time, so thousands of pages fault in again every step.
"""

import json
import os
import platform
import subprocess
import sys

import pytest

PROBE = """
import ctypes, json, resource
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)   # PR_SET_THP_DISABLE: count 4 KiB pages, also where huge pages are on
import numpy as np
from tinycnn import functional as F, models
from tinycnn.kernels import allocator
from tinycnn.tensor import Tensor
model = models.build("pneumonia_net", seed=0)
x = np.random.default_rng(0).standard_normal((32, 64, 64, 1)).astype(np.float32)
y = (np.arange(32) % 2).astype(np.float32)
def step():
    model.zero_grad()
    F.binary_cross_entropy_with_logits(model(Tensor(x)).reshape(-1), y).backward()
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step()
print(json.dumps({"setup": allocator.SETUP, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")


def step_faults(**env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                          "TINYCNN_MALLOC")}
    env.update(env_changes)
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_training_step_reuses_freed_blocks():
    kept, default = step_faults(), step_faults(TINYCNN_MALLOC="default")
    assert kept["setup"].startswith("glibc keeps freed blocks")
    assert default["setup"] == "left alone: TINYCNN_MALLOC=default"
    assert kept["faults"] < 300 < 5 * 300 < default["faults"]


def test_a_users_own_malloc_setting_is_kept():
    found = step_faults(MALLOC_TRIM_THRESHOLD_="1000000")
    assert found["setup"] == "left alone: MALLOC_TRIM_THRESHOLD_ set by the user"


def test_a_bad_tinycnn_malloc_value_is_an_error():
    env = {**os.environ, "TINYCNN_MALLOC": "off"}
    result = subprocess.run([sys.executable, "-c", "import tinycnn.kernels.allocator"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "TINYCNN_MALLOC must be 'default' (glibc's own thresholds) or unset, got 'off'" in result.stderr

