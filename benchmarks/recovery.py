"""Recovery of known laws (issue 2): noise-free curves with 0-3 breaks, fitted with the true n.

For each n in 0..3, ``--per-n`` laws are drawn at random (seeded) so that the
problem is well posed:

* x: 50 log-spaced points over 5 decades (1e2..1e7); 10 more log-spaced points
  in the decade beyond (10^7.1..1e8) score the extrapolation;
* breaks d_i at log10 positions in the central part of the data [3, 6], at
  least 0.7 decades apart;
* slope changes |c_i| uniform in [0.2, 1.5] with a random sign (each law with
  a break has at least one negative c_i with probability ~1 - 0.5^n), first
  slope c0 uniform in [0.1, 1.0]; every segment's log-log slope
  c0 + c1 + ... + ck is kept in [-0.8, 2] so no segment explodes;
* sharpness f_i log-uniform in [0.05, 1] (f is in units of ln x: f = 1 spreads
  a break over ~2.5 decades, f = 0.05 is nearly a kink);
* floor a = r * (smallest excess y - a over the data), r uniform in [0, 1]:
  the floor is at most the excess anywhere on the data, so no break is
  swamped by it; b = 1;
* no noise.

Each batch (one n) is fitted with ``bnsl.fit_many(..., n_breaks=n)`` (results
identical to ``bnsl.fit`` per curve). Targets: RMSLE <= 1e-4 on the 50 fit
points and <= 1e-3 on the 10 points beyond, on >= 95% of the laws for every n.

Failures are diagnosed by refitting them alone, on 3 seeds, first with more
iterations (``max_iterations=400``), then with more starts too
(``n_starts=192, max_iterations=400``): if more iterations alone fix it, the
solver had stopped at its iteration limit; if more starts are needed, it was a
local optimum the default multistart missed; if the fit points are exact but
the extrapolation is not with any budget, the data do not pin the law's tail
down (near-unidentifiable: e.g. a wide last break whose end lies beyond the
data).

    python benchmarks/recovery.py                  # 100 laws per n (the issue's protocol)
    python benchmarks/recovery.py --quick          # 16 laws per n, no diagnosis refits
    python benchmarks/recovery.py --per-n 200 --csv /tmp/recovery.csv
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's bnsl, not an installed copy

import numpy as np

FIT_DECADES = (2.0, 7.0)
N_FIT = 50
N_BEYOND = 10
BREAK_RANGE = (3.0, 6.0)      # log10 d_i: the central 60% of the data's range
MIN_BREAK_GAP = 0.7           # decades between breaks
C_ABS = (0.2, 1.5)
C0 = (0.1, 1.0)
SEGMENT_SLOPE = (-0.8, 2.0)
F_RANGE = (0.05, 1.0)
TARGET_FIT, TARGET_BEYOND, TARGET_FRACTION = 1e-4, 1e-3, 0.95

X_FIT = np.logspace(*FIT_DECADES, N_FIT)
X_BEYOND = np.logspace(FIT_DECADES[1] + 0.1, FIT_DECADES[1] + 1.0, N_BEYOND)


def law_y(params: dict, x: np.ndarray) -> np.ndarray:
    """The BNSL in numpy, log-space stable (independent of bnsl's own implementation)."""
    u = np.log(x)
    excess = np.log(params["b"]) - params["c0"] * u
    for c, d, f in zip(params["c"], params["d"], params["f"]):
        excess = excess - c * f * np.logaddexp(0.0, (u - np.log(d)) / f)
    return params["a"] + np.exp(excess)


def draw_breaks(rng: np.random.Generator, n: int) -> np.ndarray:
    """n sorted log10 break positions in BREAK_RANGE, at least MIN_BREAK_GAP apart (exactly uniform)."""
    slack = (BREAK_RANGE[1] - BREAK_RANGE[0]) - MIN_BREAK_GAP * (n - 1)
    base = np.sort(rng.uniform(0.0, slack, n))
    return BREAK_RANGE[0] + base + MIN_BREAK_GAP * np.arange(n)


def draw_law(rng: np.random.Generator, n: int) -> dict:
    """One random law with n breaks, per the module's recipe."""
    while True:
        c0 = rng.uniform(*C0)
        c = rng.uniform(*C_ABS, n) * rng.choice([-1.0, 1.0], n)
        slopes = c0 + np.cumsum(c)
        if np.all((slopes >= SEGMENT_SLOPE[0]) & (slopes <= SEGMENT_SLOPE[1])):
            break
    log10_d = draw_breaks(rng, n)
    f = np.exp(rng.uniform(np.log(F_RANGE[0]), np.log(F_RANGE[1]), n))
    params = dict(a=0.0, b=1.0, c0=c0, c=c, d=10.0**log10_d, f=f)
    r = rng.uniform(0.0, 1.0)
    params["a"] = r * float(law_y(params, X_FIT).min())
    params["floor_ratio"] = r
    return params


def rmsle(y_pred, y_true) -> float:
    y_pred = np.asarray(y_pred, dtype=float)
    if not np.all(np.isfinite(y_pred)) or np.any(y_pred <= 0):
        return float("inf")
    return float(np.sqrt(np.mean((np.log(y_pred) - np.log(y_true)) ** 2)))


def score(fit, law: dict) -> tuple[float, float]:
    """(RMSLE on the fit points, RMSLE on the points beyond) of one fit."""
    if not hasattr(fit, "predict"):  # a FitFailure
        return float("inf"), float("inf")
    return (rmsle(fit.predict(X_FIT), law_y(law, X_FIT)),
            rmsle(fit.predict(X_BEYOND), law_y(law, X_BEYOND)))


def describe(law: dict) -> str:
    parts = [f"a={law['a']:.3g} (a/min_excess={law['floor_ratio']:.2f}) c0={law['c0']:.2f}"]
    for c, d, f in zip(law["c"], law["d"], law["f"]):
        parts.append(f"[c={c:+.2f} log10d={np.log10(d):.2f} f={f:.3f}]")
    return " ".join(parts)


def describe_fit(fit) -> str:
    if not hasattr(fit, "params"):
        return repr(fit)
    p = fit.params
    parts = [f"a={float(p.a):.3g} c0={float(p.c0):.2f}"]
    for c, d, f in zip(np.atleast_1d(p.c), np.atleast_1d(p.d), np.atleast_1d(p.f)):
        parts.append(f"[c={c:+.2f} log10d={np.log10(d):.2f} f={f:.3f}]")
    return " ".join(parts) + f" status={fit.status}"


def diagnose(bnsl, law: dict, n: int) -> dict:
    """Refit one failing law with more iterations, then more starts too, on 3 seeds; classify it."""
    y = law_y(law, X_FIT)
    out = {}
    for tag, options in (("iter", dict(max_iterations=400)),
                         ("retry", dict(n_starts=192, max_iterations=400))):
        best = None
        for seed in (0, 1, 2):
            fit = bnsl.fit(X_FIT, y, n_breaks=n, seed=seed, **options)
            r_fit, r_beyond = score(fit, law)
            if best is None or r_fit < best[0]:
                best = (r_fit, r_beyond, seed, fit)
        out.update({f"{tag}_rmsle_fit": best[0], f"{tag}_rmsle_beyond": best[1],
                    f"{tag}_seed0_passed": None, f"{tag}_fit": describe_fit(best[3])})
        # Seed 0 is the seed of the failing fit: does the change alone fix it?
        fit0 = bnsl.fit(X_FIT, y, n_breaks=n, seed=0, **options) if best[2] != 0 else best[3]
        r0 = score(fit0, law)
        out[f"{tag}_seed0_passed"] = bool(r0[0] <= TARGET_FIT and r0[1] <= TARGET_BEYOND)
    return out


def classify(row: dict) -> str:
    if "retry_rmsle_fit" not in row:
        return "not diagnosed"
    stopped = row["fit_desc"].endswith("status=not_converged")
    if row["iter_seed0_passed"]:
        return ("solver stopped at its iteration limit (status not_converged): "
                "max_iterations=400 alone recovers the law")
    if row["retry_seed0_passed"]:
        return ("local optimum" + (" (status not_converged)" if stopped else "")
                + ": n_starts=192, max_iterations=400 recovers the law")
    if row["retry_rmsle_fit"] <= TARGET_FIT and row["retry_rmsle_beyond"] > TARGET_BEYOND:
        return "fit points exact with every budget, tail not determined by the data (near-unidentifiable)"
    if row["retry_rmsle_fit"] <= TARGET_FIT and row["retry_rmsle_beyond"] <= TARGET_BEYOND:
        return "hard local optimum: only some seeds with the bigger budget recover the law"
    return "hard local optimum: no budget or seed tried recovers the law"


def run(per_n: int, seed: int, diagnose_failures: bool, ns=(0, 1, 2, 3)) -> tuple[list[dict], dict]:
    import bnsl

    rows, timing = [], {}
    for n in ns:
        rng = np.random.default_rng([seed, n])
        laws = [draw_law(rng, n) for _ in range(per_n)]
        curves = [(X_FIT, law_y(law, X_FIT)) for law in laws]
        t = time.perf_counter()
        fits = bnsl.fit_many(curves, n_breaks=n, progress=False)
        timing[n] = time.perf_counter() - t
        for i, law in enumerate(laws):
            r_fit, r_beyond = score(fits[i], law)
            row = dict(n=n, law=i, rmsle_fit=r_fit, rmsle_beyond=r_beyond,
                       passed=bool(r_fit <= TARGET_FIT and r_beyond <= TARGET_BEYOND),
                       law_desc=describe(law), fit_desc=describe_fit(fits[i]),
                       min_f=float(np.min(law["f"])) if n else np.nan,
                       max_f=float(np.max(law["f"])) if n else np.nan,
                       last_break_log10d=float(np.log10(law["d"][-1])) if n else np.nan,
                       floor_ratio=law["floor_ratio"],
                       any_negative_c=bool(np.any(law["c"] < 0)) if n else False)
            if not row["passed"] and diagnose_failures:
                row.update(diagnose(bnsl, law, n))
            if not row["passed"]:
                row["diagnosis"] = classify(row)
            rows.append(row)
        print(f"n={n}: {per_n} laws fitted in {timing[n]:.1f} s (fit_many, compile included for the first n)",
              file=sys.stderr, flush=True)
    return rows, timing


def summarise(rows: list[dict], ns) -> list[dict]:
    out = []
    for n in ns:
        sub = [r for r in rows if r["n"] == n]
        fit_ok = np.mean([r["rmsle_fit"] <= TARGET_FIT for r in sub])
        beyond_ok = np.mean([r["rmsle_beyond"] <= TARGET_BEYOND for r in sub])
        both = np.mean([r["passed"] for r in sub])
        out.append(dict(n=n, laws=len(sub), pass_fit=float(fit_ok), pass_beyond=float(beyond_ok),
                        pass_both=float(both), met=bool(both >= TARGET_FRACTION),
                        median_rmsle_fit=float(np.median([r["rmsle_fit"] for r in sub])),
                        median_rmsle_beyond=float(np.median([r["rmsle_beyond"] for r in sub])),
                        max_rmsle_fit=float(np.max([r["rmsle_fit"] for r in sub])),
                        max_rmsle_beyond=float(np.max([r["rmsle_beyond"] for r in sub]))))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-n", type=int, default=100, help="random laws per number of breaks (default 100)")
    parser.add_argument("--quick", action="store_true", help="16 laws per n and no diagnosis refits")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the law generator")
    parser.add_argument("--no-diagnose", action="store_true", help="skip the refits of failing laws")
    parser.add_argument("--csv", type=Path, help="write one row per law to this CSV")
    args = parser.parse_args(argv)
    per_n = 16 if args.quick else args.per_n
    if per_n < 1:
        parser.error("--per-n must be >= 1")
    ns = (0, 1, 2, 3)

    load0 = os.getloadavg()
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    rows, timing = run(per_n, args.seed, not (args.quick or args.no_diagnose), ns)
    total = time.perf_counter() - t0
    load1 = os.getloadavg()

    print(f"# recovery of known laws: {per_n} laws per n, seed {args.seed}, {date}")
    print(f"# {platform.machine()}, nproc={os.cpu_count()}, load at start {tuple(round(v, 2) for v in load0)}, "
          f"at end {tuple(round(v, 2) for v in load1)}, total {total:.0f} s")
    print(f"# targets: RMSLE <= {TARGET_FIT:g} on fit points and <= {TARGET_BEYOND:g} one decade beyond, "
          f"on >= {TARGET_FRACTION:.0%} of laws")
    print("| n | laws | fit <= 1e-4 | beyond <= 1e-3 | both | target | median RMSLE fit | median beyond "
          "| max fit | max beyond | fit_many s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summarise(rows, ns):
        print(f"| {s['n']} | {s['laws']} | {s['pass_fit']:.0%} | {s['pass_beyond']:.0%} | {s['pass_both']:.0%} | "
              f"{'met' if s['met'] else 'MISSED'} | {s['median_rmsle_fit']:.1e} | {s['median_rmsle_beyond']:.1e} | "
              f"{s['max_rmsle_fit']:.1e} | {s['max_rmsle_beyond']:.1e} | {timing[s['n']]:.0f} |")
    failures = [r for r in rows if not r["passed"]]
    print(f"\n# {len(failures)} failing laws")
    for r in failures:
        retry = ""
        if "retry_rmsle_fit" in r:
            retry = (f"; refits, best of seeds 0-2: max_iterations=400: fit {r['iter_rmsle_fit']:.1e}, "
                     f"beyond {r['iter_rmsle_beyond']:.1e} (seed 0 {'passes' if r['iter_seed0_passed'] else 'fails'}); "
                     f"n_starts=192 and max_iterations=400: fit {r['retry_rmsle_fit']:.1e}, beyond "
                     f"{r['retry_rmsle_beyond']:.1e} (seed 0 {'passes' if r['retry_seed0_passed'] else 'fails'})")
        print(f"- n={r['n']} law {r['law']}: RMSLE fit {r['rmsle_fit']:.1e}, beyond {r['rmsle_beyond']:.1e}{retry}\n"
              f"    true: {r['law_desc']}\n    fit:  {r['fit_desc']}\n    -> {r['diagnosis']}")
    if args.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.csv, index=False)
    return 0 if all(s["met"] for s in summarise(rows, ns)) else 1


if __name__ == "__main__":
    sys.exit(main())
