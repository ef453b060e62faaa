"""Extrapolation benchmark on the "Revisiting neural scaling laws" curves.

Protocol (see the data folder's README): drop exact duplicate rows, sort by x,
fit every estimator on the Training == 1 rows of each (Domain, Task, Model)
curve and score RMSLE = sqrt(mean((log y_pred - log y_true)^2)) on the
Training == 0 rows. Summaries are per domain (IC, NMT, LM, BB) and over all.

    python benchmarks/revisiting.py                       # every estimator, 92 curves
    python benchmarks/revisiting.py --estimators baselines
    python benchmarks/revisiting.py --quick --estimators m1,m2,bnsl_auto

The run is single-process on purpose so the per-curve timings are comparable.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import scipy

# This checkout's bnsl, not an installed copy.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
import baselines  # noqa: E402  (sibling module; benchmarks/ is not a package)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "benchmarks" / "revisiting"
DEFAULT_OUT = REPO_ROOT / "docs" / "results" / "revisiting"
DATA_FILES = ("benchmark.vision.csv", "benchmark.lang.csv")
DOMAINS = ("IC", "NMT", "LM", "BB")
ALL = "all"
TIE_TOLERANCE = 1e-3  # RMSLEs this close to the best count as a (shared) win

# Curves per domain in --quick mode: a fixed dozen spread over the domains.
QUICK_PER_DOMAIN = {"IC": 6, "NMT": 2, "LM": 2, "BB": 2}

# Published mean RMSLE of the baselines on all 92 curves, for the sanity check
# in the summary (the reference numbers).
REFERENCE_RMSLE: dict[str, dict[str, float]] = {
    "m1": {"IC": 0.1046, "NMT": 0.2217, "LM": 0.0140, "BB": 0.0148, ALL: 0.0963},
    "m2": {"IC": 0.0823, "NMT": 0.0341, "LM": 0.0010, "BB": 0.0148, ALL: 0.0679},
    "m3": {"IC": 0.0615, "NMT": 0.0471, "LM": 0.0023, "BB": 0.0087, ALL: 0.0518},
    "m4": {"IC": 0.0415, "NMT": 0.0208, "LM": 0.0009, "BB": 0.0123, ALL: 0.0350},
    "bnsl_official": {"IC": 0.0456, "NMT": 0.0156, "LM": 0.0011, "BB": 0.0111, ALL: 0.0378},
}

ROW_COLUMNS = ["domain", "task", "model", "estimator", "rmsle", "seconds", "success", "n_train", "n_test", "error"]


@dataclass(frozen=True)
class Curve:
    """One learning curve, split as the benchmark prescribes."""

    domain: str
    task: str
    model: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.domain, self.task, self.model)


# ---------------------------------------------------------------------------
# Estimators: name -> fit(x, y, domain) -> predict. Adding one is one line.
# ---------------------------------------------------------------------------

Estimator = Callable[[np.ndarray, np.ndarray, str], baselines.Predictor]


def _fit_bnsl(x: np.ndarray, y: np.ndarray, domain: str, n_breaks: int | str,
              average: bool = False) -> baselines.Predictor:
    """Our fitter. Imported lazily so the baselines run without it."""
    import bnsl  # noqa: PLC0415

    fit = bnsl.fit(x, y) if n_breaks == "auto" else bnsl.fit(x, y, n_breaks=n_breaks)
    return functools.partial(fit.predict, average=average)


ESTIMATORS: dict[str, Estimator] = {
    "m1": lambda x, y, domain: baselines.fit_m1(x, y),
    "m2": lambda x, y, domain: baselines.fit_m2(x, y),
    "m3": lambda x, y, domain: baselines.fit_m3(x, y),
    "m4": lambda x, y, domain: baselines.fit_m4(x, y, y0_upper=baselines.M4_Y0_UPPER.get(domain, None),
                                                y0_start=baselines.M4_Y0_START.get(domain, 1.0)),
    "bnsl_official": lambda x, y, domain: baselines.fit_bnsl_official(x, y),
    "curve_fit_1break": lambda x, y, domain: baselines.fit_curve_fit_1break(x, y),
    "bnsl_auto": functools.partial(_fit_bnsl, n_breaks="auto"),
    # The same default fit, predicting with the posterior mean over n (model averaging).
    "bnsl_averaged": functools.partial(_fit_bnsl, n_breaks="auto", average=True),
    "bnsl_n0": functools.partial(_fit_bnsl, n_breaks=0),
    "bnsl_n1": functools.partial(_fit_bnsl, n_breaks=1),
    "bnsl_n2": functools.partial(_fit_bnsl, n_breaks=2),
}
BASELINES = ("m1", "m2", "m3", "m4", "bnsl_official", "curve_fit_1break")
# Estimators that JIT-compile (JAX) on their first call: warmed up before timing.
NEEDS_WARMUP = frozenset({"m4", "bnsl_auto", "bnsl_averaged", "bnsl_n0", "bnsl_n1", "bnsl_n2"})
PLOT_ESTIMATOR = "bnsl_auto"


def parse_estimators(spec: str) -> list[str]:
    """'all', 'baselines' or a comma-separated list of registered names."""
    if spec == ALL:
        return list(ESTIMATORS)
    if spec == "baselines":
        return list(BASELINES)
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in ESTIMATORS]
    if unknown or not names:
        raise ValueError(f"unknown estimators {unknown}; choose from {sorted(ESTIMATORS)}, 'baselines' or 'all'")
    return names


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def load_table(data_dir: Path) -> pd.DataFrame:
    """Both benchmark files, exact duplicates dropped, sorted by x within curves."""
    frames = [pd.read_csv(Path(data_dir) / name) for name in DATA_FILES]
    table = pd.concat(frames, ignore_index=True).drop_duplicates()
    return table.sort_values(["Domain", "Task", "Model", "Seen Examples"], kind="stable").reset_index(drop=True)


def curves_from_table(table: pd.DataFrame) -> list[Curve]:
    curves = []
    for (domain, task, model), rows in table.groupby(["Domain", "Task", "Model"], sort=True):
        train, test = rows[rows["Training"] == 1], rows[rows["Training"] == 0]
        curves.append(
            Curve(
                domain=str(domain), task=str(task), model=str(model),
                x_train=train["Seen Examples"].to_numpy(float), y_train=train["Loss"].to_numpy(float),
                x_test=test["Seen Examples"].to_numpy(float), y_test=test["Loss"].to_numpy(float),
            )
        )
    return curves


def select_quick(curves: Sequence[Curve], per_domain: dict[str, int] = QUICK_PER_DOMAIN) -> list[Curve]:
    """A fixed, spread-out subset: per domain, k evenly spaced curves in key order.

    Deterministic (depends only on the curve keys), so CI always runs the same
    curves; spacing them evenly across the sorted keys spreads IC over its
    data sets and models instead of taking six models of one data set.
    """
    chosen = []
    for domain, k in per_domain.items():
        in_domain = sorted((c for c in curves if c.domain == domain), key=lambda c: c.key)
        if not in_domain:
            continue
        picks = sorted({int(i) for i in np.round(np.linspace(0, len(in_domain) - 1, min(k, len(in_domain))))})
        chosen.extend(in_domain[i] for i in picks)
    return chosen


# ---------------------------------------------------------------------------
# Scoring and running
# ---------------------------------------------------------------------------


def rmsle(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """sqrt(mean((log y_pred - log y_true)^2)); raises on unusable predictions."""
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    y_true = np.asarray(y_true, dtype=float).ravel()
    if y_pred.shape != y_true.shape:
        raise ValueError(f"prediction has shape {y_pred.shape}, expected {y_true.shape}")
    if not np.all(np.isfinite(y_pred)) or np.any(y_pred <= 0):
        raise ValueError("prediction is non-finite or non-positive, so its log error is undefined")
    return float(np.sqrt(np.mean((np.log(y_pred) - np.log(y_true)) ** 2)))


def run_one(curve: Curve, name: str, estimator: Estimator) -> dict:
    """Fit, predict and score one (curve, estimator); never raises."""
    row = {"domain": curve.domain, "task": curve.task, "model": curve.model, "estimator": name,
           "n_train": len(curve.x_train), "n_test": len(curve.x_test), "error": ""}
    start = time.perf_counter()
    try:
        predict = estimator(curve.x_train, curve.y_train, curve.domain)
        score = rmsle(predict(curve.x_test), curve.y_test)
        row.update(rmsle=score, success=True)
    except Exception as exc:  # noqa: BLE001  (any estimator failure is a data point)
        row.update(rmsle=math.nan, success=False, error=f"{type(exc).__name__}: {exc}"[:300])
    row["seconds"] = time.perf_counter() - start
    return row


def warm_up(name: str, estimator: Estimator, curve: Curve) -> dict:
    """First call of a JIT-compiled estimator, timed apart from the benchmark.

    The second call on the same curve gives the steady-state time, so
    compile_seconds ~ first - second. Later curves with other lengths may still
    trigger recompiles if the fitter does not pad its inputs.
    """
    first = run_one(curve, name, estimator)
    second = run_one(curve, name, estimator)
    return {"estimator": name, "first_call_seconds": first["seconds"], "second_call_seconds": second["seconds"],
            "compile_seconds": first["seconds"] - second["seconds"], "success": first["success"],
            "error": first["error"]}


def run_benchmark(curves: Sequence[Curve], names: Sequence[str], log: Callable[[str], None] = print,
                  estimators: dict[str, Estimator] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows (one per curve x estimator) and warm-up records."""
    estimators = ESTIMATORS if estimators is None else estimators
    warmups = [warm_up(name, estimators[name], curves[0]) for name in names if name in NEEDS_WARMUP]
    for record in warmups:
        log(f"warm-up {record['estimator']}: first call {record['first_call_seconds']:.1f} s, "
            f"second {record['second_call_seconds']:.2f} s")
    rows = []
    for name in names:
        start = time.perf_counter()
        for curve in curves:
            rows.append(run_one(curve, name, estimators[name]))
        done = [r for r in rows if r["estimator"] == name]
        n_fail = sum(not r["success"] for r in done)
        log(f"{name:18s} {len(done)} curves in {time.perf_counter() - start:6.1f} s, "
            f"mean RMSLE {np.nanmean([r['rmsle'] for r in done]) if n_fail < len(done) else math.nan:.4f}, "
            f"{n_fail} failures")
    return pd.DataFrame(rows, columns=ROW_COLUMNS), pd.DataFrame(warmups)


# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------


def count_wins(rows: pd.DataFrame, tolerance: float = TIE_TOLERANCE) -> pd.DataFrame:
    """Wins per curve domain and estimator: lowest RMSLE on a curve, ties shared.

    Every estimator within ``tolerance`` of the curve's best RMSLE gets a full
    win; failures (NaN) never win. Returns columns domain, estimator, wins.
    """
    ok = rows[rows["success"].astype(bool) & np.isfinite(rows["rmsle"].astype(float))]
    best = ok.groupby(["domain", "task", "model"])["rmsle"].transform("min")
    winners = ok[ok["rmsle"] <= best + tolerance]
    return winners.groupby(["domain", "estimator"]).size().rename("wins").reset_index()


def summarise(rows: pd.DataFrame, tolerance: float = TIE_TOLERANCE) -> pd.DataFrame:
    """Per domain (and 'all') x estimator: mean (se), median, wins, failures, time."""
    wins = count_wins(rows, tolerance)
    present = set(rows["domain"])
    records = []
    for domain in [d for d in DOMAINS if d in present] + sorted(present - set(DOMAINS)) + [ALL]:
        in_domain = rows if domain == ALL else rows[rows["domain"] == domain]
        domain_wins = wins if domain == ALL else wins[wins["domain"] == domain]
        for name, group in in_domain.groupby("estimator", sort=False):
            success = group["success"].astype(bool)
            scores = group.loc[success, "rmsle"].to_numpy(float)
            n_ok = len(scores)
            records.append({
                "domain": domain, "estimator": name, "curves": len(group),
                "mean_rmsle": float(scores.mean()) if n_ok else math.nan,
                "se_rmsle": float(scores.std(ddof=1) / np.sqrt(n_ok)) if n_ok > 1 else math.nan,
                "median_rmsle": float(np.median(scores)) if n_ok else math.nan,
                "wins": int(domain_wins.loc[domain_wins["estimator"] == name, "wins"].sum()),
                "failures": int((~success).sum()),
                "median_seconds": float(group["seconds"].median()),
            })
    return pd.DataFrame(records)


