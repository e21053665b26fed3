"""Every conv, depthwise and pointwise layer shape of the benchmark networks, tinycnn vs PyTorch.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_kernels.py

(NumPy's OpenBLAS runs at about half speed when those two variables force a core type.)

- Shapes: a fresh tinycnn worker builds the three networks of bench_models.py
  (``pneumonia_net`` 64x64x1 batch 64, MobileNetV1 alpha 0.5 128x128x1 batch 32,
  EfficientNet-B0 128x128x1 batch 16) and walks their layers with the input shapes
  (``model.layer_shapes()``, and inside MBConv / squeeze-excite ``summary_layers``): every
  Conv2D and DepthwiseConv2D it runs, deduplicated by (kind, N, H, W, C_in, C_out, kernel,
  stride, padding, depth multiplier).  Kind "pointwise" is what a 1x1 stride-1 unpadded
  Conv2D runs as (a matrix product); "conv" is every other Conv2D.  Nothing is hand-picked:
  the squeeze-excite 1x1 convs on (N, 1, 1, C) are in the list too.
- Each shape is run as the network runs it: the tinycnn layer (bias and activation as in the
  network) on ``tc.Tensor`` inputs, against ``torch.nn.Conv2d`` (+ ZeroPad2d where the
  "same" padding is not symmetric, + the activation).  fwd = forward without a graph
  (``tc.no_grad()`` / ``torch.inference_mode()``); fwd+bwd = forward + the gradients of
  input, weights and bias (``tc.grad`` / ``torch.autograd.grad``).  Same arrays in both
  (drawn from a seed); the first round compares outputs and gradients (relative error
  <= 1e-3) before the other rounds run.
- Fresh processes: per round one worker per framework (tinycnn, torch NCHW, torch
  channels_last) runs all shapes, the order rotating by round; 2 threads each (see
  _harness.py); default allocator unless --allocator.  Each worker reports per shape the
  median of --repeats timed calls after --warmup; the table gives the median of the
  per-process medians, the spread (max / min) in brackets, torch in whichever layout is
  faster for that shape and pass.  Summary per kind: geometric mean of the ratios
  tinycnn / torch and the worst ratio with its shape.  Throughput: GFLOP/s and % of NumPy's
  measured 2048^3 sgemm (in the tinycnn worker).  Start-up: import + first conv with a cold
  and a warm Numba cache.  Why not pyperf: see _harness.py.

Limit the sweep with --kinds depthwise,pointwise and --max-shapes N (the N shapes of each
kind with the most multiply-adds); the full run writes the kernels section of
benchmarks/RESULTS.md, a limited one (or --smoke, --no-write) only prints.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness as H  # noqa: E402
from bench_models import FRAMEWORKS, MODELS  # noqa: E402  (stdlib only)

SCRIPT = os.path.abspath(__file__)
RESULTS = os.path.join(os.path.dirname(SCRIPT), "RESULTS.md")
START, END = "<!-- kernels:start -->", "<!-- kernels:end -->"
COMMAND = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_kernels.py"
KINDS = ("conv", "depthwise", "pointwise")
#: issue 12: geometric mean of the fwd+bwd ratios per kind, and no shape worse than WORST
TARGETS = {"conv": 1.3, "depthwise": 1.0, "pointwise": 1.0}
WORST = 1.5
TOLERANCE = 1e-3


def worker_main(task_path):
    import _kernels_worker
    _kernels_worker.run(H.read_task(task_path))


# ---------------------------------------------------------------------- shapes


def select_shapes(shapes, args):
    """The shapes of the chosen kinds; with --max-shapes N, the N costliest of each kind
    (--smoke: the 2 cheapest of each kind)."""
    chosen = []
    for kind in args.kinds:
        of_kind = [s for s in shapes if s["kind"] == kind]
        if args.smoke:
            of_kind = sorted(of_kind, key=lambda s: s["macs"])[:2]
        elif args.max_shapes:
            keep = sorted(of_kind, key=lambda s: -s["macs"])[:args.max_shapes]
            of_kind = [s for s in of_kind if s in keep]
        chosen += of_kind
    return chosen


def find_shapes(args, folder):
    networks = {name: case[:4] for name, case in MODELS.items()}
    task = dict(mode="shapes", networks=networks, batch=2 if args.smoke else None)
    shapes = H.run_worker(SCRIPT, task, "default", folder, "shapes")["shapes"]
    chosen = select_shapes(shapes, args)
    counts = ", ".join(f"{sum(s['kind'] == k for s in chosen)} {k}" for k in args.kinds)
    print(f"{len(shapes)} distinct conv layer shapes in {', '.join(MODELS)}; timing {len(chosen)} ({counts})",
          flush=True)
    return chosen


# ---------------------------------------------------------------------- rounds


def check_first_round(results, shapes):
    """Outputs and gradients of tinycnn vs torch NCHW, per shape; stop on a mismatch."""
    tiny, torch = results["tinycnn"][0]["rows"], results["torch-nchw"][0]["rows"]
    worst = 0.0
    for entry, ours, theirs in zip(shapes, tiny, torch):
        for name in ("y", "dx", "dw"):
            a, b = ours["samples"][name], theirs["samples"][name]
            err = max(abs(p - q) for p, q in zip(a["values"], b["values"])) / max(b["scale"], 1e-30)
            if err > TOLERANCE:
                raise SystemExit(f"bench_kernels: {entry['kind']} {shape_label(entry)}: tinycnn and torch "
                                 f"differ in {name}: relative error {err:.1e} > {TOLERANCE}")
            worst = max(worst, err)
    return worst


def run_rounds(shapes, args, folder):
    kinds = [f"{fw}" for _ in range(args.rounds) for fw in FRAMEWORKS]
    progress = H.Progress(kinds)
    results, worst = {fw: [] for fw in FRAMEWORKS}, None
    for r in range(args.rounds):
        for fw in H.rotated(list(FRAMEWORKS), r):
            framework, layout = FRAMEWORKS[fw]
            task = dict(mode="time", framework=framework, layout=layout, worker=fw, shapes=shapes,
                        warmup=args.warmup, repeats=args.repeats, samples=r == 0)
            result = H.run_worker(SCRIPT, task, args.allocator, folder, f"r{r}-{fw}")
            results[fw].append(result)
            progress.done(fw, f"round {r + 1} {fw}: {len(shapes)} shapes", result["wall_seconds"])
        if r == 0:
            worst = check_first_round(results, shapes)
    return results, worst


def startup_times(folder):
    """[(import, first forward, first backward)] with a cold, then a warm Numba cache."""
    cache = os.path.join(folder, "numba-cache")
    os.makedirs(cache)
    out = []
    for label in ("cold", "warm"):
        result = H.run_worker(SCRIPT, {"mode": "startup"}, "default", folder, f"startup-{label}",
                              extra_env={"NUMBA_CACHE_DIR": cache})
        out.append((label, result))
    return out


def shape_label(entry):
    label = (f"{entry['H']}x{entry['W']}x{entry['C_in']}->{entry['C_out']} "
             f"k{entry['kernel'][0]}x{entry['kernel'][1]} s{entry['stride'][0]}")
    (top, bottom), (left, right) = entry["pads"]
    if (top, left) != (bottom, right):
        label += f" pad {top},{bottom},{left},{right}"
    return label


# ---------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--smoke", action="store_true", help="batch 2, the 2 cheapest shapes per kind, "
                    "1 round, 2 repeats; prints only")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ", ".join(KINDS))
    ap.add_argument("--max-shapes", type=int, default=None, help="the N costliest shapes of each kind")
    ap.add_argument("--rounds", type=int, default=None, help="rounds of fresh workers (default 5)")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls per shape and pass (default 15)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up calls per shape and pass (default 3)")
    ap.add_argument("--allocator", default="default", choices=sorted(H.ALLOCATORS))
    ap.add_argument("--no-startup", dest="startup", action="store_false", help="skip the start-up timing")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = ap.parse_args(argv)
    args.kinds = [k for k in args.kinds.split(",") if k]
    unknown = sorted(set(args.kinds) - set(KINDS))
    if unknown or not args.kinds:
        ap.error(f"--kinds: unknown {unknown or 'empty list'}; choose from {', '.join(KINDS)}")
    args.rounds = args.rounds if args.rounds is not None else (1 if args.smoke else 5)
    args.repeats = args.repeats if args.repeats is not None else (2 if args.smoke else 15)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.smoke else 3)
    for name in ("rounds", "repeats", "max_shapes"):
        value = getattr(args, name)
        if value is not None and value < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker_main(args.worker)
    import _kernels_report as R
    facts = H.machine_facts()
    H.warn_forced_blas(facts)
    with tempfile.TemporaryDirectory(prefix="tinycnn-bench-kernels-") as folder:
        shapes = find_shapes(args, folder)
        print(f"{args.rounds * len(FRAMEWORKS)} timing workers: {args.rounds} round(s) x "
              f"{len(FRAMEWORKS)} frameworks, each all {len(shapes)} shapes", flush=True)
        results, worst_error = run_rounds(shapes, args, folder)
        starts = startup_times(folder) if args.startup and not args.smoke else None
    section = R.format_section(shapes, results, worst_error, starts, args, facts, H.load_average())
    print()
    print(section)
    complete = (not args.smoke and args.kinds == list(KINDS) and not args.max_shapes
                and args.rounds >= 3 and args.allocator == "default")
    if args.no_write or not complete:
        print("\n(RESULTS.md not written: " + ("--no-write" if args.no_write else "not a full run") + ")")
        return
    from tinycnn.files import replace_marked_section       # writes files; loads no kernel
    replace_marked_section(RESULTS, START, END, section)
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
