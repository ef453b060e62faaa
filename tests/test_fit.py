import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import bnsl
from bnsl.posterior import INTERCEPT, LOG_NOISE, Scale, prior_arrays

X = np.logspace(0, 5, 50)
ONE_BREAK = bnsl.BNSLParams(a=0.05, b=3.0, c0=0.2, c=np.array([0.6]), d=np.array([300.0]),
                            f=np.array([0.3]))


def noisy(params, x, sd=0.01, seed=0):
    return np.asarray(bnsl.predict(params, x)) * np.exp(sd * np.random.default_rng(seed).normal(size=len(x)))


@pytest.fixture(scope="module")
def broken_fit():
    return bnsl.fit(X, noisy(ONE_BREAK, X))


def test_recovers_a_noiseless_law_with_the_true_number_of_breaks():
    y = np.asarray(bnsl.predict(ONE_BREAK, X))
    fit = bnsl.fit(X, y, n_breaks=1)
    assert fit.rmsle < 1e-4
    beyond = np.logspace(5, 6, 10)
    rel = np.abs(np.log(fit.predict(beyond)) - np.log(np.asarray(bnsl.predict(ONE_BREAK, beyond))))
    assert rel.max() < 1e-3
    np.testing.assert_allclose(fit.params.d, ONE_BREAK.d, rtol=1e-2)


def test_a_clear_break_gets_one_break(broken_fit):
    assert broken_fit.n_breaks == 1
    assert broken_fit.probabilities[1] > 0.5
    assert broken_fit.probabilities[1] > 1e6 * broken_fit.probabilities[0]
    assert sum(broken_fit.probabilities.values()) == pytest.approx(1.0)


def test_a_pure_power_law_gets_no_break():
    law = bnsl.BNSLParams(a=0.0, b=5.0, c0=0.35, c=np.array([]), d=np.array([]), f=np.array([]))
    fit = bnsl.fit(X, noisy(law, X, seed=3))
    assert fit.n_breaks == 0
    assert fit.probabilities[0] > 0.5


def test_evidence_matches_a_conjugate_case_computed_by_quadrature():
    # With the floor pinned far below the data and normal priors on the
    # intercept and slope, log y is a linear Gaussian model: the evidence given
    # the noise level is a closed-form normal density, leaving a 1-d integral.
    priors = bnsl.Priors(log_floor=bnsl.Normal(-40.0, 0.01), slope=bnsl.Normal(0.0, 3.0))
    x = np.logspace(1, 4, 30)
    y = 4.0 * x**-0.3 * np.exp(0.02 * np.random.default_rng(5).normal(size=30))
    fit = bnsl.fit(x, y, n_breaks=0, priors=priors)

    scale = Scale.of(x, y)
    prior = prior_arrays(priors, x, y, scale)
    s, log_y = scale.s(x), np.log(y) - scale.log_y_ref
    design = np.stack([np.ones_like(s), -s], axis=1)
    mean = design @ np.array([prior.loc[INTERCEPT], 0.0])
    cov_beta = np.diag([prior.scale[INTERCEPT] ** 2, 3.0**2])
    grid = np.linspace(-6.5, 0.0, 2601)  # log sigma; the posterior sits near log(0.02) = -3.9
    log_lik = np.array([
        stats.multivariate_normal(mean, design @ cov_beta @ design.T + np.exp(2 * g) * np.eye(30)).logpdf(log_y)
        for g in grid])
    log_prior = stats.norm(prior.loc[LOG_NOISE], prior.scale[LOG_NOISE]).logpdf(grid)
    reference = logsumexp(log_lik + log_prior) + np.log(grid[1] - grid[0])

    cand = fit.candidates[0]
    assert cand.log_evidence == pytest.approx(reference, abs=0.1)
    assert cand.log_evidence_laplace == pytest.approx(reference, abs=0.5)
    assert cand.khat < 0.7


def test_evidence_for_a_break_grows_with_the_data_past_it():
    y = noisy(ONE_BREAK, X, seed=11)
    bayes_factor = []
    for m in (34, 42, 50):  # the break sits near point 25
        fit = bnsl.fit(X[:m], y[:m], max_breaks=1)
        bayes_factor.append(fit.log_evidence[1] - fit.log_evidence[0])
    assert bayes_factor[0] > 0
    assert np.all(np.diff(bayes_factor) > 0)


def test_same_seed_same_fit_and_the_seed_matters(broken_fit):
    y = noisy(ONE_BREAK, X)
    again = bnsl.fit(X, y)
    assert again.log_evidence == broken_fit.log_evidence
    np.testing.assert_array_equal(again.params.d, broken_fit.params.d)
    other = bnsl.fit(X, y, seed=1)
    assert other.n_breaks == broken_fit.n_breaks
    assert other.log_evidence[1] != broken_fit.log_evidence[1]
    assert other.log_evidence[1] == pytest.approx(broken_fit.log_evidence[1], abs=0.5)


def test_unsorted_input_is_sorted_and_duplicates_count_as_points():
    y = noisy(ONE_BREAK, X)
    order = np.random.default_rng(0).permutation(len(X))
    shuffled = bnsl.fit(X[order], y[order], n_breaks=1)
    assert np.all(np.diff(shuffled.x) > 0)
    sorted_fit = bnsl.fit(X, y, n_breaks=1)
    np.testing.assert_allclose(shuffled.params.d, sorted_fit.params.d, rtol=1e-8)
    doubled = bnsl.fit(np.r_[X[:20], X[:20]], np.r_[y[:20], y[:20] * 1.01], n_breaks=0)
    assert len(doubled.x) == 40 and np.isfinite(doubled.rmsle)


def test_fit_reports_predictions_bands_and_serialises(broken_fit):
    fit = broken_fit
    x_new = np.array([1e5, 1e6, 1e7])
    point = fit.predict(x_new)
    lo, hi = fit.interval(x_new, level=0.9)
    assert np.all(lo < point) and np.all(point < hi)
    lo_obs, hi_obs = fit.interval(x_new, level=0.9, kind="observation")
    assert np.all(lo_obs < lo) and np.all(hi_obs > hi)
    # Bands widen with the distance beyond the data.
    assert np.all(np.diff(np.log(hi / lo)) > 0)
    np.testing.assert_allclose(fit.predict(x_new, average=True), point, rtol=0.05)
    draws = fit.sample(200, seed=1)
    assert draws["c"].shape == (200, 1) and np.all(draws["d"] > 0)
    data = json.loads(json.dumps(fit.to_dict()))
    assert data["n_breaks"] == 1 and set(data["candidates"]) == {"0", "1", "2", "3"}
    report = str(fit)
    for name in ("c1", "d1", "f1", "sigma", "log evidence", "BIC"):
        assert name in report
    assert np.isfinite(fit.aic) and fit.bic > fit.aic  # ln(50) > 2


def test_fit_leaves_global_jax_configuration_alone():
    code = textwrap.dedent("""
        import jax
        before = (jax.config.jax_enable_x64, jax.default_backend(), jax.config.jax_platforms,
                  jax.config.jax_compilation_cache_dir)
        import numpy as np, bnsl
        fit = bnsl.fit(np.logspace(0, 3, 20), 2 * np.logspace(0, 3, 20) ** -0.5, n_breaks=0)
        after = (jax.config.jax_enable_x64, jax.default_backend(), jax.config.jax_platforms,
                 jax.config.jax_compilation_cache_dir)
        assert before == after, (before, after)
        assert jax.numpy.ones(1).dtype == jax.numpy.float32
        print("ok", fit.rmsle)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
