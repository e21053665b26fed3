"""Benchmark the fast tinycnn kernels against PyTorch (CPU, float32, same process).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_kernels.py [--quick]

(NumPy's OpenBLAS runs at about half speed when those two variables force a core type.)

Both libraries get 2 threads (torch.set_num_threads, numba.set_num_threads, BLAS via
threadpoolctl when installed, else OPENBLAS_NUM_THREADS before NumPy is imported).  Each
op is timed forward and forward+backward (gradients w.r.t. the input and the weights);
torch runs in whichever layout is faster for that op (channels_last or NCHW).  The two
libraries are timed in alternating blocks of runs (see ``compare``), so a noisy neighbour
hurts both; the table shows medians.  Also measured: the machine's sgemm peak (a large NumPy float32
GEMM), peak memory of conv forward+backward, and cold/warm start (import + first conv).

Writes the kernels section of benchmarks/RESULTS.md (between its markers) unless --no-write.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

THREADS = 2
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(THREADS))   # only if threadpoolctl is missing
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numba  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

from tinycnn.kernels import _threads, conv, fast  # noqa: E402
from tinycnn.files import replace_marked_section  # noqa: E402

try:
    import threadpoolctl
except ImportError:                      # pragma: no cover - optional, benchmark only
    threadpoolctl = None

TARGETS = [("depthwise", "depthwise", 1.2), ("pointwise", "pointwise", 1.2),
           ("standard conv", "conv", 2.0), ("GAP", "GAP", 1.5), ("ReLU", "ReLU", 1.5),
           ("batch norm", "batch norm", 1.5)]

NOTES = """**What limits each kernel** (from profiling the pieces on their own):

- *Threading layer.*  Numba's OpenMP pool with its default active wait spins after every
  `prange` loop while OpenBLAS runs the next GEMM; measured here: a 256x256 sgemm right
  after a tiny parallel kernel took 8 ms (median) instead of 0.2 ms.  The kernels package
  therefore sets `OMP_WAIT_POLICY=PASSIVE` before libgomp loads (launch ~9 us, no spinning;
  `workqueue` as fallback: ~40 us per launch and not safe for concurrent callers).  This
  script imports torch first, so torch keeps its own default OpenMP setup; torch's wheel
  brings its own `libgomp.so.1`, already initialised, so tinycnn falls back to `workqueue`
  here (the threading-layer line above).
- *Weight-gradient GEMMs* (cols^T dY, X^T dY) are computed in whichever orientation gives a
  tall result: OpenBLAS 0.3.31 with 2 threads took 1.8 s instead of 16 ms for
  32x100352 @ 100352x64 on a busy machine.
- *Standard conv* = im2col (Numba, one K_w*C block copy per kernel row) + 3 sgemm per
  fwd+bwd (forward, dcols = dY W^T, dW = cols^T dY) + col2im (gather per input row, no
  write conflicts), in 8 MiB chunks.  The GEMMs are (M x 9C) @ (9C x C_out) with
  C_out = 32 or 64: OpenBLAS reaches ~50-75% of its big-GEMM peak on such thin matrices, and
  im2col/col2im add ~15% memory traffic; oneDNN's direct convolution in torch runs near
  peak.  Each chunk hands the cores from Numba to OpenBLAS and back; when another process
  holds a core, every hand-off can wait a scheduler tick (4 ms), which is what inflates
  the conv and pointwise rows on a busy machine (the 2-thread GEMM alone goes from 1 ms to
  8 ms median there).
- *Depthwise* = direct loops, channels innermost (vectorised by LLVM: NHWC keeps C contiguous),
  parallel over output rows / input rows (gather backward) / row blocks with per-block
  partial dW.  Each tap re-reads and re-writes the output pixel's accumulators (3 loads and
  a store per vector multiply-add), so it is bound by L1/L2 load-store bandwidth, not by
  FMA throughput; torch's oneDNN JIT keeps them in registers, which is why the forward pass
  is 1.3-3x slower than torch's while the backward passes are faster than torch's.  Tried
  and dropped: flat row-wise loops with tiled weights, two taps per pass, fastmath.
- *Pointwise* is exactly one sgemm per pass on the free (N*H*W, C) view; 512->512 runs at
  the sgemm peak; 32->64 (K = 32) moves 3 bytes per flop and OpenBLAS reaches ~60% there,
  below oneDNN's 1x1 convolution.
