"""Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao, Gabry 2024).

The largest importance weights are replaced by the expected order statistics of
a generalized Pareto distribution fitted to them (Zhang and Stephens 2009,
with the weakly informative prior on its shape used by PSIS). The fitted shape
``k-hat`` says how heavy the tail of the weights is: up to 0.5 the estimates
converge fast, up to 0.7 they are usable, beyond that they cannot be trusted.

arviz provides the same computation (``arviz.psislw``) and the tests check this
module against it; it lives here because importing arviz costs seconds, and
every fit needs k-hat.
"""

from __future__ import annotations

import math

import numpy as np


def _fit_generalized_pareto(exceedances: np.ndarray) -> tuple[float, float]:
    """Shape ``k`` and scale ``sigma`` of a generalized Pareto fitted to sorted positive values."""
    x = exceedances
    n = len(x)
    grid = 30 + int(math.sqrt(n))
    # Candidate values of b = -k / sigma, spread by the profile-likelihood
    # quadrature of Zhang and Stephens around the scale of the data.
    b = 1.0 - np.sqrt(grid / (np.arange(1, grid + 1) - 0.5))
    b = b / (3.0 * x[int(n / 4 + 0.5) - 1]) + 1.0 / x[-1]
    k = np.mean(np.log1p(-b[:, None] * x), axis=1)
    profile = n * (np.log(-b / k) - k - 1.0)
    # Normalised exp(profile), shifted by its maximum: no overflow on long tails.
    weights = np.exp(profile - np.max(profile))
    weights = weights / np.sum(weights)
    b_post = np.sum(b * weights)
    k_post = np.mean(np.log1p(-b_post * x))
    sigma = -k_post / b_post
    # Shrink towards 0.5 as PSIS does: a weak prior that steadies small tails.
    k_post = (n * k_post + 10 * 0.5) / (n + 10)
    return float(k_post), float(sigma)


def psis(log_weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Pareto-smoothed log weights (normalised to sum to one in exp) and k-hat."""
    lw = np.asarray(log_weights, dtype=np.float64)
    lw = lw - lw.max()
    n = len(lw)
    tail = int(math.ceil(min(0.2 * n, 3 * math.sqrt(n))))
    smoothed = lw.copy()
    khat = math.inf
    if tail >= 5:
        order = np.argsort(lw)
        cutoff = lw[order[-tail - 1]]
        tail_idx = order[-tail:]
        exceed = np.exp(lw[tail_idx]) - math.exp(cutoff)
        if np.all(exceed > 0):
            khat, sigma = _fit_generalized_pareto(np.sort(exceed))
            if math.isfinite(khat):
                probs = (np.arange(1, tail + 1) - 0.5) / tail
                # An extreme shape can overflow a quantile: it is capped at the
                # largest raw weight just below, as PSIS does.
                with np.errstate(over="ignore"):
                    quantiles = _gpd_quantiles(probs, khat, sigma)
                smoothed[tail_idx] = np.minimum(np.log(quantiles + math.exp(cutoff)), 0.0)
        else:
            khat = 0.0  # tied weights: no tail to speak of
    smoothed = smoothed - np.log(np.sum(np.exp(smoothed)))
    return smoothed, khat


def _gpd_quantiles(probs, khat, sigma):
    """Quantiles of a generalized Pareto distribution with shape ``khat`` and scale ``sigma``."""
    if khat == 0:
        return -sigma * np.log1p(-probs)
    return sigma * np.expm1(-khat * np.log1p(-probs)) / khat
