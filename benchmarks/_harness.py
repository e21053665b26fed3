"""What both benchmarks share: fresh worker processes, their environment, the timing loop,
statistics over rounds, and the facts about the machine that a result needs.

Parent side (the standard library only, so the parent process never loads torch, Numba or
tinycnn's kernels): ``worker_env``, ``run_worker``, ``Progress``, ``summarize``,
``machine_facts``.  Worker side (called after the worker imported its framework):
``time_steps``, ``median_ms``, ``runtime_facts``, ``allocator_probe``, ``write_json``.

Why not pyperf: pyperf spawns fresh workers too, but runs all the workers of one benchmark
before the next benchmark starts, so it cannot alternate tinycnn / torch NCHW / torch
channels_last within a round (a neighbour's load burst then hits one framework only);
each of our workers also has to report things pyperf has no place for (minor page faults
per step, the chosen threading layer, the BLAS kernel, an allocator probe), and the two
allocators are two environments for the same worker.  The loop below is twenty lines.
"""

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREADS = 2

#: the variables that size the thread pools: Numba's, OpenMP's (torch, Numba's omp layer), BLAS's
THREAD_VARS = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: variables that force OpenBLAS onto another core type: NumPy's GEMMs run at about half speed
FORCED_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: glibc told never to trim its heap nor to serve big blocks with mmap (2**40 bytes: "never";
#: glibc 2.36 accepts it: allocator_probe shows the faults going away)
NO_TRIM = {"MALLOC_TRIM_THRESHOLD_": str(2**40), "MALLOC_MMAP_THRESHOLD_": str(2**40)}
ALLOCATORS = {"default": {}, "notrim": NO_TRIM}
ALLOCATOR_LABELS = {"default": "glibc default", "notrim": "glibc, trimming off"}


# ---------------------------------------------------------------------- parent side


def worker_env(allocator):
    """The environment of one worker: 2 threads everywhere (but NumPy's OpenBLAS, which tinycnn
    sets up itself), the allocator's variables."""
    if allocator not in ALLOCATORS:
        raise SystemExit(f"--allocators: unknown allocator {allocator!r}; choose from {sorted(ALLOCATORS)}")
    env = dict(os.environ)
    for name in NO_TRIM:
        env.pop(name, None)
    env.update(ALLOCATORS[allocator])
    env.update({name: str(THREADS) for name in THREAD_VARS})
    # NumPy's OpenBLAS: as a user's run, tinycnn picks its thread count itself (one thread,
    # kernels/_threads.py); PyTorch's GEMMs do not go through it.
    env.pop("OPENBLAS_NUM_THREADS")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return env


def run_worker(script, task, allocator, folder, name, extra_env=None):
    """Run ``script --worker TASK.json`` in a fresh interpreter and return the JSON it wrote.

    The worker's own output (warnings, a traceback) goes straight to this terminal; a
    failed worker stops the benchmark with a one-line message that points at it.
    """
    task = dict(task, out=os.path.join(folder, f"{name}.result.json"))
    task_path = os.path.join(folder, f"{name}.task.json")
    with open(task_path, "w", encoding="utf-8") as f:
        json.dump(task, f)
    env = worker_env(allocator)
    env.update(extra_env or {})
    start = time.perf_counter()
    done = subprocess.run([sys.executable, script, "--worker", task_path], env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{os.path.basename(script)}: worker {name} failed with exit status "
                         f"{done.returncode} (its error is printed above)")
    with open(task["out"], encoding="utf-8") as f:
        result = json.load(f)
    result["wall_seconds"] = time.perf_counter() - start
    return result


def rotated(items, k):
    """items started at position k: the worker order of round k (so none always goes first)."""
    k %= len(items)
    return list(items[k:]) + list(items[:k])


class Progress:
    """Prints one line per finished worker: how long it took, and about how long is left.

    The estimate for a worker not yet run is the mean time of the workers with the same
    ``kind`` so far (e.g. "tinycnn efficientnet_b0"), else the mean of all so far.
    """

    def __init__(self, planned_kinds):
        self.planned = list(planned_kinds)
        self.durations = {}
        self.start = time.perf_counter()

    def done(self, kind, label, seconds):
        self.durations.setdefault(kind, []).append(seconds)
        finished = sum(len(v) for v in self.durations.values())
        left = self._estimate_left(finished)
        elapsed = time.perf_counter() - self.start
        print(f"[{finished}/{len(self.planned)}] {label}: {seconds:.1f} s; elapsed "
              f"{_minutes(elapsed)}, about {_minutes(left)} left", flush=True)

    def _estimate_left(self, finished):
        every = [s for v in self.durations.values() for s in v]
        overall = statistics.mean(every)
        return sum(statistics.mean(self.durations[kind]) if kind in self.durations else overall
                   for kind in self.planned[finished:])


def _minutes(seconds):
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def summarize(per_process):
    """Median of the per-process medians and their spread (max / min) over the rounds."""
    values = [float(v) for v in per_process]
    spread = max(values) / min(values) if min(values) > 0 else float("inf")
    return {"median": statistics.median(values), "spread": spread,
            "n": len(values), "values": values}


def fmt_ms(summary):
    """'104.2 (1.03)': the median in ms, the spread in brackets."""
    ms = 1e3 * summary["median"]
    digits = 2 if ms < 10 else 1
    return f"{ms:.{digits}f} ({summary['spread']:.2f})"


def geometric_mean(values):
    values = list(values)
    product = 1.0
    for v in values:
        product *= v
    return product ** (1.0 / len(values))


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average():
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def machine_facts():
    """What the parent can say about the machine without loading any framework."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    libc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else platform.libc_ver()
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "nproc": os.cpu_count(), "usable_cpus": usable,
            "cpu": cpu_model(), "platform": platform.platform(), "python": platform.python_version(),
            "libc": libc, "load": load_average(),
            "forced_blas_vars": {v: os.environ[v] for v in FORCED_BLAS_VARS if v in os.environ}}


def warn_forced_blas(facts):
    if facts["forced_blas_vars"]:
        print(f"WARNING: {sorted(facts['forced_blas_vars'])} set: NumPy's OpenBLAS may run at half "
              "speed; rerun with env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE", file=sys.stderr)


def fmt_load(load):
    return "n/a" if not load else " / ".join(f"{v:.2f}" for v in load)


def worker_loads(results):
    """'min / median / max' of the 1-minute load average at the start of each worker."""
    loads = [r["load_start"][0] for r in results if r.get("load_start")]
    if not loads:
        return "n/a"
    return f"{min(loads):.2f} / {statistics.median(loads):.2f} / {max(loads):.2f}"


def facts_lines(facts, command, end_load, runtime, results):
    """The lines of a results section that say how, where and when it was measured."""
    forced = facts["forced_blas_vars"] or "neither set"
    return [f"Command: `{command}`  ",
            f"Date: {facts['date']}; machine: {facts['cpu']}, nproc {facts['nproc']} "
            f"({facts['usable_cpus']} usable), {facts['platform']}, {facts['libc']}, "
            f"Python {facts['python']}.  ",
            f"Load average (1 / 5 / 15 min) before: {fmt_load(facts['load'])}; after: "
            f"{fmt_load(end_load)}; 1-minute load at each worker's start, min / median / max: "
            f"{worker_loads(results)} (other work on the machine slows both frameworks).  ",
            f"Versions: {runtime}.  ",
            f"OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: {forced}."]


# ---------------------------------------------------------------------- worker side


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_steps(step, warmup, steps):
    """Run ``step`` warmup times, then time it ``steps`` times.

    Returns the median seconds, every time, and the minor page faults per timed step
    (getrusage's ru_minflt: a page the process touches for the first time since the
    allocator got it from the kernel, i.e. memory returned and taken back).
    """
    for _ in range(warmup):
        step()
    times = []
    faults = minor_faults()
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    faults = minor_faults() - faults
    return {"median": statistics.median(times), "times": times, "faults_per_step": faults / steps}


def median_ms(call, warmup, repeats):
    """Median milliseconds of ``repeats`` timed calls after ``warmup`` untimed ones."""
    return 1000 * time_steps(call, warmup, repeats)["median"]


def allocator_probe(mib=48, cycles=4):
    """Minor page faults per allocate-touch-free cycle of a mib MiB NumPy array, after one
    cycle of warm-up: many with the default glibc (a block that big comes from mmap and goes
    back to the kernel when freed), near 0 when trimming is off (it stays in the heap)."""
    import numpy as np
    n = mib * 2**20 // 4
    np.ones(n, np.float32)
    before = minor_faults()
    for _ in range(cycles):
        np.ones(n, np.float32)
    return (minor_faults() - before) / cycles


def blas_facts():
    """Which BLAS NumPy runs: library, version, kernel (core type) and threads."""
    try:
        import threadpoolctl
    except ImportError:
        threadpoolctl = None
    if threadpoolctl is not None:
        info = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        return "; ".join(f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')}, "
                         f"{i['num_threads']} threads" for i in info) or "none found"
    return _openblas_by_ctypes() or _numpy_build_blas()


def _openblas_by_ctypes():
    """OpenBLAS's own answer (what threadpoolctl asks), from the library NumPy loaded.
    (tinycnn.kernels.blas loads only NumPy and ctypes, not Numba.)"""
    from tinycnn.kernels.blas import openblas_description
    return openblas_description()


def _numpy_build_blas():
    import numpy as np
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')} (build info; kernel unknown)"
    except Exception:                       # older NumPy: no dict mode
        return "unknown"


def runtime_facts():
    """The worker's view: NumPy's BLAS, the thread and allocator variables it was given."""
    import numpy as np
    watched = THREAD_VARS + FORCED_BLAS_VARS + tuple(NO_TRIM) + ("OMP_WAIT_POLICY", "GLIBC_TUNABLES")
    return {"numpy": np.__version__, "blas": blas_facts(),
            "env": {name: os.environ.get(name) for name in watched}}


def write_json(path, value):
    """Write the worker's result atomically (the parent reads it once the worker exits)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def read_task(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
