"""bnsl's log evidence agrees with nested sampling (dynesty) on a small curve.

The reference samples the active entries of bnsl's unconstrained ``theta`` through
the inverse CDFs of their independent Normal / Student-t priors (bnsl's own
``prior_arrays``), so dynesty's ``logz`` estimates exactly ``log p(log y | n)``.
The likelihood is a numpy copy of bnsl's for n = 0 (dynesty calls it one point
at a time, where JAX's dispatch would cost more than the arithmetic), checked
against ``bnsl.posterior.log_likelihood_terms`` first. The full comparison over
many curves and n is ``benchmarks/evidence_accuracy.py``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import ndtri, stdtrit

import bnsl
from bnsl.posterior import N_GLOBAL, Scale, log_likelihood_terms, prior_arrays, theta_mask

dynesty = pytest.importorskip("dynesty")


def test_bnsl_evidence_matches_nested_sampling_for_a_power_law():
    rng = np.random.default_rng(7)
    x = np.logspace(2, 6, 20)
    y = np.exp(np.log(0.05 + 3.0 * x**-0.3) + 0.02 * rng.standard_normal(20))
    fit = bnsl.fit(x, y, n_breaks=0)

    scale = Scale.of(x, y)
    s, log_y = scale.s(x), np.log(y) - scale.log_y_ref
    prior = prior_arrays(bnsl.Priors(), x, y, scale)
    assert np.array_equal(np.flatnonzero(np.asarray(theta_mask(0))), np.arange(N_GLOBAL))
    loc, sd, dof = (np.asarray(a, dtype=np.float64)[:N_GLOBAL] for a in prior[:3])
    normal = ~np.isfinite(dof)

    def transform(u):
        return loc + sd * np.where(normal, ndtri(u), stdtrit(np.where(normal, 1.0, dof), u))

    def loglike(v):  # [log floor, intercept, slope, log noise]
        r = (np.logaddexp(v[0], v[1] - v[2] * s) - log_y) * math.exp(-v[3])
        value = -0.5 * np.dot(r, r) - len(s) * (0.5 * math.log(2 * math.pi) + v[3])
        return value if math.isfinite(value) else -1e300

    with jax.enable_x64(True):
        for u in rng.uniform(size=(5, N_GLOBAL)):
            theta = np.asarray(prior.loc, dtype=np.float64).copy()
            theta[:N_GLOBAL] = transform(u)
            expected = float(jnp.sum(log_likelihood_terms(jnp.asarray(theta), s, log_y, 0, False)))
            assert math.isclose(loglike(theta[:N_GLOBAL]), expected, rel_tol=1e-10)

    sampler = dynesty.NestedSampler(loglike, transform, N_GLOBAL, nlive=400, sample="rwalk",
                                    bound="single", rstate=np.random.default_rng(0))
    sampler.run_nested(dlogz=0.1, print_progress=False)
    reference, error = float(sampler.results.logz[-1]), float(sampler.results.logzerr[-1])
    assert error < 0.35
    estimate = fit.candidates[0].log_evidence
    assert abs(estimate - reference) < 0.5, (estimate, reference, error)


def test_draws_that_never_reach_the_posterior_are_caught():
    from bnsl.evidence import missed_posterior

    rng = np.random.default_rng(0)
    # Draws from a 7-dimensional Gaussian posterior sit chi2_7 / 2 nats below its mode.
    near = -0.5 * rng.chisquare(7, size=1024)
    assert not missed_posterior(0.0, near, 7)
    assert missed_posterior(0.0, near - 30.0, 7)  # a proposal that never came near
    assert missed_posterior(0.0, np.full(16, -np.inf), 7)
