"""The misspecification term beyond the data (bnsl.extrapolation) and how Fit uses it."""

import numpy as np
import pytest
from scipy import stats

import bnsl
from bnsl.extrapolation import Holdout, drift_from, drift_posterior, holdout_drift, log_density
from bnsl.priors import Normal, StudentT

HALF_CAUCHY = bnsl.StudentT(0.0, 0.2, 1.0)  # the default prior of tau / mean slope


def holdout(drift, se):
    return Holdout(cut=0.5, n_fit=10, n_held=10, n_breaks=0, drift=drift, standard_error=se)


@pytest.fixture(scope="module")
def power_fit():
    x = np.logspace(1, 4, 30)
    y = 4.0 * x**-0.3 * np.exp(0.01 * np.random.default_rng(0).normal(size=30))
    return bnsl.fit(x, y)


def test_the_held_out_drift_carries_everything_the_errors_say_about_tau():
    # log N(e; 0, A + t^2 h h') - log N(k; 0, se^2 + t^2) must not depend on t.
    rng = np.random.default_rng(1)
    m = 7
    root = rng.normal(size=(m, m))
    cov = root @ root.T + 0.1 * np.eye(m)
    h = np.linspace(0.1, 0.9, m)
    e = rng.normal(size=m)
    k, se = holdout_drift(e, h, cov)
    gaps = [stats.multivariate_normal(np.zeros(m), cov + t**2 * np.outer(h, h)).logpdf(e)
            - stats.norm(0, np.hypot(se, t)).logpdf(k) for t in (0.0, 0.3, 1.0, 5.0)]
    np.testing.assert_allclose(gaps, gaps[0], atol=1e-9)


def test_tau_rises_with_large_held_out_errors_and_keeps_its_prior_without_any():
    prior_only = drift_from((), HALF_CAUCHY, 2.0, 0.0, 4.0)
    # The prior's median: half-Cauchy scale 0.2 times range(ln y) / range(ln x).
    assert prior_only.tau_median == pytest.approx(0.2 * 2.0 / 4.0, rel=0.02)
    large = drift_from((holdout(3.0, 0.05),) * 3, HALF_CAUCHY, 2.0, 0.0, 4.0)
    small = drift_from((holdout(0.001, 0.005),) * 3, HALF_CAUCHY, 2.0, 0.0, 4.0)
    assert large.tau_median > 4 * prior_only.tau_median
    assert small.tau_median < 0.5 * prior_only.tau_median
    assert np.all(np.diff(large.tau) > 0) and len(large.tau) == 16
    # Nested blocks that agree are worth one block, not three.
    one = drift_posterior((holdout(3.0, 0.05),), HALF_CAUCHY, 2.0)
    three = drift_posterior((holdout(3.0, 0.05),) * 3, HALF_CAUCHY, 2.0)
    np.testing.assert_allclose(one[1], three[1])


def test_bands_from_the_learned_tau_are_calibrated_when_the_model_holds():
    # Draw tau from its prior, one held-out drift and one new slope error from the
    # model: the posterior predictive of the slope error (over the 16 nodes of tau)
    # must cover at its nominal rate.
    rng = np.random.default_rng(0)
    covered = {0.9: [], 0.5: []}
    for _ in range(600):
        tau = 0.2 * abs(rng.standard_cauchy())
        se = np.exp(rng.uniform(np.log(0.02), np.log(1.0)))
        drift = drift_from((holdout(rng.normal(0, np.hypot(se, tau)), se),), HALF_CAUCHY, 1.0, 0.0, 1.0)
        new = rng.normal(0, tau)
        inside_prob = np.mean(2 * stats.norm.cdf(abs(new) / drift.tau) - 1)
        for level in covered:
            covered[level].append(inside_prob <= level)
    assert np.mean(covered[0.9]) == pytest.approx(0.9, abs=0.04)
    assert np.mean(covered[0.5]) == pytest.approx(0.5, abs=0.07)


def test_a_short_curve_keeps_the_prior_of_tau():
    x = np.logspace(1, 3, 6)
    y = 3.0 * x**-0.4 * np.exp(0.01 * np.random.default_rng(2).normal(size=6))
    fit = bnsl.fit(x, y)
    assert fit.drift.holdouts == ()
    reference = np.ptp(np.log(y)) / np.ptp(np.log(x))
    assert fit.tau == pytest.approx(0.2 * reference, rel=0.02)
    assert "prior only" in str(fit)


