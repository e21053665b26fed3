"""Whole networks: a training step and batch-1 inference, tinycnn vs PyTorch (NCHW and channels_last).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_models.py

(NumPy's OpenBLAS runs at about half speed when those two variables force a core type.)

The question it answers: how long does one training step take at the batch sizes people
train with, and one image at inference, if I use tinycnn instead of PyTorch?

- Models: ``pneumonia_net`` 64x64x1 batch 64 (the main job), MobileNetV1 alpha 0.5 at
  128x128x1 batch 32, EfficientNet-B0 at 128x128x1 batch 16, one logit each.
- Training step = forward (training mode: batch statistics, dropout, drop-connect) +
  binary cross-entropy + zero the gradients + backward.  No optimizer update (issue 12's
  definition: forward + backward).  Inference = one image, eval mode, no graph
  (``tc.no_grad()`` / ``torch.inference_mode()``).
- PyTorch runs the same network, generated from the tinycnn model layer by layer (see
  ``_export.py`` / ``_torch_port.py``) with the same weights (batch-norm statistics set from
  one batch first), in NCHW and in channels_last; before timing, each torch worker checks
  its eval and training-mode outputs (dropout off) against tinycnn's (max relative error
  <= 1e-3).  The ratio is tinycnn / the faster torch layout.
- Every measurement runs in its own fresh process, one per (framework, model): the parent
  loads neither torch nor Numba nor tinycnn's kernels.  2 threads each: OMP_NUM_THREADS,
  NUMBA_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS = 2 in the worker's environment
  before it imports anything, and torch.set_num_threads(2).  Rounds (default 3) alternate
  tinycnn / torch NCHW / torch channels_last workers (the order rotating by round); each
  worker reports the median of its timed steps after warm-up; the tables give the median
  of the per-process medians and, in brackets, their spread (max / min).
- Two allocators: glibc as it comes (the headline: what users run) and glibc with trimming
  off (MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_THRESHOLD_ = 2**40 in the worker's environment).
  Each worker counts minor page faults per timed step (getrusage ru_minflt).
- Import order: tinycnn workers that import numba and call numba.set_num_threads(2) before
  tinycnn, or torch before tinycnn, report tinycnn's chosen threading layer and the step time
  of the main job, next to the plain order.
- Also recorded: the load average before and after, NumPy's BLAS kernel and threads
  (threadpoolctl if installed, else OpenBLAS's own answer), whether OPENBLAS_CORETYPE /
  OPENBLAS_L2_SIZE were set, versions.  Why not pyperf: see _harness.py.

A full run writes the models section of benchmarks/RESULTS.md (between its markers); a run
with --smoke, --models or --no-write only prints.  --smoke: tiny inputs, 1 round, 2 steps.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness as H  # noqa: E402

SCRIPT = os.path.abspath(__file__)
RESULTS = os.path.join(os.path.dirname(SCRIPT), "RESULTS.md")
START, END = "<!-- models:start -->", "<!-- models:end -->"
COMMAND = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_models.py"

#: name -> (registry name, builder arguments, input shape, training batch, label)
MODELS = {
    "pneumonia_net": ("pneumonia_net", {}, (64, 64, 1), 64, "`pneumonia_net` 64x64x1 (the main job)"),
    "mobilenet_v1": ("mobilenet_v1", {"alpha": 0.5, "num_classes": 1}, (128, 128, 1), 32,
                     "MobileNetV1 alpha 0.5, 128x128x1"),
    "efficientnet_b0": ("efficientnet_b0", {"num_classes": 1}, (128, 128, 1), 16, "EfficientNet-B0, 128x128x1"),
}
SMOKE_MODELS = {
    "pneumonia_net": ("pneumonia_net", {}, (32, 32, 1), 4, "pneumonia_net (smoke)"),
    "mobilenet_v1": ("mobilenet_v1", {"alpha": 0.25, "num_classes": 1}, (32, 32, 1), 2, "MobileNetV1 (smoke)"),
    "efficientnet_b0": ("efficientnet_b0", {"num_classes": 1}, (64, 64, 1), 2, "EfficientNet-B0 (smoke)"),
}
#: issue 12's targets for the training-step ratio tinycnn / faster torch layout
TARGETS = {"pneumonia_net": 1.0, "mobilenet_v1": 1.0, "efficientnet_b0": 1.2}
#: worker name -> (framework, torch memory layout)
FRAMEWORKS = {"tinycnn": ("tinycnn", None), "torch-nchw": ("torch", "nchw"),
              "torch-cl": ("torch", "channels_last")}
IMPORT_ORDERS = ("tinycnn-first", "numba-first", "torch-first")


# ---------------------------------------------------------------------- workers


def worker_main(task_path):
    """In a worker process: do the task (it imports the frameworks itself, in its order)."""
    import _models_worker
    _models_worker.run(H.read_task(task_path))


# ---------------------------------------------------------------------- the plan


def plan(args):
    """[(kind, label, task, allocator)]: the export worker, then the rounds."""
    cases = SMOKE_MODELS if args.smoke else MODELS
    steps = dict(warmup=args.warmup, steps=args.steps, infer_warmup=args.infer_warmup,
                 infer_steps=args.infer_steps, cases={m: cases[m][:4] for m in args.models})
    groups = [[m] for m in args.models] if not args.smoke else [list(args.models)]
    tasks = [("export", "export models", dict(mode="export", models=list(args.models), **steps), "default")]
    for r in range(args.rounds):
        for models in groups:
            for allocator in args.allocators:
                for fw in H.rotated(list(FRAMEWORKS), r):
                    label = f"round {r + 1} {fw} {'+'.join(models)} [{allocator}]"
                    framework, layout = FRAMEWORKS[fw]
                    task = dict(mode="time", framework=framework, layout=layout, worker=fw, models=models, **steps)
                    tasks.append((f"{fw} {models} {allocator}", label, task, allocator))
        if args.import_order:
            for order in H.rotated(IMPORT_ORDERS, r):
                task = dict(mode="import-order", order=order, models=[args.import_order_model],
                            train_only=True, **steps)
                tasks.append((f"order {order}", f"round {r + 1} import order {order}", task, "default"))
    return tasks


def run_plan(tasks, folder):
    """Run every task; returns {"export": result, (allocator, framework, model): [results],
    ("order", order): [results]}, one result per worker."""
    progress = H.Progress(kind for kind, _, _, _ in tasks)
    collected = {}
    for k, (kind, label, task, allocator) in enumerate(tasks):
        task = dict(task, data=folder)
        result = H.run_worker(SCRIPT, task, allocator, folder, f"w{k:03d}")
        progress.done(kind, label, result["wall_seconds"])
        if task["mode"] == "export":
            collected["export"] = result
        elif task["mode"] == "import-order":
            collected.setdefault(("order", task["order"]), []).append(result)
        else:
            for model in task["models"]:
                collected.setdefault((allocator, task["worker"], model), []).append(result)
    return collected


# ---------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--smoke", action="store_true", help="tiny inputs, 1 round, 2 steps; prints only")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    ap.add_argument("--rounds", type=int, default=None, help="rounds of fresh workers (default 3)")
    ap.add_argument("--steps", type=int, default=None, help="timed training steps per worker (default 15)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up training steps (default 5)")
    ap.add_argument("--allocators", default="default,notrim", help="default, notrim or both (default)")
    ap.add_argument("--no-import-order", dest="import_order", action="store_false",
                    help="skip the import-order check")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = ap.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown or not args.models:
        ap.error(f"--models: unknown {unknown or 'empty list'}; choose from {', '.join(MODELS)}")
    args.allocators = [a for a in args.allocators.split(",") if a]
    bad = sorted(set(args.allocators) - set(H.ALLOCATORS)) or ([] if args.allocators else ["(none)"])
    if bad:
        ap.error(f"--allocators: unknown {bad}; choose from {', '.join(H.ALLOCATORS)}")
    small = args.smoke
    args.rounds = args.rounds if args.rounds is not None else (1 if small else 3)
    args.steps = args.steps if args.steps is not None else (2 if small else 15)
    args.warmup = args.warmup if args.warmup is not None else (1 if small else 5)
    args.infer_steps, args.infer_warmup = (2, 1) if small else (30, 10)
    args.import_order_model = "pneumonia_net" if "pneumonia_net" in args.models else args.models[0]
    for name in ("rounds", "steps"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker_main(args.worker)
    import _models_report as R
    facts = H.machine_facts()
    H.warn_forced_blas(facts)
    tasks = plan(args)
    print(f"{len(tasks)} fresh worker processes: {args.rounds} round(s) of {len(args.models)} model(s) x "
          f"{len(args.allocators)} allocator(s) x {len(FRAMEWORKS)} frameworks"
          f"{', plus the import-order check' if args.import_order else ''}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tinycnn-bench-models-") as folder:
        collected = run_plan(tasks, folder)
    section = R.format_section(collected, args, facts, H.load_average())
    print()
    print(section)
    complete = (not args.smoke and args.models == list(MODELS) and args.rounds >= 3
                and set(args.allocators) == set(H.ALLOCATORS) and args.import_order)
    if args.no_write or not complete:
        print("\n(RESULTS.md not written: " + ("--no-write" if args.no_write else "not a full run") + ")")
        return
    from tinycnn.files import replace_marked_section       # writes files; loads no kernel
    replace_marked_section(RESULTS, START, END, section)
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
