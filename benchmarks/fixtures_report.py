"""Issue 6's figures on the bundled fixtures.

1. Model-wise and sample-wise double descent: does the default auto fit select a
   law with a rising segment, and where is the fitted peak against the observed one?
2. Grokking (test error): the fitted break nearest the step where test error first
   falls below 0.5 — its sharpness f and its distance in log x.
3. Every fixture curve: fit the first 60% of the points, predict the rest;
   RMSLE of the auto fit and of the fixed 1-break fit.

    python benchmarks/fixtures_report.py      # ~2 min; writes docs/results/fixtures.md
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's bnsl, not an installed copy

import numpy as np

import bnsl

OUT = Path(__file__).resolve().parents[1] / "docs" / "results" / "fixtures.md"


def curves(name: str):
    """``(label, x, y)`` for every curve of a fixture (one per group)."""
    info = bnsl.fixtures.describe(name)
    frame = bnsl.fixtures.load(name)
    xc, yc, groups = info["x"]["column"], info["y"]["column"], info.get("groups") or []
    if not groups:
        yield name, frame[xc].to_numpy(float), frame[yc].to_numpy(float)
        return
    for key, g in frame.groupby(groups if len(groups) > 1 else groups[0]):
        key = key if isinstance(key, tuple) else (key,)
        label = name + " " + ", ".join(f"{c}={v}" for c, v in zip(groups, key))
        yield label, g[xc].to_numpy(float), g[yc].to_numpy(float)


def rmsle(pred, true):
    return float(np.sqrt(np.mean((np.log(pred) - np.log(true)) ** 2)))


def main() -> int:
    lines = ["# Fixtures: what the default fit finds (issue 6)", "",
             f"`python benchmarks/fixtures_report.py` on "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, {os.cpu_count()} CPUs.", ""]

    lines += ["## Double descent: rising segment and peak", "",
              "| fixture | n chosen | rising segment | fitted peak | observed peak | |log ratio| / log(observed peak) |",
              "|---|---|---|---|---|---|"]
    for name in ("double_descent_model", "double_descent_sample"):
        (_, x, y), = curves(name)
        fit = bnsl.fit(x, y)
        grid = np.logspace(np.log10(x.min()), np.log10(x.max()), 4000)
        peak_fit, peak_obs = grid[np.argmax(fit.predict(grid))], x[np.argmax(y)]
        rising = bool(np.any(-np.cumsum(np.r_[fit.params.c0, fit.params.c]) > 0))
        err = abs(np.log(peak_fit / peak_obs)) / np.log(peak_obs)
        lines.append(f"| {name} | {fit.n_breaks} | {rising} | {peak_fit:.1f} | {peak_obs:.1f} | {err:.3f} |")

    lines += ["", "## Grokking: the break at the drop in test error", "",
              "| curve | n chosen | break d | sharpness f | first step with test error < 0.5 | |log ratio| / log(step) |",
              "|---|---|---|---|---|---|"]
    for label, x, y in curves("grokking"):
        if "test_error" not in label:
            continue
        fit = bnsl.fit(x, y)
        first = x[np.argmax(y < 0.5)]
        p = fit.params
        i = int(np.argmin(np.abs(np.log(p.d / first))))
        lines.append(f"| {label} | {fit.n_breaks} | {p.d[i]:.0f} | {p.f[i]:.3f} | {first:.0f} | "
                     f"{abs(np.log(p.d[i] / first)) / np.log(first):.3f} |")

    lines += ["", "## Extrapolation: fit the first 60% of the points, predict the rest", "",
              "| curve | points | RMSLE auto (n) | RMSLE 1 break |", "|---|---|---|---|"]
    for name in bnsl.fixtures.names():
        for label, x, y in curves(name):
            cut = int(round(0.6 * len(x)))
            auto = bnsl.fit(x[:cut], y[:cut])
            one = bnsl.fit(x[:cut], y[:cut], n_breaks=1)
            lines.append(f"| {label} | {len(x)} | {rmsle(auto.predict(x[cut:]), y[cut:]):.4f} "
                         f"({auto.n_breaks}) | {rmsle(one.predict(x[cut:]), y[cut:]):.4f} |")
        print(name, flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