def test_the_band_is_unchanged_inside_the_data_and_widens_beyond(power_fit):
    fit = power_fit
    inside = np.logspace(1.2, 3.9, 7)
    for level in (0.5, 0.9):
        np.testing.assert_array_equal(fit.interval(inside, level, kind="observation"),
                                      fit.interval(inside, level, kind="observation", drift=False))
    y_new = fit.predict(inside) * 1.01
    np.testing.assert_array_equal(fit.log_predictive_density(inside, y_new),
                                  fit.log_predictive_density(inside, y_new, drift=False))

    beyond = np.array([1e4 * 10**0.1, 1e5, 1e6, 1e7])
    lo, hi = fit.interval(beyond, 0.9, kind="observation")
    lo0, hi0 = fit.interval(beyond, 0.9, kind="observation", drift=False)
    extra = np.log(hi / lo) - np.log(hi0 / lo0)
    assert np.all(extra > 0) and np.all(np.diff(extra) > 0)
    assert np.all(np.diff(np.log(hi / lo)) > 0)
    # Below the data too, symmetrically in ln x.
    below, above = fit.interval([1.0, 1e5], 0.9, kind="observation")
    plain_below, plain_above = fit.interval([1.0, 1e5], 0.9, kind="observation", drift=False)
    assert np.log(above[0] / below[0]) > np.log(plain_above[0] / plain_below[0])
    # The extra spread is tau * distance in ln x.
    np.testing.assert_allclose(fit.drift.sd([1e4, 1e5, 1e6]),
                               np.sqrt(np.mean(fit.drift.tau**2)) * np.log([1.0, 10.0, 100.0]))
    # The curve band is the posterior band of the law, with or without the drift.
    np.testing.assert_array_equal(fit.interval(beyond, 0.9), fit.interval(beyond, 0.9, kind="curve"))


def test_the_drift_widens_the_predictive_density_beyond_the_data(power_fit):
    fit = power_fit
    x = np.array([1e5, 1e6])
    far_off = fit.predict(x) * np.exp(0.5)
    with_drift = fit.log_predictive_density(x, far_off)
    plain = fit.log_predictive_density(x, far_off, drift=False)
    assert np.all(np.isfinite(with_drift)) and np.all(with_drift > plain)


def test_the_drift_is_deterministic_under_the_seed_and_reported(power_fit):
    again = bnsl.fit(power_fit.x, power_fit.y)
    np.testing.assert_array_equal(again.drift.tau, power_fit.drift.tau)
    assert len(power_fit.drift.holdouts) == 3
    data = power_fit.to_dict()["drift"]
    assert data["tau_median"] == power_fit.tau and data["holdouts"] == 3
    assert "[[Extrapolation]]" in str(power_fit)


def test_noise_plus_drift_density_is_a_proper_mixture():
    # Equal-weight nodes of the drift's sd: the density is the average of normals.
    r = np.array([[0.3, -1.0]])
    got = log_density(r, np.array([[0.2]]), np.array([[0.0, 0.5], [0.0, 1.5]]), student_t=False)
    want_beyond = np.log(np.mean([stats.norm(0, np.hypot(0.2, s)).pdf(-1.0) for s in (0.5, 1.5)]))
    np.testing.assert_allclose(got, [[stats.norm(0, 0.2).logpdf(0.3), want_beyond]])
    t_only = log_density(r, np.array([[0.2]]), None, student_t=True)
    np.testing.assert_allclose(t_only, stats.t(4, scale=0.2).logpdf(r))


def test_bands_beyond_the_data_cover_far_better_on_misspecified_curves():
    # A broad break beyond the data bends each curve where no fit can see it
    # fully: the plain posterior band misses most extrapolated points, the
    # band with the learned drift covers most of them (and scores better).
    rng = np.random.default_rng(1)
    x, x_new = np.logspace(2, 5, 30), np.logspace(5, 6, 6)[1:]
    covered, scores = {True: [], False: []}, {True: [], False: []}
    for seed in range(10):
        law = bnsl.BNSLParams(0.0, 5.0, 0.3, [rng.choice([-1, 1]) * rng.uniform(0.2, 0.5)],
                              [10 ** rng.uniform(5.0, 6.5)], [0.8])
        y, y_new = (np.asarray(bnsl.predict(law, v)) * np.exp(0.01 * rng.normal(size=len(v)))
                    for v in (x, x_new))
        fit = bnsl.fit(x, y, seed=seed)
        for drift in (True, False):
            lo, hi = fit.interval(x_new, 0.9, kind="observation", drift=drift)
            covered[drift].append(np.mean((y_new >= lo) & (y_new <= hi)))
            scores[drift].append(np.mean(fit.log_predictive_density(x_new, y_new, drift=drift)))
    assert np.mean(covered[True]) >= 0.6
    assert np.mean(covered[True]) >= np.mean(covered[False]) + 0.2
    assert np.mean(scores[True]) > np.mean(scores[False])


@pytest.mark.parametrize("prior", [StudentT(0.0, 0.2, 1.0), StudentT(0.3, 0.5, 4.0), Normal(0.1, 0.7)])
def test_folded_prior_density_matches_scipy(prior):
    from bnsl.extrapolation import _log_folded

    values = np.linspace(0.0, 5.0, 11)
    dist = (stats.t(prior.dof, prior.loc, prior.scale) if isinstance(prior, StudentT)
            else stats.norm(prior.loc, prior.scale))
    expected = np.logaddexp(dist.logpdf(values), dist.logpdf(-values))
    np.testing.assert_allclose(_log_folded(values, prior), expected, rtol=1e-12, atol=1e-12)
