"""Fast checks of the benchmark baselines and harness (benchmarks/).

The baselines must recover the truth on exact synthetic curves of their own
form; the harness must pick the documented quick subset, count wins with the
1e-3 tie rule, and turn estimator failures into rows instead of crashing.
"""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import baselines  # noqa: E402
import revisiting  # noqa: E402

X_FIT = np.geomspace(1e3, 1e5, 25)
X_EXTRAPOLATE = np.geomspace(2e5, 1e7, 10)


def extrapolation_rmsle(fit, truth, **options) -> float:
    predict = fit(X_FIT, truth(X_FIT), **options)
    return revisiting.rmsle(predict(X_EXTRAPOLATE), truth(X_EXTRAPOLATE))


# ---------------------------------------------------------------------------
# Baselines recover their own law
# ---------------------------------------------------------------------------


def test_m1_recovers_power_law():
    assert extrapolation_rmsle(baselines.fit_m1, lambda x: 3.0 * x**-0.3) < 1e-9


def test_m2_recovers_offset_power_law():
    # M1 cannot represent the offset, so this also shows M2 does real work.
    truth = lambda x: 0.1 + 2.0 * x**-0.5  # noqa: E731
    assert extrapolation_rmsle(baselines.fit_m2, truth) < 1e-4
    assert extrapolation_rmsle(baselines.fit_m1, truth) > 0.05


def test_m3_recovers_saturating_law():
    # g = 1e-4 sits inside the fitted 1/x range (1e-5 .. 1e-3): a real bend.
    truth = lambda x: 2.0 * (1.0 / x + 1e-4) ** 0.4  # noqa: E731
    assert extrapolation_rmsle(baselines.fit_m3, truth) < 1e-3


def _m4_reference(x, y, y0_upper, y0_start, schedule):
    """The paper's M4 procedure as a plain numpy loop, for checking the jitted one."""
    log_x = np.log(x)
    y_inf_max, y0_min = y.min() - baselines.ERR_MARGIN, y.max() + baselines.ERR_MARGIN
    y_inf, y0, previous_b = y_inf_max, y0_start, 1.0

    def project(y_inf, y0):
        y0 = max(y0, y0_min)
        return min(max(y_inf, 0.0), y_inf_max), (min(y0, y0_upper + baselines.ERR_MARGIN) if y0_upper else y0)

    for k in range(schedule.max_iterations):
        design = np.column_stack([np.ones_like(log_x), -log_x, np.log(y0 - y)])
        coef, _ = scipy.optimize.nnls(design, np.log(y - y_inf))
        log_f, alpha = coef[0] - coef[1] * log_x, coef[2]
        newton = k >= schedule.grad_iterations
        for _ in range(schedule.newton_epochs if newton else schedule.grad_epochs):
            r = np.log(y - y_inf) - alpha * np.log(y0 - y) - log_f
            g_inf, g_0 = -np.mean(r / (y - y_inf)), -alpha * np.mean(r / (y0 - y))
            if newton:
                h_inf, h_0 = np.mean((1 - r) / (y - y_inf) ** 2), alpha * np.mean((alpha + r) / (y0 - y) ** 2)
                y_inf -= schedule.newton_lr * g_inf / h_inf if abs(h_inf) > 1e-5 else 0.0
                y0 -= schedule.newton_lr * g_0 / h_0 if abs(h_0) > 1e-5 else 0.0
            else:
                y_inf, y0 = y_inf - schedule.grad_lr * g_inf, y0 - schedule.grad_lr * g_0
            y_inf, y0 = project(y_inf, y0)
        if abs(np.exp(coef[0]) - previous_b) < 1e-10 and k > schedule.grad_iterations + 1:
            break
        previous_b = np.exp(coef[0])
    return y_inf, y0, *coef


def _m4_curve():
    """Exact M4 data, made by inverting the law for x (not with the fitter's
    solver): (y - y_inf) / (y0 - y)^alpha = b x^-c."""
    y_inf, y0, alpha, b, c = 0.15, 1.0, 0.6, 30.0, 0.4
    y = np.linspace(0.95, 0.2, 40)
    x = ((y - y_inf) / ((y0 - y) ** alpha * b)) ** (-1.0 / c)
    return x, y