- *GAP / ReLU / batch norm* are memory-bound single passes (BN: one fused pass for the
  shifted float64 statistics, one for y; backward one pass for both sums, one for dx).
"""

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
START, END = "<!-- kernels:start -->", "<!-- kernels:end -->"


# ----------------------------------------------------------------------------- timing


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare(ours, theirs, repeats, warmup=3, blocks=4, pause=0.3):
    """(median, min) seconds of ours() and of theirs(), in alternating blocks of runs.

    Blocks rather than single alternating runs: torch's OpenMP workers keep spinning for a
    while after each torch op (its default wait policy; measured: tinycnn's next calls still
    ran 2x slow 50 ms later), and would steal the cores from the next tinycnn call, and the
    other way round.  A pause and warm-up runs before each block let the other library's
    threads go idle first.
    """
    a, b = [], []
    per_block = max(1, repeats // blocks)
    for _ in range(blocks):
        for fn, out in ((ours, a), (theirs, b)):
            time.sleep(pause)
            for _ in range(warmup):
                fn()
            out.extend(timed(fn) for _ in range(per_block))
    return (float(np.median(a)), min(a)), (float(np.median(b)), min(b))


def fastest_layout(candidates, repeats=5):
    """candidates: {name: fn}; the name and fn with the lowest median time."""
    best = None
    for name, fn in candidates.items():
        fn()
        t = float(np.median([timed(fn) for _ in range(repeats)]))
        if best is None or t < best[0]:
            best = (t, name, fn)
    return best[1], best[2]


def sgemm_peak(repeats):
    n = 2048
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    a @ b
    t = min(timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / t / 1e9


# ----------------------------------------------------------------------------- cases


def to_torch(x, layout):
    """NHWC numpy -> NCHW torch tensor in the given memory format (a copy, requires grad)."""
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    return t.contiguous(memory_format=fmt).detach().requires_grad_(True)


def conv_case(kind, N, H, Cin, Cout, K, S, rng):
    """Standard / depthwise / pointwise conv with symmetric 'same'-size padding K//2."""
    p = K // 2
    pads, stride = ((p, p), (p, p)), (S, S)
    Ho = (H + 2 * p - K) // S + 1
    x = rng.standard_normal((N, H, H, Cin)).astype(np.float32)
    if kind == "standard":
        w = (rng.standard_normal((K, K, Cin, Cout)) * 0.1).astype(np.float32)
        fwd = lambda: fast.conv2d_forward(x, w, stride, pads)  # noqa: E731
        dy = np.ones((N, Ho, Ho, Cout), np.float32)

        def fb():
            fast.conv2d_forward(x, w, stride, pads)
            fast.conv2d_backward_input(dy, w, x.shape, stride, pads)
            fast.conv2d_backward_weight(dy, x, w.shape, stride, pads)
        wt = torch.from_numpy(w).permute(3, 2, 0, 1)
        groups, flops = 1, 2 * N * Ho * Ho * K * K * Cin * Cout
    elif kind == "depthwise":
        w = (rng.standard_normal((K, K, Cin)) * 0.1).astype(np.float32)
        fwd = lambda: fast.depthwise_conv2d_forward(x, w, stride, pads)  # noqa: E731
        dy = np.ones((N, Ho, Ho, Cin), np.float32)

        def fb():
            fast.depthwise_conv2d_forward(x, w, stride, pads)
            fast.depthwise_conv2d_backward_input(dy, w, x.shape, stride, pads)
            fast.depthwise_conv2d_backward_weight(dy, x, w.shape, stride, pads)
        wt = torch.from_numpy(w).permute(2, 0, 1)[:, None]
        groups, flops = Cin, 2 * N * Ho * Ho * K * K * Cin
    else:
        w = (rng.standard_normal((Cin, Cout)) * 0.1).astype(np.float32)
        fwd = lambda: fast.pointwise_conv2d_forward(x, w)  # noqa: E731
        dy = np.ones((N, H, H, Cout), np.float32)

        def fb():
            fast.pointwise_conv2d_forward(x, w)
            fast.pointwise_conv2d_backward_input(dy, w)
            fast.pointwise_conv2d_backward_weight(dy, x)
        wt = torch.from_numpy(w).T[:, :, None, None]
        groups, flops = 1, 2 * N * H * H * Cin * Cout

    def torch_fns(layout):
        xt = to_torch(x, layout)
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        wtt = wt.contiguous(memory_format=fmt).detach().requires_grad_(True)
        run = lambda: TF.conv2d(xt, wtt, stride=S, padding=p, groups=groups)  # noqa: E731
        g = torch.ones_like(run())

        def tfb():
            torch.autograd.grad(run(), [xt, wtt], g)
        return run, tfb
    return fwd, fb, torch_fns, ("flops", flops, 3 * flops)


