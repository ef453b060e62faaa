"""Throughput of ``bnsl.fit_many`` against a Python loop over ``bnsl.fit`` (issue 9).

Curves: ``benchmarks/_synthetic.py`` laws with 0 to 3 breaks (in turn), each
observed at a number of log-spaced points drawn uniformly from 30 to 60, noise
sd 0.01 on ln y; default auto fit (n = 0..3, 48 starts, 1024 draws, seed 0).

Three figures, measured in one run:

1. **Throughput.** ``bnsl.fit_many`` on all the curves in a fresh process
   (compilation included: nothing is compiled before, and no persistent
   compilation cache is set), against a loop of ``bnsl.fit`` over a sample of
   them, timed after one warm-up fit per bucket size (compilation excluded,
   which favours the loop) and scaled to all the curves.
   Targets: batch <= 60 s for 1,000 curves; batch >= 10x faster than the loop.
2. **Memory.** ``bnsl.fit_many`` on ``--memory-curves`` (10,000) curves in a
   subprocess; its peak resident set size (``ru_maxrss``). Target: <= 4 GiB.
3. **Equality.** On the loop's sample: the same chosen n on every curve and
   predictions within 1e-6 (relative) on a grid a decade beyond the data.

Timings on a shared machine are noisy: the core count and load average are
recorded beside them, and process CPU time (all threads) beside wall time.

    python benchmarks/throughput.py                  # 1,000 curves, loop on 50, memory on 10,000
    python benchmarks/throughput.py --quick          # 200 curves, loop on 20, memory on 1,000
    python benchmarks/throughput.py --write docs/results/throughput.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))  # measure this checkout, not an installed copy

from _synthetic import draw_curve  # noqa: E402

TARGET_SECONDS, TARGET_RATIO, TARGET_GIB, TARGET_REL = 60.0, 10.0, 4.0, 1e-6
SCALE_CURVES = 1000  # the throughput target is stated for 1,000 curves
NOTES = "## Notes"


def make_curves(k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        x, y, _ = draw_curve(rng, i % 4, n_points=int(rng.integers(30, 61)))
        out.append((x, y))
    return out


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def memory_child(k: int, seed: int, chunk_size: int | None) -> None:
    """Run in a subprocess: fit_many on k curves, print seconds and peak RSS as JSON."""
    import bnsl

    curves = make_curves(k, seed)
    options = {} if chunk_size is None else {"chunk_size": chunk_size}
    fits, wall, cpu = timed(lambda: bnsl.fit_many(curves, progress=False, **options))
    print(json.dumps({"curves": k, "wall": wall, "cpu": cpu, "peak_rss_gib": peak_rss_gib(),
                      "failures": len(fits.failures)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 curves, loop on 20, memory on 1,000")
    parser.add_argument("--curves", type=int, help="curves for the throughput run (1,000)")
    parser.add_argument("--loop-sample", type=int, help="curves fitted one by one (50)")
    parser.add_argument("--memory-curves", type=int, help="curves for the memory run (10,000; 0 skips)")
    parser.add_argument("--chunk-size", type=int, help="fit_many's chunk_size (default: its own)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", type=Path, help="also write the markdown report to this file")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        memory_child(args.memory_child, args.seed, args.chunk_size)
        return

    n_curves = args.curves or (200 if args.quick else 1000)
    n_loop = min(args.loop_sample or (20 if args.quick else 50), n_curves)
    n_memory = args.memory_curves if args.memory_curves is not None else (1000 if args.quick else 10000)
    options = {} if args.chunk_size is None else {"chunk_size": args.chunk_size}
    started, load_start = datetime.now(), load()
    curves = make_curves(n_curves, args.seed)

    import bnsl

    # 1. The batch, first thing in this process: every compilation is inside the timing.
    fits, batch_wall, batch_cpu = timed(lambda: bnsl.fit_many(curves, progress=False, **options))
    batch_rss = peak_rss_gib()
    print(f"fit_many: {n_curves} curves in {batch_wall:.1f} s wall ({batch_cpu:.1f} s CPU), "
          f"load {load()}", flush=True)

    # 2. The loop, on an evenly spread sample, after a warm-up fit per bucket size.
    sample = list(range(0, n_curves, max(n_curves // n_loop, 1)))[:n_loop]
    from bnsl._program import bucket_size

    warm = {}
    for i in sample:
        warm.setdefault(bucket_size(len(curves[i][0])), i)
    _, warm_wall, _ = timed(lambda: [bnsl.fit(*curves[i]) for i in warm.values()])
    singles, loop_wall, loop_cpu = timed(lambda: [bnsl.fit(*curves[i]) for i in sample])
    per_loop = loop_wall / len(sample)
    print(f"loop: {len(sample)} curves in {loop_wall:.1f} s wall ({loop_cpu:.1f} s CPU) after "
          f"{warm_wall:.1f} s of warm-up, load {load()}", flush=True)

    # 3. Equality on the sample.
    worst, different_n, max_dlogz = 0.0, [], 0.0
    for i, single in zip(sample, singles):
        batch = fits[i]
        x = curves[i][0]
        grid = np.logspace(np.log10(x.min()) - 1, np.log10(x.max()) + 1, 60)
        worst = max(worst, float(np.max(np.abs(batch.predict(grid) / single.predict(grid) - 1))))
        if batch.n_breaks != single.n_breaks:
            different_n.append(i)
        for n, cand in single.candidates.items():
            max_dlogz = max(max_dlogz, abs(batch.candidates[n].log_evidence - cand.log_evidence))
    print(f"equality: chosen n differs on {len(different_n)} of {len(sample)}; worst relative "
          f"prediction difference {worst:.1e}; max |log Z difference| {max_dlogz:.1e}", flush=True)

    # 4. Memory in a subprocess (its own peak RSS, nothing else in it).
    memory = None
    if n_memory:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(n_memory),
               "--seed", str(args.seed)] + ([] if args.chunk_size is None else ["--chunk-size", str(args.chunk_size)])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        memory = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"memory: {n_memory} curves, peak RSS {memory['peak_rss_gib']:.2f} GiB, "
              f"{memory['wall']:.0f} s wall, load {load()}", flush=True)

    ratio = per_loop * n_curves / batch_wall
    verdict = lambda ok: "**met**" if ok else "**not met**"
    at_scale = n_curves == SCALE_CURVES
    rows = [
        (f"fit_many, {n_curves} curves, wall (compilation included)",
         f"{batch_wall:.1f} s ({batch_cpu:.1f} s CPU)",
         f"<= {TARGET_SECONDS:.0f} s" if at_scale else "(1,000 curves for the target)",
         verdict(batch_wall <= TARGET_SECONDS) if at_scale else ""),
        (f"loop over bnsl.fit, per curve ({len(sample)} timed, compiled)",
         f"{per_loop:.3f} s ({loop_cpu / len(sample):.3f} s CPU)", "", ""),
        (f"loop per {n_curves} curves (scaled)", f"{per_loop * n_curves:.1f} s", "", ""),
        ("speed-up of fit_many over the loop", f"{ratio:.2f}x", f">= {TARGET_RATIO:.0f}x",
         verdict(ratio >= TARGET_RATIO)),
        (f"same chosen n (sample of {len(sample)})", f"{len(sample) - len(different_n)} / {len(sample)}",
         "all", verdict(not different_n)),
        ("worst relative prediction difference", f"{worst:.1e}", f"<= {TARGET_REL:.0e}",
         verdict(worst <= TARGET_REL)),
        ("worst log-evidence difference (nats)", f"{max_dlogz:.1e}", "", ""),
    ]
    if memory:
        rows.append((f"peak RSS, fit_many on {memory['curves']} curves (subprocess)",
                     f"{memory['peak_rss_gib']:.2f} GiB ({memory['wall']:.0f} s wall)",
                     f"<= {TARGET_GIB:.0f} GiB" if memory["curves"] >= 10000 else "(10,000 for the target)",
                     verdict(memory["peak_rss_gib"] <= TARGET_GIB) if memory["curves"] >= 10000 else ""))
    rows.append((f"peak RSS of this process after fit_many on {n_curves}", f"{batch_rss:.2f} GiB", "", ""))

    command = "python benchmarks/throughput.py " + " ".join(sys.argv[1:])
    lines = [
        "# Throughput: `bnsl.fit_many` against a loop over `bnsl.fit` (issue 9)",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M}",
        f"- Machine: {platform.node() or 'unknown'}, {platform.machine()}, nproc = {os.cpu_count()}, "
        f"load average at start {load_start}, at end {load()}",
        f"- Command: `{command.strip()}`",
        f"- Curves: `benchmarks/_synthetic.py` (seed {args.seed}), n = 0..3 breaks in turn, 30..60 "
        "log-spaced points over 5 decades, noise sd 0.01 on ln y; default auto fit "
        f"(n = 0..3, 48 starts, 100 iterations, 1024 draws, seed 0); fit_many chunk_size "
        f"{args.chunk_size or 'default'}",
        "",
        "| figure | value | target | |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
    ]
    report = "\n".join(lines)
    print()
    print(report)
    if args.write:
        # Hand-written notes below the figures ("## Notes" onwards) survive a rerun.
        notes = ""
        if args.write.exists():
            old = args.write.read_text()
            notes = old[old.index(NOTES):] if NOTES in old else ""
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(report + ("\n" + notes if notes else ""))


if __name__ == "__main__":
    main()