def reference_check(summary: pd.DataFrame) -> pd.DataFrame:
    """Measured vs published mean RMSLE for the baselines that have a reference."""
    records = []
    for _, row in summary.iterrows():
        reference = REFERENCE_RMSLE.get(row["estimator"], {}).get(row["domain"])
        if reference is not None:
            records.append({"estimator": row["estimator"], "domain": row["domain"], "measured": row["mean_rmsle"],
                            "reference": reference, "ratio": row["mean_rmsle"] / reference})
    return pd.DataFrame(records)


def _markdown_table(frame: pd.DataFrame, floatfmt: str = ".4f") -> str:
    def fmt(value: object) -> str:
        if isinstance(value, float):
            return "NaN" if math.isnan(value) else format(value, floatfmt)
        return str(value)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


PEERS = ("m1", "m2", "m3", "m4", "bnsl_official")  # the five reference estimators


def head_to_head(rows: pd.DataFrame, tolerance: float = TIE_TOLERANCE) -> pd.DataFrame:
    """For each bnsl estimator run, wins over all curves among it and the five peers alone."""
    tables = []
    for name in sorted(n for n in rows["estimator"].unique() if n.startswith("bnsl_") and n not in PEERS):
        wins = count_wins(rows[rows["estimator"].isin([*PEERS, name])], tolerance)
        totals = wins.groupby("estimator")["wins"].sum()
        tables.append({"bnsl estimator": name, "its wins": int(totals.get(name, 0)),
                       **{peer: int(totals.get(peer, 0)) for peer in PEERS}})
    return pd.DataFrame(tables)


