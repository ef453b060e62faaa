"""The marginal likelihood ``log p(y | n)``: Laplace mixture, corrected by importance sampling.

Laplace's approximation at each distinct mode gives ``Z_k = p(y, theta_k)
(2 pi)^(d/2) |H_k|^(-1/2)``. The BNSL is a singular model (a break with no change
of slope has an unidentified location and sharpness; a break outside the data
is a flat direction), so the Gaussian picture can be badly off. The Laplace
mixture is therefore only the *proposal*: a mixture of Student-t distributions
centred on the modes with the Laplace covariances, weighted by ``Z_k``, from
which draws are importance-weighted by the exact posterior. The estimate is
``log mean(p(y, theta_s) / q(theta_s))``, and the Pareto k-hat of the weights
(PSIS, Vehtari et al.) says when it can be trusted (k-hat <= 0.7).
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from bnsl.posterior import N_THETA

PROPOSAL_DOF = 5.0
PROPOSAL_INFLATION = 1.2  # widen the Laplace covariances a little: tails are heavier than Gaussian


class Evidence(NamedTuple):
    """Per-mode Laplace terms and the importance-sampling draws of one n."""

    log_z: jax.Array          # importance-sampling estimate of log p(y | n)
    log_z_laplace: jax.Array  # Laplace mixture estimate
    mode_log_z: jax.Array     # (K,) Laplace log evidence of each mode (-inf if not valid)
    mode_chol: jax.Array      # (K, P, P) Cholesky factor of each mode's proposal precision
    draws: jax.Array          # (D, P) proposal draws
    log_weights: jax.Array    # (D,) log importance weights (-inf where the density failed)


def _laplace(value, curvature, mask):
    """Cholesky factor of the precision, and the Laplace log evidence, at one mode."""
    d = jnp.sum(mask)
    # Inactive entries get an identity block: nothing added to log|H|.
    h = curvature * mask[:, None] * mask[None, :] + jnp.diag(1.0 - mask)
    h = h / PROPOSAL_INFLATION * mask[:, None] * mask[None, :] + jnp.diag(1.0 - mask)
    # Gauss-Newton matrices are positive semi-definite; a little jitter makes them definite.
    jitter = 1e-10 * (jnp.max(jnp.diag(h)) + 1.0)
    chol = jnp.linalg.cholesky(h + jitter * jnp.eye(h.shape[0]))
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diag(chol))) + d * jnp.log(PROPOSAL_INFLATION)
    log_z = value + 0.5 * d * math.log(2 * math.pi) - 0.5 * log_det
    return chol, log_z


# log Gamma((nu + d) / 2) - log Gamma(nu / 2) - d/2 log(nu pi) for every dimension d, as a
# table: the dimension is traced (it depends on n), and lgamma is costly to compile.
_T_NORMALISER = np.array([math.lgamma((PROPOSAL_DOF + d) / 2) - math.lgamma(PROPOSAL_DOF / 2)
                          - 0.5 * d * math.log(PROPOSAL_DOF * math.pi) for d in range(N_THETA + 1)])


def _log_student(x, centre, chol, mask):
    """Log density of the multivariate t proposal over the masked entries; ``chol`` factors the precision."""
    d = jnp.sum(mask)
    maha = jnp.sum(((chol.T @ ((x - centre) * mask)) * mask) ** 2)
    log_det_precision = jnp.sum(jnp.log(jnp.diag(chol)) * mask)
    normaliser = jnp.asarray(_T_NORMALISER)[d.astype(jnp.int32)]
    return normaliser + log_det_precision - (PROPOSAL_DOF + d) / 2 * jnp.log1p(maha / PROPOSAL_DOF)


def estimate(key, theta, value, valid, curvature, objective, mask, n_draws: int) -> Evidence:
    """Laplace at each mode, then importance sampling from their Student-t mixture.

    Args:
        theta, value, valid, curvature: the modes, ``log p(y, theta)`` there,
            whether each is a real distinct mode, and ``-Hessian`` approximations.
        objective: the log joint density ``log p(y, theta)``.
    """
    chol, mode_log_z = jax.vmap(lambda v, h: _laplace(v, h, mask))(value, curvature)
    mode_log_z = jnp.where(valid & jnp.isfinite(mode_log_z), mode_log_z, -jnp.inf)
    log_z_laplace = logsumexp(mode_log_z)
    log_mix = mode_log_z - log_z_laplace

    k_comp, k_norm, k_chi = jax.random.split(key, 3)
    comp = jax.random.categorical(k_comp, log_mix, shape=(n_draws,))
    normal = jax.random.normal(k_norm, (n_draws, N_THETA), dtype=theta.dtype)
    # chi-square with an integer dof as a sum of squared normals: jax.random.gamma
    # is a rejection loop that is slow to compile.
    chi2 = jnp.sum(jax.random.normal(k_chi, (n_draws, int(PROPOSAL_DOF)), dtype=theta.dtype) ** 2, axis=1)
    radial = jnp.sqrt(PROPOSAL_DOF / chi2)[:, None]
    # x = centre + L^-T z has covariance (L L^T)^-1 when L factors the precision.
    solve_t = lambda l, z: jax.scipy.linalg.solve_triangular(l.T, z, lower=False)
    steps = jax.vmap(solve_t)(chol[comp], normal * mask) * radial
    draws = theta[comp] + steps * mask

    def log_proposal(x):
        per_comp = jax.vmap(lambda c, l: _log_student(x, c, l, mask))(theta, chol)
        return logsumexp(log_mix + per_comp)

    target = jax.vmap(objective)(draws)
    log_weights = target - jax.vmap(log_proposal)(draws)
    log_weights = jnp.where(jnp.isfinite(log_weights), log_weights, -jnp.inf)
    log_z = logsumexp(log_weights) - math.log(n_draws)
    return Evidence(log_z, log_z_laplace, mode_log_z, chol, draws, log_weights)


def smoothed_weights(log_weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Pareto-smoothed, normalised importance weights and their k-hat (arviz's PSIS).

    k-hat above 0.7 means the weights, and any estimate built on them, are
    unreliable; below 0.5 they are good.
    """
    log_weights = np.asarray(log_weights, dtype=np.float64)
    finite = np.isfinite(log_weights)
    weights = np.zeros_like(log_weights)
    if finite.sum() < 20:
        weights[finite] = 1.0 / max(finite.sum(), 1)
        return weights, math.inf
    import arviz  # deferred: arviz is slow to import and only needed here

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smoothed, khat = arviz.psislw(log_weights[finite] - log_weights[finite].max())
    smoothed = np.exp(np.asarray(smoothed) - np.max(smoothed))
    weights[finite] = smoothed / smoothed.sum()
    return weights, float(np.asarray(khat))
