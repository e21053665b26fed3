"""kernels/gemm.py: the convolutions' GEMMs split by rows over Numba's threads.

Each product is checked against NumPy in float64 on both of its paths: the threaded one
(one single-threaded BLAS call per block of rows; forced for small shapes by lowering
SMALL_GEMM and MIN_BLOCK_ROWS) and NumPy's ``@`` (the fallback).
"""

import contextlib

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tinycnn.kernels import gemm
from test_kernels_fast import SETTINGS, check, make, to64

HAS_CBLAS = gemm._CBLAS[np.dtype(np.float32)] is not None
needs_cblas = pytest.mark.skipif(not HAS_CBLAS, reason="NumPy's BLAS is not OpenBLAS: no threaded path")
dtypes = st.sampled_from([np.float32, np.float64])


@contextlib.contextmanager
def splitting_everything():
    """Every product takes the threaded path, down to 1 row per block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gemm, "SMALL_GEMM", 0)
        patch.setattr(gemm, "MIN_BLOCK_ROWS", 1)
        yield


@pytest.fixture
def split_everything():
    with splitting_everything():
        yield


def spy(monkeypatch, name):
    calls = []
    kernel = getattr(gemm, name)
    monkeypatch.setattr(gemm, name, lambda *args: calls.append(args[-1]) or kernel(*args))
    return calls


def products(rng, M, K, N, dtype):
    a, b, bt, c = make(rng, (M, K), dtype), make(rng, (K, N), dtype), make(rng, (N, K), dtype), make(rng, (M, N), dtype)
    return [(gemm.matmul(a, b), to64(a) @ to64(b)),
            (gemm.matmul_nt(a, bt), to64(a) @ to64(bt).T),
            (gemm.matmul_tn(a, c), to64(a).T @ to64(c))]


@SETTINGS
@given(M=st.integers(1, 300), K=st.integers(1, 40), N=st.integers(1, 40), dtype=dtypes, seed=st.integers(0, 99))
@example(M=17, K=3, N=5, dtype=np.float32, seed=0)          # 8 blocks of up to 3 rows, the last two empty
def test_threaded_products_match_numpy(M, K, N, dtype, seed):
    with splitting_everything(), pytest.MonkeyPatch.context() as patch:
        rows, sums = spy(patch, "_gemm_rows"), spy(patch, "_gemm_tn_sum")
        for got, want in products(np.random.default_rng(seed), M, K, N, dtype):
            check(got, want, dtype)
    if HAS_CBLAS and M >= 2 and gemm.blas.blas_threads() == 1:     # the threaded path ran
        assert len(rows) == 2 and len(sums) == 1


@SETTINGS
@given(M=st.integers(1, 300), K=st.integers(1, 40), N=st.integers(1, 40), dtype=dtypes, seed=st.integers(0, 99))
def test_numpy_fallback_matches_numpy(M, K, N, dtype, seed):
    for got, want in products(np.random.default_rng(seed), M, K, N, dtype):
        check(got, want, dtype)


@needs_cblas
def test_a_convolution_sized_product_is_split_into_blocks(monkeypatch):
    """(4096 x 16) @ (16 x 32), the shape of a pointwise layer, goes to the threaded path with
    8 blocks (helpers.PARTIAL_SUMS), and so does its weight gradient."""
    rows, sums = spy(monkeypatch, "_gemm_rows"), spy(monkeypatch, "_gemm_tn_sum")
    rng = np.random.default_rng(1)
    a, b, c = make(rng, (4096, 16), np.float32), make(rng, (16, 32), np.float32), make(rng, (4096, 32), np.float32)
    y, dw = gemm.matmul(a, b), gemm.matmul_tn(a, c)
    assert rows == [8] and sums == [gemm.sum_blocks(4096, 16, 32)] == [8]
    check(y, to64(a) @ to64(b), np.float32)
    check(dw, to64(a).T @ to64(c), np.float32)


@needs_cblas
def test_out_argument_is_filled_and_returned(split_everything):
    rng = np.random.default_rng(2)
    a, b = make(rng, (50, 7), np.float32), make(rng, (7, 9), np.float32)
    out = np.full((50, 9), np.nan, np.float32)
    assert gemm.matmul(a, b, out=out) is out
    check(out, to64(a) @ to64(b), np.float32)


@needs_cblas
def test_more_openblas_threads_leave_the_product_to_openblas(monkeypatch):
    """With OpenBLAS given 2 threads (OPENBLAS_NUM_THREADS=2), splitting again would give
    every block 2 threads on top of Numba's: NumPy's @ runs it instead."""
    calls = spy(monkeypatch, "_gemm_rows")
    monkeypatch.setattr(gemm.blas, "blas_threads", lambda: 2)
    rng = np.random.default_rng(3)
    a, b = make(rng, (4096, 16), np.float32), make(rng, (16, 32), np.float32)
    check(gemm.matmul(a, b), to64(a) @ to64(b), np.float32)
    assert calls == []


def test_small_and_mixed_products_use_numpy(monkeypatch):
    calls = spy(monkeypatch, "_gemm_rows")
    rng = np.random.default_rng(4)
    a, b = make(rng, (16, 8), np.float32), make(rng, (8, 4), np.float32)
    check(gemm.matmul(a, b), to64(a) @ to64(b), np.float32)                   # too small to split
    big, w64 = make(rng, (4096, 16), np.float32), make(rng, (16, 32), np.float64)
    check(gemm.matmul(big, w64), to64(big) @ w64, np.float64)                 # mixed dtypes
    assert calls == []


def test_blocks_depend_on_the_shapes_only():
    """An even number of blocks (two threads, equal shares), at most 8, from the shapes alone."""
    assert [gemm.gemm_blocks(M) for M in (1, 64, 127, 128, 200, 511, 512, 10**6)] == [1, 1, 1, 2, 2, 6, 8, 8]
    assert [gemm.sum_blocks(M, 256, 256) for M in (128, 2048, 16384, 24576, 10**6)] == [2, 2, 4, 6, 8]


@pytest.mark.parametrize("call, words", [
    (lambda a: gemm.matmul(a, np.ones((8, 32), np.float32)), "matmul: the shapes (4096, 16) and (8, 32) do not fit: 16 against 8"),
    (lambda a: gemm.matmul_nt(a, np.ones((32, 8), np.float32)), "matmul_nt: the shapes (4096, 16) and (32, 8) do not fit"),
    (lambda a: gemm.matmul_tn(a, np.ones((100, 32), np.float32)), "matmul_tn: the shapes (4096, 16) and (100, 32) do not fit: 4096 against 100"),
    (lambda a: gemm.matmul(a, np.ones((16, 32), np.float32), out=np.empty((200, 32), np.float32)),
     "matmul: out must have shape (4096, 32), got (200, 32)"),
    (lambda a: gemm.matmul_nt(a, np.ones((32, 16), np.float32), out=np.empty((4096, 30), np.float32)),
     "matmul_nt: out must have shape (4096, 32), got (4096, 30)"),
])
def test_sizes_that_do_not_fit_are_refused(call, words):
    """Refused before any BLAS call (a threaded call would read or write past the arrays)."""
    with pytest.raises(ValueError) as error:
        call(np.ones((4096, 16), np.float32))
    assert words in str(error.value)


@needs_cblas
def test_a_read_only_or_overlapping_out_is_left_to_numpy(monkeypatch):
    """NumPy refuses a read-only out and handles one that overlaps an input: so does matmul."""
    calls = spy(monkeypatch, "_gemm_rows")
    rng = np.random.default_rng(7)
    a = make(rng, (4096, 64), np.float32)
    w = make(rng, (64, 64), np.float32)
    read_only = np.empty((4096, 64), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        gemm.matmul(a, w, out=read_only)
    want = to64(a) @ to64(w)
    gemm.matmul(a, w, out=a)                                   # the result overwrites its input
    check(a, want, np.float32)
    assert calls == []


def test_an_out_that_is_not_c_contiguous_is_filled_by_numpy(monkeypatch):
    calls = spy(monkeypatch, "_gemm_rows")
    rng = np.random.default_rng(6)
    a, b = make(rng, (4096, 16), np.float32), make(rng, (16, 32), np.float32)
    big = np.zeros((4096, 40), np.float32)
    gemm.matmul(a, b, out=big[:, :32])
    check(big[:, :32], to64(a) @ to64(b), np.float32)
    assert calls == [] and not big[:, 32:].any()


@pytest.mark.nojit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threaded_products_without_jit(split_everything, dtype):
    """The same kernels run as plain Python (NUMBA_DISABLE_JIT=1 in CI's nojit pass)."""
    for got, want in products(np.random.default_rng(5), 37, 6, 11, dtype):
        check(got, want, dtype)


def test_cblas_size_arguments_follow_the_library_names(monkeypatch):
    """An OpenBLAS built with USE64BITINT (NumPy's) takes 64-bit sizes, others C ints (a wrong
    width would pass garbage sizes to BLAS); a serial build is not called from threads."""
    import ctypes
    monkeypatch.setattr(gemm.blas, "openblas_function", lambda name: getattr(ctypes.CDLL(None), "labs"))
    monkeypatch.setattr(gemm, "_threaded_build", lambda: True)
    for config, size in (("OpenBLAS 0.3.31 USE64BITINT DYNAMIC_ARCH", ctypes.c_int64), ("OpenBLAS 0.3.20 DYNAMIC_ARCH", ctypes.c_int)):
        monkeypatch.setattr(gemm.blas, "openblas_config", lambda: config)
        assert gemm._load_cblas("cblas_sgemm", ctypes.c_float).argtypes[3] is size
    monkeypatch.setattr(gemm.blas, "openblas_config", lambda: None)      # unreadable: not split
    assert gemm._load_cblas("cblas_sgemm", ctypes.c_float) is None
    monkeypatch.setattr(gemm.blas, "openblas_config", lambda: "OpenBLAS USE64BITINT")
    monkeypatch.setattr(gemm, "_threaded_build", lambda: False)          # a serial build: not split
    assert gemm._load_cblas("cblas_sgemm", ctypes.c_float) is None