def write_summary_markdown(path: Path, summary: pd.DataFrame, warmups: pd.DataFrame, quick: bool,
                           total_seconds: float, n_curves: int, rows: pd.DataFrame | None = None) -> None:
    lines = [
        "# Revisiting-neural-scaling-laws benchmark",
        "",
        f"Generated by `benchmarks/revisiting.py{' --quick' if quick else ''}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}: "
        f"{n_curves} curves, total wall time {total_seconds / 60:.1f} min, single process "
        f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}).",
        "",
        "RMSLE on the Training == 0 (extrapolation) rows; mean with standard error over the curves that "
        f"succeeded; wins = lowest RMSLE on a curve, every estimator within {TIE_TOLERANCE:g} of the best gets one. "
        "A failure (exception or unusable prediction) has no RMSLE and is left out of mean/median, so compare "
        "means only together with the failure counts. Seconds are fit + predict per curve on a shared 2-core "
        "machine: noisy, compare orders of magnitude only.",
        "",
    ]
    for domain in summary["domain"].unique():
        part = summary[summary["domain"] == domain].drop(columns="domain").copy()
        part["mean_rmsle"] = [f"{m:.4f} ± {s:.4f}" if not math.isnan(s) else f"{m:.4f}"
                              for m, s in zip(part["mean_rmsle"], part["se_rmsle"])]
        part = part.drop(columns="se_rmsle").rename(columns={"mean_rmsle": "mean_rmsle ± se"})
        lines += [f"## {domain}", "", _markdown_table(part), ""]
    duel = head_to_head(rows) if rows is not None else pd.DataFrame()
    if not duel.empty:
        lines += ["## Head to head with the five peers", "",
                  "Wins over all curves when each bnsl estimator alone meets M1-M4 and the official "
                  "procedure (ties within the same tolerance shared).", "", _markdown_table(duel), ""]
    check = reference_check(summary) if not quick else pd.DataFrame()  # references are for all 92 curves
    if not check.empty:
        lines += ["## Baselines against the published mean RMSLE", "",
                  "ratio = measured / reference; within 15% means 0.85-1.15. Known gaps and their causes are "
                  "documented in `benchmarks/baselines.py` (fit_m4, fit_bnsl_official).", "",
                  _markdown_table(check), ""]
    if not warmups.empty:
        lines += ["## JIT warm-up (not in the timings above)", "",
                  "Each JIT-compiled estimator is called twice on the first curve before timing; "
                  "compile_seconds = first - second call.", "", _markdown_table(warmups, ".2f"), ""]
    path.write_text("\n".join(lines))