def gap_case(N, H, C, rng):
    x = rng.standard_normal((N, H, H, C)).astype(np.float32)
    dy = np.ones((N, C), np.float32)

    def fb():
        fast.global_avg_pool2d_forward(x)
        fast.global_avg_pool2d_backward(dy, x.shape)

    def torch_fns(layout):
        xt = to_torch(x, layout)
        run = lambda: TF.adaptive_avg_pool2d(xt, 1)  # noqa: E731
        g = torch.ones_like(run())
        return run, lambda: torch.autograd.grad(run(), [xt], g)
    return lambda: fast.global_avg_pool2d_forward(x), fb, torch_fns, ("bytes", x.nbytes, 2 * x.nbytes)


def relu_case(N, H, C, rng):
    x = rng.standard_normal((N, H, H, C)).astype(np.float32)
    dy = np.ones_like(x)

    def fb():
        fast.relu_forward(x)
        fast.relu_backward(dy, x)

    def torch_fns(layout):
        xt = to_torch(x, layout)
        run = lambda: TF.relu(xt)  # noqa: E731
        g = torch.ones_like(run())
        return run, lambda: torch.autograd.grad(run(), [xt], g)
    return lambda: fast.relu_forward(x), fb, torch_fns, ("bytes", 2 * x.nbytes, 5 * x.nbytes)


def bn_case(N, H, C, rng):
    x = rng.standard_normal((N, H, H, C)).astype(np.float32)
    gamma, beta = np.ones(C, np.float32), np.zeros(C, np.float32)
    dy = np.ones_like(x)

    def fb():
        _, mean, var = fast.batch_norm_train_forward(x, gamma, beta, 1e-3)
        fast.batch_norm_train_backward(dy, x, gamma, mean, var, 1e-3)

    def torch_fns(layout):
        xt = to_torch(x, layout)
        gt = torch.from_numpy(gamma).clone().requires_grad_(True)
        bt = torch.from_numpy(beta).clone().requires_grad_(True)
        run = lambda: TF.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-3)  # noqa: E731
        g = torch.ones_like(run())
        return run, lambda: torch.autograd.grad(run(), [xt, gt, bt], g)
    fwd = lambda: fast.batch_norm_train_forward(x, gamma, beta, 1e-3)  # noqa: E731
    return fwd, fb, torch_fns, ("bytes", 3 * x.nbytes, 8 * x.nbytes)


def cases(rng):
    N = 8
    yield "conv 3x3 s1", "112x112, 32->32", conv_case("standard", N, 112, 32, 32, 3, 1, rng)
    yield "conv 3x3 s1", "56x56, 64->64", conv_case("standard", N, 56, 64, 64, 3, 1, rng)
    yield "conv 3x3 s2 (stem)", "224x224, 3->32", conv_case("standard", N, 224, 3, 32, 3, 2, rng)
    yield "depthwise 3x3 s1", "112x112x32", conv_case("depthwise", N, 112, 32, 32, 3, 1, rng)
    yield "depthwise 3x3 s1", "56x56x128", conv_case("depthwise", N, 56, 128, 128, 3, 1, rng)
    yield "depthwise 3x3 s1", "14x14x512", conv_case("depthwise", N, 14, 512, 512, 3, 1, rng)
    yield "depthwise 3x3 s2", "112x112x64", conv_case("depthwise", N, 112, 64, 64, 3, 2, rng)
    yield "depthwise 5x5 s1", "28x28x240", conv_case("depthwise", N, 28, 240, 240, 5, 1, rng)
    yield "pointwise", "112x112, 32->64", conv_case("pointwise", N, 112, 32, 64, 1, 1, rng)
    yield "pointwise", "14x14, 512->512", conv_case("pointwise", N, 14, 512, 512, 1, 1, rng)
    yield "GAP", "7x7x1024", gap_case(N, 7, 1024, rng)
    yield "ReLU", "112x112x32", relu_case(N, 112, 32, rng)
    yield "batch norm (train)", "112x112x32", bn_case(N, 112, 32, rng)


