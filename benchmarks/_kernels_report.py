"""The kernels section of RESULTS.md, from the workers' results (parent side: stdlib only)."""

import statistics

import _harness as H
from bench_kernels import COMMAND, END, START, TARGETS, WORST, shape_label

PASSES = ("fwd", "fwd+bwd")
LAYOUT_NAMES = {"torch-nchw": "NCHW", "torch-cl": "CL"}


def shape_stats(results, k, pass_name):
    """For shape k and one pass: tinycnn's summary, the faster torch layout and its summary."""
    def of(fw):
        return H.summarize([r["rows"][k][pass_name]["median"] for r in results[fw]])
    tiny = of("tinycnn")
    torch_layouts = {fw: of(fw) for fw in ("torch-nchw", "torch-cl")}
    faster = min(torch_layouts, key=lambda fw: torch_layouts[fw]["median"])
    return tiny, faster, torch_layouts[faster]


def table_rows(shapes, results):
    """One dict per shape: the stats of both passes and the fwd+bwd ratio."""
    rows = []
    for k, entry in enumerate(shapes):
        row = {"entry": entry}
        for p in PASSES:
            tiny, faster, torch = shape_stats(results, k, p)
            row[p] = {"tinycnn": tiny, "layout": faster, "torch": torch,
                      "ratio": tiny["median"] / torch["median"]}
        rows.append(row)
    return rows


def uses_label(entry):
    return ", ".join(f"{net} {count}" for net, count in entry["uses"].items())


def throughput(entry, seconds, peak):
    gflops = 3 * 2 * entry["macs"] / seconds / 1e9          # fwd + dx + dW: 3x the forward MACs
    return f"{gflops:.0f} ({100 * gflops / peak:.0f}%)"


def detail_table(rows, peak):
    lines = ["| kind | N | shape | layers | fwd tinycnn ms | fwd torch ms | fwd ratio | "
             "fwd+bwd tinycnn ms | fwd+bwd torch ms | fwd+bwd ratio | tinycnn fwd+bwd GFLOP/s (% sgemm) |",
             "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        e, f, fb = row["entry"], row["fwd"], row["fwd+bwd"]
        lines.append(f"| {e['kind']} | {e['N']} | {shape_label(e)} | {uses_label(e)} | "
                     f"{H.fmt_ms(f['tinycnn'])} | {H.fmt_ms(f['torch'])} {LAYOUT_NAMES[f['layout']]} | "
                     f"{f['ratio']:.2f} | {H.fmt_ms(fb['tinycnn'])} | {H.fmt_ms(fb['torch'])} "
                     f"{LAYOUT_NAMES[fb['layout']]} | **{fb['ratio']:.2f}** | "
                     f"{throughput(e, fb['tinycnn']['median'], peak)} |")
    return lines


def summary_table(rows, kinds):
    lines = ["| kind | shapes | geometric mean fwd | geometric mean fwd+bwd | worst fwd+bwd (shape) | "
             f"target: geomean fwd+bwd / worst <= {WORST} |", "|---|---:|---:|---:|---|---|"]
    for kind in kinds:
        of_kind = [r for r in rows if r["entry"]["kind"] == kind]
        if not of_kind:
            continue
        geo = {p: H.geometric_mean(r[p]["ratio"] for r in of_kind) for p in PASSES}
        worst = max(of_kind, key=lambda r: r["fwd+bwd"]["ratio"])
        verdict = ("met" if geo["fwd+bwd"] <= TARGETS[kind] else "NOT met",
                   "met" if worst["fwd+bwd"]["ratio"] <= WORST else "NOT met")
        lines.append(f"| {kind} | {len(of_kind)} | {geo['fwd']:.2f} | **{geo['fwd+bwd']:.2f}** | "
                     f"{worst['fwd+bwd']['ratio']:.2f} ({worst['entry']['N']}, {shape_label(worst['entry'])}) | "
                     f"<= {TARGETS[kind]}: {verdict[0]}; worst: {verdict[1]} |")
    return lines


def startup_lines(starts):
    if not starts:
        return []
    lines = ["Start-up, fresh process (`NUMBA_CACHE_DIR` an empty folder for the cold run, the same "
             "folder again for the warm run):", "",
             "| Numba cache | import tinycnn.nn | first conv forward | first conv backward |",
             "|---|---:|---:|---:|"]
    for label, r in starts:
        lines.append(f"| {label} | {r['import']:.2f} s | {r['first_forward']:.2f} s | {r['first_backward']:.2f} s |")
    return lines + [""]


def runtime_summary(results):
    t, p = results["tinycnn"][0]["facts"], results["torch-nchw"][0]["facts"]
    return (f"numpy {t['numpy']}, numba {t['numba']} (threading layer `{t['threading_layer']}`, "
            f"{t['numba_threads']} threads); torch {p['torch']} ({p['torch_threads']} threads, "
            f"{p['parallel']}); NumPy BLAS: {t['blas']}")


def format_section(shapes, results, worst_error, starts, args, facts, end_load):
    peak = statistics.median(r["facts"]["sgemm_gflops"] for r in results["tinycnn"])
    rows = table_rows(shapes, results)
    flags = " --smoke" if args.smoke else ""
    lines = [START, "## Kernels: every conv, depthwise and pointwise shape of the three networks", ""]
    every = [r for rs in results.values() for r in rs]
    lines += H.facts_lines(facts, COMMAND + flags, end_load, runtime_summary(results), every)
    batches = ("batch 2 (smoke)" if args.smoke else
               "the training batch (pneumonia_net 64, MobileNetV1 alpha 0.5 32, EfficientNet-B0 16)")
    lines += ["", f"{len(shapes)} distinct shapes at {batches}, found by walking the built networks' layers. "
              f"Each cell: median of {args.rounds} per-process medians ({args.repeats} timed calls after "
              f"{args.warmup} warm-up), spread (max / min) in brackets; one fresh process per framework per "
              f"round, 2 threads, allocator: {H.ALLOCATOR_LABELS[args.allocator]}.  torch in its faster "
              "layout per shape and pass (NCHW or CL = channels_last).  fwd: no graph; fwd+bwd: forward + "
              "gradients of input, weights and bias.  Ratio = tinycnn / torch.  Outputs and gradients agreed "
              f"to a relative error of {worst_error:.1e} (first round, NCHW).  sgemm peak (NumPy, "
              f"1 OpenBLAS thread as tinycnn sets it, 2048^3 float32): {peak:.0f} GFLOP/s.", ""]
    lines += summary_table(rows, args.kinds) + [""]
    lines += detail_table(rows, peak) + [""]
    lines += startup_lines(starts)
    lines.append(END)
    return "\n".join(lines)
