"""The convolutions' GEMMs: NumPy's ``@`` on one OpenBLAS thread vs ``kernels/gemm.py``.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_gemm.py

tinycnn gives NumPy's OpenBLAS one thread (kernels/_threads.py), so a plain ``a @ b`` runs
on one core; ``gemm.py`` splits the rows of the same product over Numba's threads, each
calling single-threaded BLAS.  For the pointwise layers' three products (Y = X W,
dX = dY W^T, dW = X^T dY) of a few shapes of the benchmark networks, this prints the median
time of each way, their ratio, and GFLOP/s as a share of the one-thread sgemm peak (a
1024^3 ``@``).  Each of ``--rounds`` fresh processes alternates the two ways call by call;
the table gives the median of the per-process medians with the spread (max / min) in
brackets.  No PyTorch here: its OpenMP threads would share the cores.  Prints only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

import _harness as H

#: (rows M = N*H*W, C_in, C_out): pointwise layers of pneumonia_net (batch 64), MobileNetV1
#: (batch 32) and EfficientNet-B0 (batch 16)
SHAPES = [(64 * 32 * 32, 16, 32), (32 * 64 * 64, 16, 32), (16 * 64 * 64, 16, 96),
          (32 * 32 * 32, 64, 64), (32 * 8 * 8, 256, 256), (16 * 8 * 8, 112, 672)]


def worker(repeats):
    """One process: {name: ms} for the peak and every (shape, product, way)."""
    import numpy as np
    from tinycnn.kernels import blas, gemm
    rng = np.random.default_rng(0)
    big = rng.standard_normal((1024, 1024)).astype(np.float32)
    result = {"peak_ms": H.median_ms(lambda: big @ big, 0, repeats), "blas": blas.openblas_description()}
    for M, K, N in SHAPES:
        x, w = rng.standard_normal((M, K)).astype(np.float32), rng.standard_normal((K, N)).astype(np.float32)
        dy = rng.standard_normal((M, N)).astype(np.float32)
        products = {"Y = X W": (lambda: x @ w, lambda: gemm.matmul(x, w)),
                    "dX = dY W^T": (lambda: dy @ w.T, lambda: gemm.matmul_nt(dy, w)),
                    "dW = X^T dY": (lambda: x.T @ dy, lambda: gemm.matmul_tn(x, dy))}
        for name, (numpy_way, split_way) in products.items():
            numpy_way(), split_way()                                   # warm up, compile
            times = {"numpy": [], "split": []}
            for _ in range(repeats):                                   # alternate call by call
                times["numpy"].append(H.median_ms(numpy_way, 0, 1))
                times["split"].append(H.median_ms(split_way, 0, 1))
            for way, values in times.items():
                result[f"{M}x{K}x{N} {name} {way}"] = statistics.median(values)
    return result


def table(per_process):
    peak_gflops = 2 * 1024 ** 3 / statistics.median(r["peak_ms"] for r in per_process) / 1e6
    print(f"NumPy's BLAS: {per_process[0]['blas']}")
    print(f"sgemm peak (1024^3 @ on those threads): {peak_gflops:.0f} GFLOP/s\n")
    print("| M x C_in x C_out | product | NumPy @ (threads above), ms | gemm.py split, ms | ratio | split GFLOP/s (% of peak) |")
    print("|---|---|---:|---:|---:|---:|")
    for key in [k for k in per_process[0] if k.endswith(" numpy")]:  # "<shape> <product> numpy"
        shape, name = key.split(" ", 1)[0], key.split(" ", 1)[1].rsplit(" ", 1)[0]
        M, K, N = (int(v) for v in shape.split("x"))
        numpy_ms = [r[key] for r in per_process]
        split_ms = [r[key.replace(" numpy", " split")] for r in per_process]
        a, b = statistics.median(numpy_ms), statistics.median(split_ms)
        gflops = 2 * M * K * N / b / 1e6
        print(f"| {shape} | {name} | {a:.2f} ({max(numpy_ms) / min(numpy_ms):.2f}) | "
              f"{b:.2f} ({max(split_ms) / min(split_ms):.2f}) | {b / a:.2f} | {gflops:.0f} ({100 * gflops / peak_gflops:.0f}%) |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes (default 3)")
    parser.add_argument("--repeats", type=int, default=21, help="timed calls per product and way")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1 or args.repeats < 1:
        raise SystemExit(f"--rounds and --repeats must be >= 1, got {args.rounds} and {args.repeats}")
    if args.worker:
        print(json.dumps(worker(args.repeats)))
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    per_process = []
    for k in range(args.rounds):
        print(f"process {k + 1}/{args.rounds} ...", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, __file__, "--worker", "--repeats", str(args.repeats)],
                             env=env, check=True, capture_output=True, text=True).stdout
        per_process.append(json.loads(out))
    print(f"load average {os.getloadavg()[0]:.2f} at the end; OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: "
          f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')} / {os.environ.get('OPENBLAS_L2_SIZE', 'unset')}\n")
    table(per_process)


if __name__ == "__main__":
    main()
