"""Issue 5: are bnsl's extrapolation bands honest on the field's benchmark?

For each of the 92 curves of the "Revisiting neural scaling laws" benchmark,
fit the Training == 1 points with the defaults, then score the Training == 0
(extrapolated) points:

- coverage of the 90% and 50% observation bands (each curve weighs the same);
- mean band width in log y (sharpness);
- mean log predictive density of log y (a proper score: higher is better);

for bnsl's posterior predictive (averaged over n) with its misspecification
term beyond the data (`bnsl`, the default; see bnsl/extrapolation.py), for the
same posterior without it (`bnsl_plain`, `drift=False`), and for the
delta-method band at the chosen law's mode (`delta`, what lmfit reports), per
domain. Each row also records the learned tau and the seconds the fit and the
leave-future-out refits behind tau took.

    python benchmarks/calibration.py            # all 92 curves, ~6 min on 2 cores
    python benchmarks/calibration.py --quick    # a dozen
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

# This checkout's bnsl, not an installed copy.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
import revisiting  # noqa: E402  (the benchmark's loader and curve selection)

import bnsl  # noqa: E402

LEVELS = (0.9, 0.5)
ONE_SD = 0.6826894921370859  # probability within one standard deviation of a normal


METHODS = ("bnsl", "bnsl_plain", "delta")


def score_curve(curve: revisiting.Curve) -> list[dict]:
    start = time.perf_counter()
    fit = bnsl.fit(curve.x_train, curve.y_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    drift = fit.drift  # the leave-future-out refits, timed on their own
    drift_seconds = time.perf_counter() - start
    log_y = np.log(curve.y_test)
    rows = []
    for method in METHODS:
        row = {"domain": curve.domain, "task": curve.task, "model": curve.model, "method": method,
               "n_breaks": fit.n_breaks, "n_train": len(curve.x_train), "n_test": len(log_y),
               "tau": drift.tau_median, "holdouts": len(drift.holdouts),
               "fit_seconds": fit_seconds, "drift_seconds": drift_seconds}
        use_drift = method == "bnsl"
        for level in LEVELS:
            if method == "delta":
                lo, hi = fit.delta_interval(curve.x_test, level, kind="observation")
            else:
                lo, hi = fit.interval(curve.x_test, level, kind="observation", drift=use_drift)
            inside = (curve.y_test >= lo) & (curve.y_test <= hi)
            row[f"coverage_{int(level * 100)}"] = inside.mean()
            row[f"width_{int(level * 100)}"] = np.mean(np.log(hi / lo))
        if method != "delta":
            row["lpd"] = fit.log_predictive_density(curve.x_test, curve.y_test, drift=use_drift).mean()
        else:
            lo, hi = fit.delta_interval(curve.x_test, ONE_SD, kind="observation")
            centre, sd = 0.5 * np.log(lo * hi), 0.5 * np.log(hi / lo)
            row["lpd"] = np.mean(-0.5 * ((log_y - centre) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi))
        rows.append(row)
    return rows


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    cols = ["coverage_90", "coverage_50", "width_90", "width_50", "lpd"]
    parts = []
    for domain, group in [*rows.groupby("domain"), ("all", rows)]:
        agg = group.groupby("method")[cols].mean()
        agg.insert(0, "curves", group.groupby("method").size())
        agg.insert(0, "domain", domain)
        parts.append(agg.reset_index())
    return pd.concat(parts, ignore_index=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=revisiting.DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=revisiting.REPO_ROOT / "docs" / "results" / "calibration")
    args = parser.parse_args(argv)
    curves = revisiting.curves_from_table(revisiting.load_table(args.data))
    if args.quick:
        curves = revisiting.select_quick(curves)
    start = time.perf_counter()
    score_curve(curves[0])  # compile first, so that the per-curve timings are the warm ones
    rows = []
    for i, curve in enumerate(curves):
        rows += score_curve(curve)
        print(f"[{i + 1}/{len(curves)}] {curve.domain} {curve.task} {curve.model}", flush=True)
    rows = pd.DataFrame(rows)
    summary = summarise(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.out / "rows.csv", index=False)
    summary.to_csv(args.out / "summary.csv", index=False)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = [
        "# Calibration of extrapolation bands (issue 5)", "",
        f"`python benchmarks/calibration.py{' --quick' if args.quick else ''}` on {stamp}: "
        f"{len(curves)} curves, {time.perf_counter() - start:.0f} s, {platform.machine()}, "
        f"{os.cpu_count()} CPUs.", "",
        "Observation bands on the Training == 0 (extrapolated) points, fitted on Training == 1 with "
        "the defaults. Coverage: fraction of points inside, averaged over curves (targets: 90% band "
        "0.80-0.95, 50% band 0.40-0.60). Width: mean log(upper/lower). lpd: mean log predictive "
        "density of log y per point (higher is better). `bnsl` is the default predictive (with the "
        "misspecification term beyond the data), `bnsl_plain` the same posterior with `drift=False`, "
        "`delta` the delta-method band at the chosen law's mode (lmfit's).", "",
        f"Leave-future-out refits behind tau: {rows['drift_seconds'].mean():.3f} s per curve on "
        f"average (the fit itself: {rows['fit_seconds'].mean():.3f} s); tau kept its prior on "
        f"{int((rows.groupby(['domain', 'task', 'model'])['holdouts'].first() == 0).sum())} curves "
        "(too short to hold points out).", "",
        revisiting._markdown_table(summary, floatfmt=".3f"),
    ]
    (args.out / "summary.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