def test_m4_jitted_procedure_matches_plain_loop():
    x, y = _m4_curve()
    schedule = baselines.M4Schedule(max_iterations=130, grad_epochs=40, newton_epochs=20)
    expected = _m4_reference(x[:25], y[:25], 1.0, 1.0, schedule)
    found = baselines.m4_parameters(x[:25], y[:25], 1.0, 1.0, schedule)
    np.testing.assert_allclose(found, expected, rtol=1e-7, atol=1e-9)


def test_m4_extrapolates_its_own_law():
    # The paper's procedure is a slow local descent that need not reach the
    # exact minimum, so only ask for a good extrapolation, far better than M1.
    x, y = _m4_curve()
    fit, test = slice(0, 25), slice(25, None)
    m4 = revisiting.rmsle(baselines.fit_m4(x[fit], y[fit], y0_upper=1.0)(x[test]), y[test])
    m1 = revisiting.rmsle(baselines.fit_m1(x[fit], y[fit])(x[test]), y[test])
    assert m4 < 0.03
    assert m4 < m1 / 5


def test_m4_solver_inverts_the_law():
    f = np.array([1e-3, 0.1, 1.0, 10.0])
    w = baselines._solve_m4(f, span=0.8, alpha=0.7)
    np.testing.assert_allclose(w / (0.8 - w) ** 0.7, f, rtol=1e-9)


def test_bnsl_official_recovers_one_break_law():
    params = (0.05, 1.5, 0.1, 0.6, 30.0, 0.3)  # break inside the fitted range
    truth = lambda x: baselines.bnsl_1break(x / X_FIT[0], *params)  # noqa: E731
    assert extrapolation_rmsle(baselines.fit_bnsl_official, truth) < 0.02


def test_bnsl_law_at_zero_sharpness_is_a_power_law():
    # f1 = 0 is on the official grid; numpy's 1/0 = inf makes the break factor
    # 1, so the law must reduce to a + b x^-c0 rather than raise.
    predict = baselines._bnsl_predictor(lambda x: x, [0.1, 2.0, 0.5, 0.3, 2.0, 0.0])
    x = np.array([1.0, 4.0, 9.0])
    np.testing.assert_allclose(predict(x), 0.1 + 2.0 * x**-0.5)


def test_grid_argmin_matches_scipy_brute():
    ranges = (slice(-2.0, 2.0, 0.25), slice(0.0, 3.0, 0.5))

    def objective(p):
        return (p[0] - 0.6) ** 2 + (p[1] - 1.2) ** 2 + 0.3 * np.sin(3 * p[0])

    expected = scipy.optimize.brute(objective, ranges, finish=None)
    found = baselines.grid_argmin(lambda points: objective(points.T), ranges)
    np.testing.assert_array_equal(found, expected)


def test_invalid_curves_raise_clear_errors():
    with pytest.raises(baselines.FitError, match="positive"):
        baselines.fit_m1([1.0, 2.0, 3.0], [1.0, -1.0, 0.5])
    with pytest.raises(baselines.FitError, match="at least 3"):
        baselines.fit_m2([1.0, 2.0], [1.0, 0.5])


# ---------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------