# ----------------------------------------------------------------------------- memory


def conv_memory():
    """Peak memory of forward+backward of the standard conv 32->32 at 112x112, batch 8."""
    import tracemalloc
    from numba.core.runtime import _nrt_python, rtsys

    rng = np.random.default_rng(0)
    N, H, C, F = 8, 112, 32, 32
    x = rng.standard_normal((N, H, H, C), dtype=np.float32)
    w = rng.standard_normal((3, 3, C, F), dtype=np.float32)
    dy = np.ones((N, H, H, F), np.float32)
    stride, pads = (1, 1), ((1, 1), (1, 1))
    fast.conv2d_forward(x[:1, :8, :8], w, stride, pads)                 # compile first
    fast.conv2d_backward_input(dy[:1, :8, :8], w, (1, 8, 8, C), stride, pads)
    fast.conv2d_backward_weight(dy[:1, :8, :8], x[:1, :8, :8], w.shape, stride, pads)
    conv._SCRATCH.clear()                  # scratch buffers count as new allocations here
    try:
        _nrt_python.memsys_enable_stats()
        nrt_before = rtsys.get_allocation_stats()
    except Exception:                      # pragma: no cover - stats API differs by version
        nrt_before = None
    tracemalloc.start()
    tracemalloc.reset_peak()
    y = fast.conv2d_forward(x, w, stride, pads)
    dx = fast.conv2d_backward_input(dy, w, x.shape, stride, pads)
    dw = fast.conv2d_backward_weight(dy, x, w.shape, stride, pads)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    nrt = None
    if nrt_before is not None:
        after = rtsys.get_allocation_stats()
        nrt = (after.alloc - nrt_before.alloc, after.free - nrt_before.free)
    rows = conv._rows_per_chunk(H, 9 * C, 4, N * H)
    chunk = rows * H * 9 * C * 4
    outputs = y.nbytes + dx.nbytes + dw.nbytes
    return dict(peak=peak, chunk=chunk, outputs=outputs, full_im2col=N * H * H * 9 * C * 4,
                scratch=sum(b.nbytes for b in conv._SCRATCH.values()), nrt=nrt,
                rss=rss_delta())


