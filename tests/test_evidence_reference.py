"""bnsl's log evidence agrees with nested sampling (dynesty) on a small curve.

The reference samples the active entries of bnsl's unconstrained ``theta`` through
the inverse CDFs of their independent Normal / Student-t priors, with bnsl's own
log likelihood, so dynesty's ``logz`` estimates exactly ``log p(log y | n)``.
The full comparison over many curves is ``benchmarks/evidence_accuracy.py``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import ndtri, stdtrit

import bnsl
from bnsl.posterior import Scale, log_likelihood_terms, prior_arrays, theta_mask

dynesty = pytest.importorskip("dynesty")


def dynesty_log_evidence(x, y, n: int, nlive: int, seed: int) -> tuple[float, float]:
    scale = Scale.of(x, y)
    s, log_y = scale.s(x), np.log(y) - scale.log_y_ref
    prior = prior_arrays(bnsl.Priors(), x, y, scale)
    idx = np.flatnonzero(np.asarray(theta_mask(n)) > 0)
    loc, sd, dof = (np.asarray(a, dtype=np.float64)[idx] for a in prior[:3])
    normal = ~np.isfinite(dof)
    base = np.asarray(prior.loc, dtype=np.float64).copy()
    with jax.enable_x64(True):
        loglike_jit = jax.jit(lambda th: jnp.sum(log_likelihood_terms(th, s, log_y, n, False)))

        def loglike(v):
            theta = base.copy()
            theta[idx] = v
            value = float(loglike_jit(theta))
            return value if math.isfinite(value) else -1e300

        def transform(u):
            return loc + sd * np.where(normal, ndtri(u), stdtrit(np.where(normal, 1.0, dof), u))

        sampler = dynesty.NestedSampler(loglike, transform, len(idx), nlive=nlive, sample="unif",
                                        rstate=np.random.default_rng(seed))
        sampler.run_nested(dlogz=0.1, print_progress=False)
    return float(sampler.results.logz[-1]), float(sampler.results.logzerr[-1])


def test_bnsl_evidence_matches_nested_sampling_for_a_power_law():
    rng = np.random.default_rng(7)
    x = np.logspace(2, 6, 20)
    y = np.exp(np.log(0.05 + 3.0 * x**-0.3) + 0.02 * rng.standard_normal(20))
    fit = bnsl.fit(x, y, n_breaks=0)
    reference, error = dynesty_log_evidence(x, y, 0, nlive=500, seed=0)
    assert error < 0.35
    assert abs(fit.candidates[0].log_evidence - reference) < 0.5, (fit.candidates[0].log_evidence,
                                                                  reference, error)
