"""Does ``bnsl.fit`` pick the right number of breaks? Synthetic laws with known n.

Curves come from ``_synthetic.py`` (the same generator as ``evidence_accuracy.py``):
n in {0, 1, 2, 3}, 50 log-spaced points over 5 decades, Gaussian noise of sd 0.01
on ln y, breaks in the central 80% of the log-x range and at least a decade
apart, |c_i| in [0.3, 1.5] (a fifth negative), f in [0.05, 0.8], c0 in [0, 0.5],
floor a at most half the smallest value of the power-law part. Each is fitted
with the defaults, ``bnsl.fit(x, y)`` (n = 0..3 by marginal likelihood), through
``bnsl.fit_many`` (the same result per curve, faster).

Usage:
    python benchmarks/selection_accuracy.py               # 50 curves per n, writes docs/results/
    python benchmarks/selection_accuracy.py --quick       # 5 curves per n, writes nothing unless --out
    python benchmarks/selection_accuracy.py --per-n 100 --seed 1

Targets (issue 4): the right n on >= 90% of curves; a spurious break on <= 5%
of the curves that have none.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]  # this checkout's bnsl, not an installed copy

import _synthetic  # noqa: E402
from _results import with_kept_notes  # noqa: E402

RESULTS = ROOT / "docs" / "results"
MAX_BREAKS = 3


def draw(per_n: int, seed: int) -> list[dict]:
    """``per_n`` curves for each true n; each curve has its own reproducible stream."""
    curves = []
    for n in range(MAX_BREAKS + 1):
        for i in range(per_n):
            rng = np.random.default_rng([seed, n, i])
            x, y, law = _synthetic.draw_curve(rng, n)
            curves.append(dict(true_n=n, index=i, x=x, y=y, law=law))
    return curves


def fit_all(curves: list[dict], chunk: int) -> list:
    import bnsl

    fits = bnsl.fit_many([(c["x"], c["y"]) for c in curves], progress=False, chunk_size=chunk,
                         max_breaks=MAX_BREAKS)
    return [fits[i] for i in range(len(curves))]


def row_of(curve: dict, fit) -> dict:
    law = curve["law"]
    row = dict(true_n=curve["true_n"], index=curve["index"], a=law.a, b=law.b, c0=law.c0,
               c=";".join(f"{v:.4g}" for v in law.c), d=";".join(f"{v:.4g}" for v in law.d),
               f=";".join(f"{v:.4g}" for v in law.f))
    if not hasattr(fit, "candidates"):  # FitFailure
        row.update(chosen_n=-1, status="failed", message=getattr(fit, "reason", str(fit)))
        return row
    row.update(chosen_n=fit.n_breaks, status=fit.status, rmsle=fit.rmsle)
    for n, c in fit.candidates.items():
        row[f"log_z_{n}"] = c.log_evidence
        row[f"khat_{n}"] = c.khat
        row[f"p_{n}"] = fit.probabilities[n]
    return row


def smallest_break(law) -> str:
    if law.n_breaks == 0:
        return ""
    i = int(np.argmin(np.abs(law.c)))
    return f"smallest |c|={abs(law.c[i]):.2f} at d=1e{np.log10(law.d[i]):.1f}, f={law.f[i]:.2f}"


def markdown(rows: pd.DataFrame, curves: list[dict], args, runtime: float) -> str:
    ok = lambda cond: "**met**" if cond else "**missed**"
    right = rows.chosen_n == rows.true_n
    overall = right.mean()
    no_break = rows[rows.true_n == 0]
    spurious = (no_break.chosen_n > 0).mean()
    lines = [
        "# Selection accuracy: does `bnsl.fit` pick the right number of breaks?",
        "",
        f"- Date: {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        f"- Machine: {platform.node() or 'unknown'}, {platform.machine()}, nproc = {os.cpu_count()}, "
        f"load average at start {args.load_start}, at end {args.load_end}",
        f"- Command: `{args.command}`",
        f"- Runtime: {runtime / 60:.1f} min for {len(rows)} curves "
        f"(bnsl.fit_many, chunks of {args.chunk}, defaults otherwise: n = 0..3, 48 starts, "
        "1024 importance draws, seed 0, uniform prior on n)",
        f"- Curves: `benchmarks/_synthetic.py`, seed {args.seed}, {args.per_n} per true n: 50 log-spaced "
        "points over 5 decades (1e2..1e7), Gaussian noise sd 0.01 on ln y; breaks log-uniform in the "
        "central 80% of the log-x range and >= 1 decade apart; |c_i| ~ U[0.3, 1.5], negative with "
        "probability 1/5; f ~ logU[0.05, 0.8]; c0 ~ U[0, 0.5]; y(x_min) before the floor ~ exp(U[0, 2]); "
        "floor a = U[0, 0.5] x min of the power-law part (so the floor never swamps the last segment "
        "and every break stays visible); laws with a segment slope outside [-2, 3] redrawn.",
        "",
        "## Figures vs targets",
        "",
        "| figure | value | target | |",
        "|---|---|---|---|",
        f"| right n, overall ({len(rows)} curves) | {overall:.1%} | >= 90% | {ok(overall >= 0.9)} |",
    ]
    for n in range(MAX_BREAKS + 1):
        g = rows[rows.true_n == n]
        frac = (g.chosen_n == n).mean()
        lines.append(f"| right n, true n = {n} ({len(g)} curves) | {frac:.1%} | >= 90% | {ok(frac >= 0.9)} |")
    lines += [
        f"| spurious break on curves with none ({len(no_break)}) | {spurious:.1%} | <= 5% | "
        f"{ok(spurious <= 0.05)} |",
        "",
        "## Confusion matrix (rows: true n; columns: chosen n)",
        "",
    ]
    cols = sorted(set(range(MAX_BREAKS + 1)) | set(rows.chosen_n))
    header = "| true n \\ chosen | " + " | ".join("failed" if c < 0 else str(c) for c in cols) + " |"
    lines += [header, "|---" * (len(cols) + 1) + "|"]
    for n in range(MAX_BREAKS + 1):
        g = rows[rows.true_n == n]
        lines.append(f"| {n} | " + " | ".join(str(int((g.chosen_n == c).sum())) for c in cols) + " |")
    status = rows.status.value_counts().to_dict()
    lines += ["", "Fit status: " + ", ".join(f"{k} {v}" for k, v in status.items()) + ".", ""]

    wrong = rows[~right]
    lines += ["## Wrong choices", ""]
    if wrong.empty:
        lines.append("None.")
    else:
        lines += ["`log Z` per n (nats) with k-hat; `gap` = log Z(chosen) - log Z(true n).", "",
                  "| true n | # | chosen | gap | log Z (k-hat) for n = 0..3 | law |", "|---|---|---|---|---|---|"]
        for _, r in wrong.iterrows():
            law = curves[int(r.name)]["law"]
            ev = ", ".join(f"{r.get(f'log_z_{n}', math.nan):.1f} ({r.get(f'khat_{n}', math.nan):.2f})"
                           for n in range(MAX_BREAKS + 1))
            gap = r.get(f"log_z_{int(r.chosen_n)}", math.nan) - r.get(f"log_z_{int(r.true_n)}", math.nan)
            lines.append(f"| {r.true_n} | {r['index']} | {r.chosen_n} | {gap:.1f} | {ev} | "
                         f"{law.describe()} |")
        under = int((wrong.chosen_n < wrong.true_n).sum())
        over = int((wrong.chosen_n > wrong.true_n).sum())
        lines += ["", f"Too few breaks: {under}; too many: {over}."]
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-n", type=int, default=None, help="curves per true n (default 50)")
    parser.add_argument("--quick", action="store_true", help="5 curves per n; writes nothing unless --out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the csv and markdown (default docs/results; --quick: none)")
    args = parser.parse_args(argv)
    args.per_n = args.per_n or (5 if args.quick else 50)
    args.command = "python " + " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])
    args.load_start = "%.2f %.2f %.2f" % os.getloadavg()
    # Chunks as equal as possible, at most 64 curves: padding a chunk wastes work.
    args.chunk = math.ceil(args.per_n / math.ceil(args.per_n / 64))
    t_start = time.time()
    curves = draw(args.per_n, args.seed)
    print(f"{len(curves)} curves; load average {args.load_start}", flush=True)
    fits = []
    for n in range(MAX_BREAKS + 1):
        group = [c for c in curves if c["true_n"] == n]
        t0 = time.time()
        fits += fit_all(group, args.chunk)
        chosen = [getattr(f, "n_breaks", -1) for f in fits[-len(group):]]
        print(f"true n={n}: chosen {np.bincount(np.array(chosen) + 1, minlength=MAX_BREAKS + 2)[1:].tolist()}"
              f" (counts of n=0..{MAX_BREAKS}), right {np.mean(np.array(chosen) == n):.0%}"
              f"  [{time.time() - t0:.0f} s, total {time.time() - t_start:.0f} s]", flush=True)
    rows = pd.DataFrame([row_of(c, f) for c, f in zip(curves, fits)])
    runtime = time.time() - t_start
    args.load_end = "%.2f %.2f %.2f" % os.getloadavg()

    right = rows.chosen_n == rows.true_n
    print(f"\nright n overall {right.mean():.1%}; per true n "
          + ", ".join(f"{n}: {(rows[rows.true_n == n].chosen_n == n).mean():.0%}" for n in range(MAX_BREAKS + 1))
          + f"; spurious break on n=0 curves {(rows[rows.true_n == 0].chosen_n > 0).mean():.1%}")
    print(pd.crosstab(rows.true_n, rows.chosen_n).to_string())
    print(f"runtime {runtime / 60:.1f} min; load average {args.load_end}")
    if args.out is None:
        if args.quick:
            return 0
        args.out = RESULTS
    args.out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.out / "selection_accuracy.csv", index=False, float_format="%.5g")
    md = args.out / "selection_accuracy.md"
    md.write_text(with_kept_notes(md, markdown(rows, curves, args, runtime)))
    print(f"wrote {args.out / 'selection_accuracy.csv'} and {args.out / 'selection_accuracy.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