def _curve(domain: str, task: str, model: str, n_train: int = 12, n_test: int = 4) -> revisiting.Curve:
    x = np.geomspace(1e3, 1e6, n_train + n_test)
    y = 0.2 + 3.0 * x**-0.3
    return revisiting.Curve(domain, task, model, x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def _benchmark_like_curves() -> list[revisiting.Curve]:
    """Same keys as the real benchmark: 72 IC, 5 NMT, 5 LM, 10 BB."""
    curves = [_curve("IC", f"{data}_{shots}", model)
              for data in ("bird", "c", "cal", "inet") for shots in (5, 10, 25)
              for model in ("BiT/101/3", "BiT/50/1", "MiX/B/16", "MiX/L/16", "ViT/B/16", "ViT/S/16")]
    curves += [_curve("NMT", "log_perplexity", f"nmt{i}") for i in range(5)]
    curves += [_curve("LM", "val_loss", f"lm{i}") for i in range(5)]
    curves += [_curve("BB", f"task{i}", "262M") for i in range(10)]
    return curves


def test_quick_selection_is_a_fixed_spread_dozen():
    curves = _benchmark_like_curves()
    chosen = revisiting.select_quick(curves)
    assert len(chosen) == 12
    assert [c.domain for c in chosen].count("IC") == 6
    for domain in ("NMT", "LM", "BB"):
        picked = [c for c in chosen if c.domain == domain]
        in_domain = sorted((c for c in curves if c.domain == domain), key=lambda c: c.key)
        # two per small domain: its first and last curve in key order
        assert [c.key for c in picked] == [in_domain[0].key, in_domain[-1].key]
    ic_datasets = {c.task.split("_")[0] for c in chosen if c.domain == "IC"}
    assert ic_datasets == {"bird", "c", "cal", "inet"}
    # independent of input order
    shuffled = [curves[i] for i in np.random.default_rng(0).permutation(len(curves))]
    assert [c.key for c in revisiting.select_quick(shuffled)] == [c.key for c in chosen]


def _rows(records: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"domain": d, "task": t, "model": "m", "estimator": e, "rmsle": r, "seconds": 0.1,
          "success": not math.isnan(r), "n_train": 10, "n_test": 3, "error": ""} for d, t, e, r in records]
    )


def test_wins_share_ties_within_tolerance():
    rows = _rows([
        # curve 1: a and b within 1e-3 of the best -> both win
        ("IC", "t1", "a", 0.0100), ("IC", "t1", "b", 0.0109), ("IC", "t1", "c", 0.0200),
        # curve 2: a failed; c is 1.1e-3 behind b -> only b wins
        ("IC", "t2", "a", math.nan), ("IC", "t2", "b", 0.0500), ("IC", "t2", "c", 0.0511),
        # curve 3 (other domain): all three tie
        ("BB", "t3", "a", 0.0300), ("BB", "t3", "b", 0.0305), ("BB", "t3", "c", 0.0301),
    ])
    summary = revisiting.summarise(rows).set_index(["domain", "estimator"])
    assert summary.loc[("IC", "a"), "wins"] == 1
    assert summary.loc[("IC", "b"), "wins"] == 2
    assert summary.loc[("IC", "c"), "wins"] == 0
    assert summary.loc[("all", "a"), "wins"] == 2
    assert summary.loc[("all", "b"), "wins"] == 3
    assert summary.loc[("all", "c"), "wins"] == 1
    # failures are counted and left out of the mean, not scored as zero
    assert summary.loc[("IC", "a"), "failures"] == 1
    assert summary.loc[("IC", "a"), "mean_rmsle"] == pytest.approx(0.0100)
    assert summary.loc[("IC", "b"), "mean_rmsle"] == pytest.approx(0.03045)
    assert summary.loc[("IC", "b"), "se_rmsle"] == pytest.approx(np.std([0.0109, 0.05], ddof=1) / np.sqrt(2))
    assert summary.loc[("IC", "b"), "median_rmsle"] == pytest.approx(0.03045)


def test_rmsle_definition_and_rejection():
    y = np.array([0.5, 0.4, 0.3])
    assert revisiting.rmsle(y * math.e, y) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        revisiting.rmsle(np.array([0.5, -0.1, 0.3]), y)
    with pytest.raises(ValueError):
        revisiting.rmsle(np.array([0.5, np.nan, 0.3]), y)


def test_failing_estimators_become_failed_rows():
    def raises(x, y, domain):
        raise baselines.FitError("no luck")

    def negative(x, y, domain):
        return lambda x_new: -np.ones_like(x_new)

    curve = _curve("IC", "t", "m")
    estimators = {"raises": raises, "negative": negative,
                  "m1": revisiting.ESTIMATORS["m1"]}
    rows, warmups = revisiting.run_benchmark([curve], list(estimators), log=lambda _: None, estimators=estimators)
    by_name = rows.set_index("estimator")
    for name in ("raises", "negative"):
        assert not by_name.loc[name, "success"]
        assert math.isnan(by_name.loc[name, "rmsle"])
        assert by_name.loc[name, "error"]
    assert "no luck" in by_name.loc["raises", "error"]
    assert by_name.loc["m1", "success"]
    assert warmups.empty


