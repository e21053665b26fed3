"""The models section of RESULTS.md, from the workers' results (parent side: stdlib only)."""

import statistics

import _harness as H
from bench_models import COMMAND, END, FRAMEWORKS, IMPORT_ORDERS, MODELS, SMOKE_MODELS, START, TARGETS

LAYOUT_NAMES = {"torch-nchw": "NCHW", "torch-cl": "channels_last"}


def per_process(collected, allocator, fw, model, task, field="median"):
    """The per-process values of one field over the rounds."""
    return [r["results"][model][task][field] for r in collected.get((allocator, fw, model), [])]


def cell_stats(collected, allocator, model, task):
    """{framework: summary of its per-process medians} plus the faster torch layout."""
    stats = {fw: H.summarize(per_process(collected, allocator, fw, model, task)) for fw in FRAMEWORKS}
    faster = min(("torch-nchw", "torch-cl"), key=lambda fw: stats[fw]["median"])
    faults = {fw: statistics.median(per_process(collected, allocator, fw, model, task, "faults_per_step"))
              for fw in FRAMEWORKS}
    return stats, faster, faults


def model_table(collected, args, allocator, task):
    cases = SMOKE_MODELS if args.smoke else MODELS
    batch_word = "batch" if task == "train" else "images"
    params = collected["export"]["params"]
    lines = [f"| model | params | {batch_word} | tinycnn ms | torch NCHW ms | torch channels_last ms | "
             "tinycnn / faster torch | tinycnn img/s | page faults / step: tinycnn, NCHW, CL |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for model in args.models:
        stats, faster, faults = cell_stats(collected, allocator, model, task)
        batch = cases[model][3] if task == "train" else 1
        ratio = stats["tinycnn"]["median"] / stats[faster]["median"]
        lines.append(f"| {cases[model][4]} | {params[model]:,} | {batch} | {H.fmt_ms(stats['tinycnn'])} | "
                     f"{H.fmt_ms(stats['torch-nchw'])} | {H.fmt_ms(stats['torch-cl'])} | "
                     f"**{ratio:.2f}** ({LAYOUT_NAMES[faster]}) | {batch / stats['tinycnn']['median']:.0f} | "
                     f"{faults['tinycnn']:.0f}, {faults['torch-nchw']:.0f}, {faults['torch-cl']:.0f} |")
    return lines


def allocator_table(collected, args):
    """tinycnn's and torch's training step under both allocators (issue 12: within 10%)."""
    cases = SMOKE_MODELS if args.smoke else MODELS
    lines = ["| model (train step) | tinycnn default ms | tinycnn no-trim ms | default / no-trim | "
             "faster torch default ms | faster torch no-trim ms | default / no-trim |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for model in args.models:
        cells = []
        for fws in (("tinycnn",), ("torch-nchw", "torch-cl")):
            pair = []
            for allocator in ("default", "notrim"):
                stats, _, _ = cell_stats(collected, allocator, model, "train")
                pair.append(min((stats[fw] for fw in fws), key=lambda s: s["median"]))
            cells += [H.fmt_ms(pair[0]), H.fmt_ms(pair[1]), f"{pair[0]['median'] / pair[1]['median']:.2f}"]
        lines.append(f"| {cases[model][4]} | " + " | ".join(cells) + " |")
    return lines


def values_seen(results, get):
    """The distinct values of get(result) over the workers, e.g. 'omp' or 'omp, workqueue'."""
    return ", ".join(sorted({str(get(r)) for r in results}))


def import_order_table(collected, args):
    rows = {order: collected.get(("order", order), []) for order in IMPORT_ORDERS}
    model = args.import_order_model
    medians = {o: H.summarize([r["results"][model]["train"]["median"] for r in rs]) for o, rs in rows.items()}
    base = medians["tinycnn-first"]["median"]
    code = {"tinycnn-first": "`import tinycnn` first (as usual)",
            "numba-first": "`import numba; numba.set_num_threads(2)`, then tinycnn",
            "torch-first": "`import torch; torch.set_num_threads(2)`, then tinycnn"}
    lines = [f"| import order ({model} train step) | tinycnn CHOSEN_LAYER | numba.threading_layer() | "
             "OMP_WAIT_POLICY after import | OpenBLAS threads | step ms | vs tinycnn first |",
             "|---|---|---|---|---|---:|---:|"]
    for order, results in rows.items():
        chosen = values_seen(results, lambda r: r["facts"]["chosen_layer"])
        layer = values_seen(results, lambda r: r["facts"]["threading_layer"])
        policy = values_seen(results, lambda r: r["facts"]["env"]["OMP_WAIT_POLICY"])
        blas_threads = values_seen(results, lambda r: r["facts"].get("blas_threads_now"))
        lines.append(f"| {code[order]} | `{chosen}` | `{layer}` | {policy} | {blas_threads} | "
                     f"{H.fmt_ms(medians[order])} | "
                     f"{medians[order]['median'] / base:.2f} |")
    worst = max(m["median"] for m in medians.values()) / min(m["median"] for m in medians.values())
    verdict = "met" if worst <= 1.10 else "NOT met"
    lines += ["", f"Same speed whatever the import order (taken as: slowest / fastest order <= 1.10): "
              f"{worst:.2f}, {verdict}."]
    return lines


def target_lines(collected, args):
    lines = ["Targets (issue 12; training step, default allocator):", ""]
    for model in args.models:
        stats, faster, _ = cell_stats(collected, "default", model, "train")
        ratio = stats["tinycnn"]["median"] / stats[faster]["median"]
        limit = TARGETS[model]
        spreads = (stats["tinycnn"]["spread"], stats[faster]["spread"])
        lines.append(f"- {model}: ratio {ratio:.2f} <= {limit}: {'met' if ratio <= limit else 'NOT met'}; "
                     f"spread tinycnn {spreads[0]:.2f} vs torch {spreads[1]:.2f} (+0.05 allowed): "
                     f"{'met' if spreads[0] <= spreads[1] + 0.05 else 'NOT met'}")
    return lines


def first_facts(collected, fw):
    for (key, results) in collected.items():
        if isinstance(key, tuple) and len(key) == 3 and key[1] == fw and results:
            return results[0]
    return None


def runtime_summary(collected):
    tiny, torch = first_facts(collected, "tinycnn"), first_facts(collected, "torch-nchw")
    t, p = tiny["facts"], torch["facts"]
    return (f"numpy {t['numpy']}, numba {t['numba']} (threading layer `{t['threading_layer']}`, "
            f"{t['numba_threads']} threads), tinycnn kernels `{t['kernels']}`; torch {p['torch']} "
            f"({p['torch_threads']} threads, {p['parallel']}, oneDNN {p['mkldnn']}); NumPy BLAS: {t['blas']}")


def probe_line(collected):
    parts = []
    for allocator in ("default", "notrim"):
        probes = [r["probe"] for key, rs in collected.items() if isinstance(key, tuple) and len(key) == 3
                  and key[0] == allocator for r in rs]
        if probes:
            parts.append(f"{H.ALLOCATOR_LABELS[allocator]}: {min(probes):.0f}-{max(probes):.0f}")
    return ("Allocator probe (minor faults per allocate-touch-free of a 48 MiB array, in each worker): "
            + "; ".join(parts) + ".")


def timing_workers(collected):
    """Each timing worker's result once (a smoke worker serves several models)."""
    unique = {}
    for key, results in collected.items():
        if isinstance(key, tuple) and len(key) == 3:
            for r in results:
                unique[id(r)] = (key[1], r)
    return list(unique.values())


def isolation_line(collected):
    workers = timing_workers(collected)
    mixed = sum(r["facts"]["numba_loaded"] if fw != "tinycnn" else r["facts"]["torch_loaded"]
                for fw, r in workers)
    errors = [e for fw, r in workers if fw != "tinycnn" for e in r["max_rel_error"].values()]
    return (f"Fresh processes: {len(workers)} timing workers, {mixed} of them with the other "
            f"framework loaded; torch vs tinycnn outputs: max relative error {max(errors):.1e}.")


def format_section(collected, args, facts, end_load):
    command = COMMAND + (" --smoke" if args.smoke else "")
    lines = [START, "## Models: training step and inference, tinycnn vs PyTorch", ""]
    every = [r for _, r in timing_workers(collected)]
    every += [r for key, rs in collected.items() if isinstance(key, tuple) and key[0] == "order" for r in rs]
    lines += H.facts_lines(facts, command, end_load, runtime_summary(collected), every)
    lines += ["", f"Each cell: median of {args.rounds} per-process medians ({args.steps} timed steps after "
              f"{args.warmup} warm-up; inference {args.infer_steps} after {args.infer_warmup}), spread "
              "(max / min of the per-process medians) in brackets.  One fresh process per framework and "
              f"{'round (all models: --smoke)' if args.smoke else 'model'}, 2 threads each, rounds alternating "
              "tinycnn / torch NCHW / torch channels_last.  "
              "Train step = forward (training mode) + binary cross-entropy + zero grads + backward, no "
              "optimizer update; inference = one image, eval mode, no graph.  Same weights in both "
              "frameworks (outputs checked before timing).", ""]
    for allocator in args.allocators:
        label = H.ALLOCATOR_LABELS[allocator]
        lines += [f"### Training step, {label}", ""] + model_table(collected, args, allocator, "train")
        lines += ["", f"### Inference, batch 1, {label}", ""] + model_table(collected, args, allocator, "infer")
        lines.append("")
    if set(args.allocators) == set(H.ALLOCATORS):
        lines += ["### Allocator: default glibc vs trimming off (MALLOC_TRIM_THRESHOLD_ / "
                  "MALLOC_MMAP_THRESHOLD_ = 2**40)", ""] + allocator_table(collected, args) + [""]
    if args.import_order:
        lines += ["### Import order (default allocator)", ""] + import_order_table(collected, args) + [""]
    if "default" in args.allocators:
        lines += target_lines(collected, args) + [""]
    lines += [probe_line(collected), isolation_line(collected), "", END]
    return "\n".join(lines)