def plot_per_curve(rows: pd.DataFrame, path: Path, estimator: str = PLOT_ESTIMATOR) -> bool:
    """Scatter of one estimator's per-curve RMSLE against the best baseline's."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    key = ["domain", "task", "model"]
    ok = rows[rows["success"]]
    ours = ok[ok["estimator"] == estimator].set_index(key)["rmsle"]
    best_baseline = ok[ok["estimator"].isin(BASELINES)].groupby(key)["rmsle"].min()
    both = pd.concat({"ours": ours, "baseline": best_baseline}, axis=1).dropna()
    if both.empty:
        return False
    both = both.clip(lower=1e-5)  # keep exact fits visible on log axes
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for domain in DOMAINS:
        part = both[both.index.get_level_values("domain") == domain]
        if not part.empty:
            ax.scatter(part["baseline"], part["ours"], label=f"{domain} ({len(part)})", s=18, alpha=0.8)
    lo, hi = both.min().min() / 1.5, both.max().max() * 1.5
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, linestyle="--")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi),
           xlabel="best baseline RMSLE on that curve (oracle min over baselines)", ylabel=f"{estimator} RMSLE",
           title=f"Per-curve extrapolation error: below the diagonal = {estimator} better")
    ax.title.set_fontsize(9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"benchmark folder (default {DEFAULT_DATA})")
    parser.add_argument("--estimators", default=ALL,
                        help=f"comma-separated subset of {', '.join(ESTIMATORS)}; or 'baselines' or 'all' (default)")
    parser.add_argument("--quick", action="store_true", help="a fixed dozen curves spread over the domains (for CI)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)

    try:
        names = parse_estimators(args.estimators)
    except ValueError as exc:
        parser.error(str(exc))
    curves = curves_from_table(load_table(args.data))
    if args.quick:
        curves = select_quick(curves)
    print(f"{len(curves)} curves x {len(names)} estimators: {', '.join(names)}")

    start = time.perf_counter()
    rows, warmups = run_benchmark(curves, names)
    total = time.perf_counter() - start

    args.out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.out / "rows.csv", index=False)
    summary = summarise(rows)
    summary.to_csv(args.out / "summary.csv", index=False)
    write_summary_markdown(args.out / "summary.md", summary, warmups, args.quick, total, len(curves), rows)
    plot_path = args.out / "rmsle_per_curve.png"
    if not plot_per_curve(rows, plot_path):
        plot_path.unlink(missing_ok=True)  # a stale plot from another run would mislead
        print(f"no successful {PLOT_ESTIMATOR} rows: plot skipped")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"total {total / 60:.1f} min; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
