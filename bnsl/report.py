"""The printed report of a fit, in the manner of lmfit's ``fit_report``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bnsl.result import Fit


def _num(v: float) -> str:
    return f"{v:.5g}"


def parameter_rows(fit: "Fit") -> list[tuple[str, float, float]]:
    """``(name, value at the mode, posterior sd)`` for every parameter of the chosen law."""
    cand = fit.best
    sd = cand.param_sd()
    p = cand.params
    rows = [("a", p.a, float(sd["a"])), ("b", p.b, float(sd["b"])), ("c0", p.c0, float(sd["c0"]))]
    for i in range(cand.n_breaks):
        rows += [(f"c{i + 1}", float(p.c[i]), float(sd["c"][i])),
                 (f"d{i + 1}", float(p.d[i]), float(sd["d"][i])),
                 (f"f{i + 1}", float(p.f[i]), float(sd["f"][i]))]
    rows.append(("sigma", cand.noise, float(sd["sigma"])))
    return rows


def drift_lines(fit: "Fit") -> list[str]:
    """The misspecification term beyond the data (see :mod:`bnsl.extrapolation`)."""
    drift = fit.drift
    lo, hi = drift.tau_interval
    source = (f"learned from {len(drift.holdouts)} held-out blocks" if drift.holdouts
              else "prior only: too few points to hold any out")
    return ["[[Extrapolation]] (sd of the log-log slope error beyond the data; "
            "observation bands add tau * distance in ln x)",
            f"    tau    = {_num(drift.tau_median):>12}  90%: {_num(lo)} to {_num(hi)}  ({source})"]


def format_fit(fit: "Fit") -> str:
    cand = fit.best
    lines = [
        f"[[BNSL fit]] {fit.n_breaks} break(s)  status: {fit.status}",
        f"    {fit.message}",
        f"    data: {len(fit.x)} points, {fit.x_name} from {_num(fit.x.min())} to {_num(fit.x.max())}",
        f"    RMSLE {_num(cand.rmsle)}   AIC {cand.aic:.2f}   BIC {cand.bic:.2f}",
        "[[Parameters]] (posterior mode +/- posterior sd; sigma: noise sd of ln y)",
    ]
    for name, value, sd in parameter_rows(fit):
        rel = f"({100 * sd / abs(value):.1f}%)" if value != 0 and np.isfinite(sd) else ""
        lines.append(f"    {name:<6} = {_num(value):>12} +/- {_num(sd):<10} {rel}")
    lines += drift_lines(fit)
    lines.append("[[Number of breaks]]")
    lines.append("        n    log evidence   P(n | data)      RMSLE   k-hat        BIC")
    for n, c in fit.candidates.items():
        mark = "*" if n == fit.n_breaks else " "
        lines.append(f"    {mark} {n:>2}  {c.log_evidence:>14.3f}   {fit.probabilities[n]:>11.4f}"
                     f"  {c.rmsle:>9.4g}   {c.khat:>5.2f}  {c.bic:>9.2f}")
    return "\n".join(lines)