def rss_delta():
    """Peak RSS during conv forward+backward minus the RSS just before, in a fresh process.

    Counts every allocator (NumPy, Numba's NRT, BLAS).  Linux only: the peak (VmHWM) is
    reset through /proc/self/clear_refs right before the three calls.
    """
    code = textwrap.dedent("""
        import numpy as np
        from tinycnn.kernels import fast
        def status(field):
            with open("/proc/self/status") as f:
                line = next(l for l in f if l.startswith(field + ":"))
            return int(line.split()[1]) * 1024
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8, 112, 112, 32), dtype=np.float32)
        w = rng.standard_normal((3, 3, 32, 32), dtype=np.float32)
        dy = np.ones((8, 112, 112, 32), np.float32)
        s, p = (1, 1), ((1, 1), (1, 1))
        fast.conv2d_forward(x[:1, :8, :8], w, s, p)
        fast.conv2d_backward_input(dy[:1, :8, :8], w, (1, 8, 8, 32), s, p)
        fast.conv2d_backward_weight(dy[:1, :8, :8], x[:1, :8, :8], w.shape, s, p)
        before = status("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        y = fast.conv2d_forward(x, w, s, p)
        dx = fast.conv2d_backward_input(dy, w, x.shape, s, p)
        dw = fast.conv2d_backward_weight(dy, x, w.shape, s, p)
        print(status("VmHWM") - before)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None


# ----------------------------------------------------------------------------- cold start


def start_times():
    """Seconds for `import tinycnn` and the first conv forward+backward, cold and warm cache."""
    code = textwrap.dedent("""
        import time
        t0 = time.perf_counter()
        import tinycnn
        from tinycnn.kernels import active as K
        t1 = time.perf_counter()
        import numpy as np
        x = np.ones((2, 16, 16, 3), np.float32); w = np.ones((3, 3, 3, 8), np.float32)
        s, p = (1, 1), ((1, 1), (1, 1))
        y = K.conv2d_forward(x, w, s, p)
        t2 = time.perf_counter()
        K.conv2d_backward_input(y, w, x.shape, s, p); K.conv2d_backward_weight(y, x, w.shape, s, p)
        t3 = time.perf_counter()
        print(t1 - t0, t2 - t1, t3 - t2)
    """)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with tempfile.TemporaryDirectory(prefix="tinycnn-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=root)
        res = []
        for _ in range(2):                      # cold (empty cache dir), then warm
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env=env, cwd=root)
            if out.returncode != 0:
                return None
            res.append([float(v) for v in out.stdout.split()])
    return res


# ----------------------------------------------------------------------------- report


def fmt_rate(work, fb, seconds, peak):
    """work = ("flops", fwd, fwd+bwd) or ("bytes", fwd, fwd+bwd): the rate achieved."""
    kind, amount = work[0], work[2 if fb else 1]
    if kind == "flops":
        gf = amount / seconds / 1e9
        return f"{gf:.0f} GFLOP/s ({100 * gf / peak:.0f}%)"
    return f"{amount / seconds / 1e9:.1f} GB/s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()
    repeats = 8 if args.quick else 24          # multiples of compare's 4 blocks: all are run

    torch.set_num_threads(THREADS)
    numba.set_num_threads(THREADS)
    limiter = threadpoolctl.threadpool_limits(THREADS, user_api="blas") if threadpoolctl else None
    blas = "unknown (threadpoolctl not installed)"
    if threadpoolctl:
        info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        blas = ", ".join(f"{i['internal_api']} {i['version']} kernel {i.get('architecture')} "
                         f"{i['num_threads']} threads" for i in info)
    forced = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    if forced:
        print(f"WARNING: {forced} set: NumPy's OpenBLAS may run at half speed; rerun with "
              "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE", file=sys.stderr)

    peak = sgemm_peak(3 if args.quick else 7)
    print(f"BLAS: {blas}")
    print(f"numba {numba.__version__} threading layer {_threads.CHOSEN_LAYER}, torch {torch.__version__}")
    print(f"sgemm peak (2048^3 float32, numpy): {peak:.0f} GFLOP/s\n")

    rng = np.random.default_rng(0)
    rows = []
    header = (f"{'op':20} {'shape':18} {'pass':8} {'tinycnn ms':>10} {'torch ms':>9} {'ratio':>6} "
              f"{'best':>5}  {'torch layout':13} tinycnn throughput")
    print(header)
    for op, shape, (fwd, fb, torch_fns, work) in cases(rng):
        for label, ours, which in (("fwd", fwd, 0), ("fwd+bwd", fb, 1)):
            layouts = {lay: torch_fns(lay)[which] for lay in ("channels_last", "nchw")}
            layout, theirs = fastest_layout(layouts)
            (t_ours, best_ours), (t_theirs, best_theirs) = compare(ours, theirs, repeats)
            rate = fmt_rate(work, which == 1, t_ours, peak)
            row = (op, shape, label, 1e3 * t_ours, 1e3 * t_theirs, t_ours / t_theirs,
                   best_ours / best_theirs, layout, rate)
            rows.append(row)
            print(f"{op:20} {shape:18} {label:8} {row[3]:10.2f} {row[4]:9.2f} {row[5]:6.2f} "
                  f"{row[6]:5.2f}  {layout:13} {rate}")

    mem = conv_memory()
    starts = start_times()
    if limiter is not None:
        limiter.restore_original_limits()
    print_memory(mem)
    print_starts(starts)
    if not args.no_write:
        write_results(rows, peak, blas, mem, starts, repeats)
        print(f"\nwrote {RESULTS}")


def print_memory(mem):
    mb = 1 / 2 ** 20
    print(f"\nconv 32->32 @112x112 fwd+bwd: NumPy peak {mem['peak'] * mb:.1f} MiB (tracemalloc), "
          f"of which outputs y+dx+dW {mem['outputs'] * mb:.1f} MiB and reused scratch "
          f"{mem['scratch'] * mb:.1f} MiB; im2col chunk {mem['chunk'] * mb:.1f} MiB "
          f"(whole-batch im2col would be {mem['full_im2col'] * mb:.0f} MiB); "
          f"NRT allocs/frees {mem['nrt']}; peak-RSS growth {mem['rss'] and mem['rss'] * mb:.1f} MiB")


def print_starts(starts):
    if starts:
        (ci, cf, cb), (wi, wf, wb) = starts
        print(f"cold cache: import {ci:.2f} s, first conv fwd {cf:.2f} s, first bwd {cb:.2f} s; "
              f"warm cache: import {wi:.2f} s, first conv fwd {wf:.2f} s, first bwd {wb:.2f} s")


def write_results(rows, peak, blas, mem, starts, repeats):
    mb = 1 / 2 ** 20
    lines = [START, "", "## Kernels: tinycnn (Numba/NumPy) vs PyTorch, CPU float32, 2 threads", "",
             "Produced by `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_kernels.py`",
             "(NumPy's OpenBLAS runs at about half speed when those variables force a core type).",
             f"Batch 8, median of {repeats} runs after warm-up, tinycnn and torch timed in alternating",
             "blocks in one process; torch in its faster layout (channels_last or NCHW) per row; fwd+bwd =",
             "forward + gradients w.r.t. input and weights.  Convolutions use symmetric padding K//2.",
             f"Throughput: GFLOP/s and % of the measured sgemm peak ({peak:.0f} GFLOP/s, 2048^3 NumPy",
             f"float32 GEMM); for memory-bound ops the minimum bytes moved per second.  BLAS: {blas};",
             f"Numba {numba.__version__}, threading layer `{_threads.CHOSEN_LAYER}`; torch {torch.__version__}.",
             f"The machine is shared (2 cores; load average {os.getloadavg()[0]:.1f} at the end of this run):",
             "other jobs slow both libraries, threaded GEMMs most.", "",
             "Columns: medians in ms, ratio = tinycnn / torch of the medians, best = the same ratio",
             "of the fastest runs (less sensitive to the neighbours).", "",
             "| op | shape | pass | tinycnn ms | torch ms | ratio | best | torch layout | tinycnn throughput |",
             "|---|---|---|---:|---:|---:|---:|---|---|"]
    for op, shape, label, a, b, r, rb, layout, rate in rows:
        lines.append(f"| {op} | {shape} | {label} | {a:.2f} | {b:.2f} | {r:.2f} | {rb:.2f} | {layout} | {rate} |")
    lines += ["", "**Targets** (fwd+bwd ratio tinycnn/torch of the medians; best-run ratio in brackets):", ""]
    for label, prefix, limit in TARGETS:
        got = [(shape, r, rb) for op, shape, pas, _, _, r, rb, _, _ in rows
               if pas == "fwd+bwd" and op.startswith(prefix)]
        verdict = "met" if all(r <= limit for _, r, _ in got) else "NOT met"
        detail = ", ".join(f"{shape} {r:.2f} ({rb:.2f})" for shape, r, rb in got)
        lines.append(f"- {label} <= {limit}: {verdict}: {detail}")
    lines += ["", NOTES]
    lines += ["", "**Memory**, standard conv 32->32 at 112x112, batch 8, forward + both backwards:",
              f"NumPy allocations peak at {mem['peak'] * mb:.1f} MiB (tracemalloc), of which "
              f"{mem['outputs'] * mb:.1f} MiB are the results y, dx, dW themselves and "
              f"{mem['scratch'] * mb:.1f} MiB the reused im2col/dcols scratch buffers; one im2col chunk "
              f"is {mem['chunk'] * mb:.1f} MiB, so the peak beyond the results is "
              f"{(mem['peak'] - mem['outputs']) / mem['chunk']:.1f}x one chunk (the whole-batch im2col "
              f"matrix would be {mem['full_im2col'] * mb:.0f} MiB).  Numba's NRT allocations are "
              f"invisible to tracemalloc: the kernels make no large ones (NRT alloc/free counts during "
              f"the three calls: {mem['nrt']}), and a fresh process's peak RSS grows by "
              f"{(mem['rss'] or 0) * mb:.1f} MiB over the three calls (VmHWM reset via /proc/self/clear_refs), "
              "which counts every allocator.", ""]
    if starts:
        (ci, cf, cb), (wi, wf, wb) = starts
        lines += ["**Start-up** (fresh process; `NUMBA_CACHE_DIR` set to an empty folder for the cold run,",
                  "the same folder again for the warm run):", "",
                  "| cache | import tinycnn | first conv forward | first conv backward (input + weight) |",
                  "|---|---:|---:|---:|",
                  f"| cold (compiles) | {ci:.2f} s | {cf:.2f} s | {cb:.2f} s |",
                  f"| warm | {wi:.2f} s | {wf:.2f} s | {wb:.2f} s |", ""]
    lines.append(END)
    replace_marked_section(RESULTS, START, END, "\n".join(lines))


if __name__ == "__main__":
    main()
