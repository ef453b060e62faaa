"""Time to first result in a fresh Python process, cold and warm compilation cache (issue 2).

Each measurement is a fresh ``python -c`` subprocess with ``XDG_CACHE_HOME``
pointing at a temporary folder, that runs

    import bnsl; bnsl.enable_compilation_cache(); bnsl.fit(x50, y50[, n_breaks=1])

on a 50-point one-break curve and prints the result. Measured:

* from the parent: wall time from process start to the result line read on
  the child's stdout (and to process exit);
* the child's CPU time (user + sys, all threads), less sensitive than wall
  time to other processes on a shared machine;
* inside the child: ``time.perf_counter`` from before ``import bnsl``, split
  into ``import bnsl`` (lazy: it loads JAX and SciPy on first use),
  ``enable_compilation_cache`` (loads JAX), and the first fit; the first fit
  is split further into loading bnsl's modules (``bnsl.fit`` looked up),
  JAX's tracing, lowering to MLIR and backend compilation (or, warm, loading
  the compiled program from the cache), as JAX's own monitoring events time
  them; the rest is running the program and building the result.

The ``cli`` mode runs the ``bnsl-fit`` command (``python -m bnsl.cli``, this
checkout) on a 50-point CSV instead, timed from outside to its exit, after
it has printed its table (the command enables the cache by itself).

For each mode (``n_breaks=1``, the default auto, n = 0..3, and ``cli``) and repetition:
a fresh cache folder, a cold run (empty cache: compiles and writes the cache),
then a warm run (same folder: loads the compiled program). Each is repeated
``--repeat`` times (default 3) and the median reported. Targets: cold <= 5 s,
warm <= 2 s.

    python benchmarks/time_to_first_result.py
    python benchmarks/time_to_first_result.py --repeat 1 --modes n1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_COLD, TARGET_WARM = 5.0, 2.0

CHILD = """
import time
t0 = time.perf_counter()
import bnsl
t1 = time.perf_counter()
folder = bnsl.enable_compilation_cache()
t2 = time.perf_counter()
# Breakdown only (listeners cost nothing measurable): JAX's own compile-stage timers.
import collections, jax.monitoring
durations, events = collections.Counter(), collections.Counter()
jax.monitoring.register_event_duration_secs_listener(lambda e, d, **kw: durations.update({{e: d}}))
jax.monitoring.register_event_listener(lambda e, **kw: events.update({{e: 1}}))
import numpy as np
x = np.logspace(2, 7, 50)
y = 0.05 + 3.0 * x**-0.3 * (1 + (x / 1e4) ** (1 / 0.2)) ** (-0.5 * 0.2)
t3 = time.perf_counter()
fit_fn = bnsl.fit  # bnsl loads its modules (scipy, the solver) on first use
t4 = time.perf_counter()
fit = fit_fn(x, y{kwargs})
t5 = time.perf_counter()
import json
stage = lambda name: durations["/jax/core/compile/" + name + "_duration"]
print(json.dumps(dict(import_s=t1 - t0, cache_s=t2 - t1, modules_s=t4 - t3, fit_s=t5 - t3,
                      child_total_s=t5 - t0, trace_s=stage("jaxpr_trace"),
                      lower_s=stage("jaxpr_to_mlir_module"), compile_s=stage("backend_compile"),
                      cache_hits=events["/jax/compilation_cache/cache_hits"],
                      cache_misses=events["/jax/compilation_cache/cache_misses"],
                      n_breaks=int(fit.n_breaks), rmsle=float(fit.rmsle), cache=str(folder))), flush=True)
