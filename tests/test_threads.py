"""The threading setup (tinycnn/kernels/_threads.py) for every import order a user can write.

Each case runs in a fresh interpreter, because the setup is fixed once per process: the
script imports in the given order, runs a parallel kernel and prints what was chosen.
Speed itself is measured in benchmarks/bench_models.py (its "Import order" table), not here.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from tinycnn.kernels import blas  # noqa: E402  (NumPy only)

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")
HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_TBB = importlib.util.find_spec("tbb") is not None
HAVE_OPENBLAS = blas.blas_threads() is not None      # NumPy's BLAS is OpenBLAS (Linux)

FIRST_IMPORTS = {
    "tinycnn-first": "",
    "numba-first": "import numba; numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)",
    "torch-first": "import torch; torch.set_num_threads(2); torch.ones(64, 64) @ torch.ones(64, 64)",
}

REPORT = """
import json, os
import numpy as np
import numba
from tinycnn.kernels import _threads, blas, fast
fast.relu_forward(np.ones((64, 64), np.float32))          # a parallel kernel has run
print(json.dumps({"setup": _threads.SETUP._asdict(), "layer": numba.threading_layer(),
                  "blas_threads": blas.blas_threads(), "policy": os.environ.get("OMP_WAIT_POLICY")}))
"""


def thread_setup(order, **env_changes):
    """What tinycnn chose in a fresh interpreter that imported in ``order``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY", "NUMBA_DISABLE_JIT", "OPENBLAS_NUM_THREADS")}
    env.update(env_changes)
    script = FIRST_IMPORTS[order] + "\n" + REPORT
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


pytestmark = pytest.mark.skipif(JIT_DISABLED, reason="no parallel kernels run without the JIT")


@pytest.mark.parametrize("order", ["tinycnn-first", "numba-first", "torch-first"])
def test_every_import_order_gets_openmp_and_a_one_thread_blas(order):
    """Issue 12: the same fast setup whatever was imported first (Numba's threads started by the
    user, or PyTorch's own OpenMP runtime already loaded): Numba's OpenMP layer, and GEMMs on
    the calling thread, so no OpenBLAS thread can fight a spinning OpenMP worker."""
    if order == "torch-first" and not HAVE_TORCH:
        pytest.skip("needs torch (the bench extra)")
    found = thread_setup(order)
    assert found["setup"]["layer"] == found["layer"]
    if order == "numba-first" and HAVE_TBB:           # Numba's default order starts tbb first: kept
        assert found["layer"] in ("tbb", "omp")
    elif found["setup"]["reason"] == "Numba has no OpenMP pool here":
        assert found["layer"] == "workqueue"
    else:
        assert found["layer"] == "omp"
    assert found["setup"]["blas_threads"] == found["blas_threads"] == (1 if HAVE_OPENBLAS else None)
    assert found["policy"] is None                    # the OpenMP runtime's own wait policy


def test_a_users_openblas_thread_count_is_kept_with_sleeping_openmp_workers():
    found = thread_setup("tinycnn-first", OPENBLAS_NUM_THREADS="2")
    assert found["setup"]["blas_threads"] is None
    if HAVE_OPENBLAS:                                 # OpenBLAS caps it at the usable CPUs
        assert found["blas_threads"] == min(2, len(os.sched_getaffinity(0)))
    assert found["policy"] == "PASSIVE"               # threaded GEMMs: no spinning workers to fight


def test_one_openblas_thread_asked_for_keeps_the_fast_policy():
    found = thread_setup("tinycnn-first", OPENBLAS_NUM_THREADS="1")
    assert found["setup"]["blas_threads"] is None and found["policy"] is None


def test_a_layer_the_user_chose_is_kept():
    found = thread_setup("tinycnn-first", NUMBA_THREADING_LAYER="workqueue")
    assert found["layer"] == "workqueue"
    assert "set by the user" in found["setup"]["reason"]


GRADIENTS = """
import sys
import numba
import numpy as np
from tinycnn import functional as F, models
from tinycnn.tensor import Tensor
numba.set_num_threads(int(sys.argv[1]))
model = models.build("pneumonia_net", seed=0)
x = np.random.default_rng(0).standard_normal((16, 64, 64, 1)).astype(np.float32)
F.binary_cross_entropy_with_logits(model(Tensor(x)).reshape(-1), (np.arange(16) % 2).astype(np.float32)).backward()
np.save(sys.argv[2], np.concatenate([p.grad.ravel() for p in model.parameters()]))
"""


def test_gradients_do_not_depend_on_the_number_of_threads(tmp_path):
    """Partial sums are split by the data's size, not by the thread count (helpers.parallel_blocks,
    gemm.gemm_blocks), so the same seed trains the same weights on a machine with other cores."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 Numba threads")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    for threads in (1, 2):
        subprocess.run([sys.executable, "-c", GRADIENTS, str(threads), str(tmp_path / f"{threads}.npy")],
                       env=env, check=True, timeout=300)
    assert np.array_equal(np.load(tmp_path / "1.npy"), np.load(tmp_path / "2.npy"))