class _FakeFit:
    def predict(self, x_new, average=False):
        return 0.2 + 3.0 * np.asarray(x_new) ** -0.3


def test_bnsl_estimators_call_bnsl_fit_and_survive_its_failures(monkeypatch):
    # A stand-in module keeps this test independent of the real fitter's speed.
    calls = []

    def good_fit(x, y, **options):
        calls.append(options)
        return _FakeFit()

    def broken_fit(x, y, **options):
        raise RuntimeError("solver blew up")

    curve = _curve("IC", "t", "m")
    monkeypatch.setitem(sys.modules, "bnsl", types.SimpleNamespace(fit=good_fit))
    for name in ("bnsl_auto", "bnsl_n0", "bnsl_n2"):
        row = revisiting.run_one(curve, name, revisiting.ESTIMATORS[name])
        assert row["success"] and row["rmsle"] < 1e-9
    assert calls == [{}, {"n_breaks": 0}, {"n_breaks": 2}]

    monkeypatch.setitem(sys.modules, "bnsl", types.SimpleNamespace(fit=broken_fit))
    row = revisiting.run_one(curve, "bnsl_n1", revisiting.ESTIMATORS["bnsl_n1"])
    assert not row["success"] and "solver blew up" in row["error"]

    monkeypatch.setitem(sys.modules, "bnsl", None)  # "import bnsl" raises ImportError
    row = revisiting.run_one(curve, "bnsl_auto", revisiting.ESTIMATORS["bnsl_auto"])
    assert not row["success"] and "ModuleNotFoundError" in row["error"]


def test_parse_estimators():
    assert revisiting.parse_estimators("all") == list(revisiting.ESTIMATORS)
    assert revisiting.parse_estimators("baselines") == list(revisiting.BASELINES)
    assert revisiting.parse_estimators("m1, m4") == ["m1", "m4"]
    with pytest.raises(ValueError, match="unknown"):
        revisiting.parse_estimators("m1,m9")


def _write_benchmark(folder: Path, curves: list[revisiting.Curve]) -> None:
    records = []
    for c in curves:
        for xs, ys, training in ((c.x_train, c.y_train, 1), (c.x_test, c.y_test, 0)):
            records += [(c.domain, c.task, c.model, x, y, training) for x, y in zip(xs, ys)]
    table = pd.DataFrame(records, columns=["Domain", "Task", "Model", "Seen Examples", "Loss", "Training"])
    vision = table["Domain"] == "IC"
    table[vision].to_csv(folder / "benchmark.vision.csv", index=False)
    # repeat the language rows, as the real file does, to exercise de-duplication
    pd.concat([table[~vision]] * 2).to_csv(folder / "benchmark.lang.csv", index=False)


def test_cli_end_to_end_on_tiny_benchmark(tmp_path):
    curves = [_curve("IC", "c_5", "A"), _curve("IC", "c_10", "B"), _curve("NMT", "log_perplexity", "C")]
    _write_benchmark(tmp_path, curves)
    out = tmp_path / "out"
    assert revisiting.main(["--data", str(tmp_path), "--estimators", "m1,m2", "--out", str(out)]) == 0
    rows = pd.read_csv(out / "rows.csv")
    assert len(rows) == 6  # 3 curves x 2 estimators, duplicates dropped
    assert set(rows.columns) >= {"domain", "task", "model", "estimator", "rmsle", "seconds", "success",
                                 "n_train", "n_test"}
    assert rows["success"].all() and (rows["n_train"] == 12).all() and (rows["n_test"] == 4).all()
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["domain"]) == {"IC", "NMT", "all"}
    assert "## IC" in (out / "summary.md").read_text()
    assert not (out / "rmsle_per_curve.png").exists()  # no bnsl_auto rows to plot


def test_plot_per_curve_writes_png(tmp_path):
    rows = _rows([("IC", "t1", "bnsl_auto", 0.01), ("IC", "t1", "m1", 0.02), ("IC", "t1", "m4", 0.015),
                  ("BB", "t2", "bnsl_auto", 0.03), ("BB", "t2", "m2", 0.01)])
    assert revisiting.plot_per_curve(rows, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
    assert not revisiting.plot_per_curve(rows[rows["estimator"] != "bnsl_auto"], tmp_path / "q.png")