"""

MODES = {"n1": ", n_breaks=1", "auto": "", "cli": None}
LABELS = {"n1": "n_breaks=1", "auto": "auto (n=0..3)", "cli": "`bnsl-fit curve.csv` (auto)"}
CHILD_FIELDS = ("import_s", "cache_s", "modules_s", "fit_s", "child_total_s", "trace_s", "lower_s",
                "compile_s", "cache_hits", "cache_misses")


def run_cli_child(cache_home: str) -> dict:
    """``bnsl-fit`` (as ``python -m bnsl.cli``, this checkout) on a 50-point CSV: to its exit."""
    csv = Path(cache_home) / "curve.csv"
    x = np.logspace(2, 7, 50)
    y = 0.05 + 3.0 * x**-0.3 * (1 + (x / 1e4) ** (1 / 0.2)) ** (-0.5 * 0.2)
    csv.write_text("x,y\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(x.tolist(), y.tolist())))
    env = dict(os.environ, XDG_CACHE_HOME=cache_home)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bnsl.cli", str(csv)], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT)
    to_exit = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"bnsl-fit failed (rc={proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    # The table is printed as the last thing before exit: its time is the exit time.
    result = dict.fromkeys(CHILD_FIELDS, float("nan"))
    result.update(parent_to_result_s=to_exit, parent_to_exit_s=to_exit, child_cpu_s=cpu,
                  rest_s=float("nan"))
    return result


def run_child(mode: str, cache_home: str) -> dict:
    if mode == "cli":
        return run_cli_child(cache_home)
    env = dict(os.environ, XDG_CACHE_HOME=cache_home)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    code = CHILD.format(kwargs=MODES[mode])
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=REPO_ROOT)
    line = proc.stdout.readline()
    to_result = time.perf_counter() - start
    out, err = proc.communicate()
    to_exit = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    if proc.returncode != 0 or not line.strip():
        raise RuntimeError(f"child failed (rc={proc.returncode}):\n{err[-2000:]}")
    result = json.loads(line)
    result.update(parent_to_result_s=to_result, parent_to_exit_s=to_exit, child_cpu_s=cpu,
                  rest_s=result["fit_s"] - result["modules_s"] - result["trace_s"] - result["lower_s"]
                  - result["compile_s"])
    return result


def cache_entries(cache_home: str) -> int:
    folder = Path(cache_home) / "bnsl" / "jax"
    return sum(1 for _ in folder.rglob("*") if _.is_file()) if folder.is_dir() else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="n1,auto,cli", help="comma-separated: n1, auto, cli")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {unknown}; choose from {list(MODES)}")

    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    records = []
    loads = [os.getloadavg()]
    for rep in range(args.repeat):
        for mode in modes:
            with tempfile.TemporaryDirectory(prefix="bnsl-ttfr-") as home:
                for state in ("cold", "warm"):
                    r = run_child(mode, home)
                    r.update(mode=mode, state=state, rep=rep, cache_files=cache_entries(home),
                             load1=os.getloadavg()[0])
                    records.append(r)
                    print(f"rep {rep} {mode:4s} {state}: parent {r['parent_to_result_s']:.2f} s, child "
                          f"{r['child_total_s']:.2f} s (import {r['import_s']:.2f}, cache {r['cache_s']:.2f}, fit {r['fit_s']:.2f}: "
                          f"modules {r['modules_s']:.2f} trace {r['trace_s']:.2f} lower {r['lower_s']:.2f} "
                          f"compile {r['compile_s']:.2f}), "
                          f"cache files {r['cache_files']}, load1 {r['load1']:.2f}", file=sys.stderr, flush=True)
            loads.append(os.getloadavg())

    print(f"# time to first result, fresh processes, {args.repeat} repetitions, {date}")
    print(f"# {platform.machine()}, nproc={os.cpu_count()}, python {platform.python_version()}, "
          f"load average at start {tuple(round(v, 2) for v in loads[0])}, at end "
          f"{tuple(round(v, 2) for v in loads[-1])}, 1-min load during runs "
          f"{min(r['load1'] for r in records):.2f}-{max(r['load1'] for r in records):.2f}")
    print("| mode | cache | parent: start -> result (median) | min-max | to exit | child CPU s (user+sys) "
          "| target | |")
    print("|---|---|---|---|---|---|---|---|")
    ok = True
    summary = []
    for mode in modes:
        for state in ("cold", "warm"):
            sub = [r for r in records if r["mode"] == mode and r["state"] == state]
            med = {k: float(np.median([r[k] for r in sub])) for k in sub[0] if isinstance(sub[0][k], (int, float))}
            target = TARGET_COLD if state == "cold" else TARGET_WARM
            met = med["parent_to_result_s"] <= target
            ok &= met
            label = LABELS[mode]
            summary.append((label, state, med))
            print(f"| {label} | {state} | {med['parent_to_result_s']:.2f} s | "
                  f"{min(r['parent_to_result_s'] for r in sub):.2f}-{max(r['parent_to_result_s'] for r in sub):.2f} | "
                  f"{med['parent_to_exit_s']:.2f} | {med['child_cpu_s']:.2f} | <= {target:g} s | {'met' if met else 'MISSED'} |")
    print("\nBreakdown inside the child (medians, seconds; first fit = load modules + trace + lower + "
          "compile-or-load + run):")
    print("| mode | cache | child total | import bnsl | enable cache (imports JAX) | first fit | of which: load "
          "modules | trace | lower | compile / cache load | run + rest | cache hits / misses |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, state, med in summary:
        if np.isnan(med["child_total_s"]):
            continue  # the command line is timed from outside only
        print(f"| {label} | {state} | {med['child_total_s']:.2f} | {med['import_s']:.3f} | {med['cache_s']:.2f} | "
              f"{med['fit_s']:.2f} | {med['modules_s']:.2f} | {med['trace_s']:.2f} | {med['lower_s']:.2f} | "
              f"{med['compile_s']:.2f} | {med['rest_s']:.2f} | {med['cache_hits']:.0f} / {med['cache_misses']:.0f} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
