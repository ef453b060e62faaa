"""The marginal likelihood ``log p(y | n)``: Laplace mixture, corrected by importance sampling.

Laplace's approximation at each distinct mode gives ``Z_k = p(y, theta_k)
(2 pi)^(d/2) |H_k|^(-1/2)``. The BNSL is a singular model (a break with no change
of slope has an unidentified location and sharpness; a break outside the data
is a flat direction), so the Gaussian picture can be badly off. The Laplace
mixture is therefore only the *proposal*: a mixture of Student-t distributions
centred on the modes with the Laplace covariances, weighted by ``Z_k``, from
which draws are importance-weighted by the exact posterior. The estimate is
``log mean(p(y, theta_s) / q(theta_s))``, and the Pareto k-hat of the weights
(PSIS, :mod:`bnsl.psis`) says when it can be trusted (k-hat <= 0.7).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from bnsl.posterior import N_THETA
from bnsl.psis import psis

PROPOSAL_DOF = 5.0
PROPOSAL_INFLATION = 1.2  # widen the Laplace covariances a little: tails are heavier than Gaussian


class Evidence(NamedTuple):
    """Per-mode Laplace terms and the importance-sampling draws of one n."""

    log_z: jax.Array          # importance-sampling estimate of log p(y | n)
    log_z_laplace: jax.Array  # Laplace mixture estimate
    mode_log_z: jax.Array     # (K,) Laplace log evidence of each mode (-inf if not valid)
    mode_chol: jax.Array      # (K, P, P) Cholesky factor of each mode's Laplace proposal scale
    draws: jax.Array          # (D, P) proposal draws
    log_weights: jax.Array    # (D,) log importance weights (-inf where the density failed)
    draw_log_joint: jax.Array  # (D,) log p(y, theta) at each draw


class Proposal(NamedTuple):
    """A mixture of multivariate t distributions over the masked entries of theta."""

    log_mix: jax.Array   # (K,) log mixture weights
    centre: jax.Array    # (K, P)
    chol: jax.Array      # (K, P, P) lower Cholesky factors of the scale matrices


def _laplace(value, curvature, mask):
    """Scale-matrix factor of the proposal, and the Laplace log evidence, at one mode."""
    d = jnp.sum(mask)
    # Inactive entries get an identity block: nothing added to log|H|.
    h = curvature * mask[:, None] * mask[None, :] + jnp.diag(1.0 - mask)
    # Gauss-Newton matrices are positive semi-definite; a little jitter makes them definite.
    h = h + 1e-10 * (jnp.max(jnp.diag(h)) + 1.0) * jnp.eye(h.shape[0])
    chol_h = jnp.linalg.cholesky(h)
    log_z = value + 0.5 * d * math.log(2 * math.pi) - jnp.sum(jnp.log(jnp.diag(chol_h)))
    cov = jax.scipy.linalg.cho_solve((chol_h, True), jnp.eye(h.shape[0]))
    cov = cov * PROPOSAL_INFLATION * mask[:, None] * mask[None, :] + jnp.diag(1.0 - mask)
    return jnp.linalg.cholesky(cov), log_z


# log Gamma((nu + d) / 2) - log Gamma(nu / 2) - d/2 log(nu pi) for every dimension d, as a
# table: the dimension is traced (it depends on n), and lgamma is costly to compile.
_T_NORMALISER = np.array([math.lgamma((PROPOSAL_DOF + d) / 2) - math.lgamma(PROPOSAL_DOF / 2)
                          - 0.5 * d * math.log(PROPOSAL_DOF * math.pi) for d in range(N_THETA + 1)])


def _log_student(draws, proposal: Proposal, mask):
    """``(D, K)`` log density of every draw under every t component, over the masked entries.

    Each component's Cholesky factor is inverted once (``K`` tiny triangular
    solves) and applied to all draws as one matrix product: a triangular solve
    with ``D`` right-hand sides goes to LAPACK, whose threads stall on a busy
    machine.
    """
    d = jnp.sum(mask)
    eye = jnp.eye(proposal.chol.shape[-1], dtype=proposal.chol.dtype)
    inverse = jax.vmap(lambda l: jax.scipy.linalg.solve_triangular(l, eye, lower=True))(proposal.chol)
    dev = (draws[:, None, :] - proposal.centre[None]) * mask  # (D, K, P)
    solved = jnp.einsum("kij,dkj->dki", inverse, dev) * mask
    maha = jnp.sum(solved**2, axis=-1)
    log_det = jnp.sum(jnp.log(jnp.diagonal(proposal.chol, axis1=1, axis2=2)) * mask, axis=-1)
    normaliser = jnp.asarray(_T_NORMALISER)[d.astype(jnp.int32)]
    return normaliser - log_det - (PROPOSAL_DOF + d) / 2 * jnp.log1p(maha / PROPOSAL_DOF)


class SampleNoise(NamedTuple):
    """The random numbers behind the importance sampling, per round: they depend
    on the seed alone, not on the data."""

    gumbel: jax.Array  # (rounds, D, K) picks the mixture component
    normal: jax.Array  # (rounds, D, P)
    chi: jax.Array     # (rounds, D, PROPOSAL_DOF) normals whose squares sum to a chi-square


def sample_noise(rng: np.random.Generator, n_draws: int, n_modes: int, rounds: int = 2) -> SampleNoise:
    """Every round's random numbers, drawn on the host (see :func:`bnsl.solver.start_noise`)."""
    return SampleNoise(
        # As a categorical draw: the argmax of Gumbel noise plus the logits.
        rng.gumbel(size=(rounds, n_draws, n_modes)),
        rng.standard_normal((rounds, n_draws, N_THETA)),
        # A chi-square with an integer dof as a sum of squared normals, so that
        # the program only ever sees normals.
        rng.standard_normal((rounds, n_draws, int(PROPOSAL_DOF))))


def _sample(noise: SampleNoise, proposal: Proposal, mask):
    """Draws from the mixture, given one round's noise."""
    comp = jnp.argmax(noise.gumbel + proposal.log_mix[None], axis=-1)
    chi2 = jnp.sum(noise.chi**2, axis=1)
    radial = jnp.sqrt(PROPOSAL_DOF / chi2)[:, None]
    steps = jnp.einsum("dij,dj->di", proposal.chol[comp], noise.normal * mask) * radial
    return proposal.centre[comp] + steps * mask


def _refit(proposal: Proposal, draws, log_weights, log_q_comp, mask) -> Proposal:
    """One EM step of the mixture towards the weighted draws, kept defensive.

    Each component moves to the mean and covariance of the draws it is
    responsible for; it keeps a share of its old scale and weight so that a
    poor first round cannot collapse it.
    """
    w = jnp.exp(log_weights - jnp.max(log_weights))
    resp = jax.nn.softmax(proposal.log_mix + log_q_comp, axis=1) * w[:, None]  # (D, K)
    total = jnp.sum(resp, axis=0)
    enough = total > 1e-3 * jnp.sum(w)
    centre = jnp.einsum("dk,dp->kp", resp, draws) / jnp.maximum(total, 1e-300)[:, None]
    dev = (draws[None] - centre[:, None]) * mask  # (K, D, P)
    cov = jnp.einsum("dk,kdp,kdq->kpq", resp, dev, dev) / jnp.maximum(total, 1e-300)[:, None, None]
    old = jnp.einsum("kpi,kqi->kpq", proposal.chol, proposal.chol)
    # A t with scale S has covariance S nu / (nu - 2): match the draws' covariance.
    cov = (PROPOSAL_DOF - 2) / PROPOSAL_DOF * PROPOSAL_INFLATION * cov + 0.25 * old
    cov = cov * mask[:, None] * mask[None, :] + jnp.diag(1.0 - mask)
    chol = jnp.linalg.cholesky(cov + 1e-12 * jnp.eye(cov.shape[-1]))
    ok = enough & jnp.all(jnp.isfinite(chol), axis=(1, 2)) & jnp.all(jnp.isfinite(centre), axis=1)
    log_mix = jnp.log(0.8 * total / jnp.sum(total) + 0.2 * jnp.exp(proposal.log_mix) + 1e-300)
    log_mix = jnp.where(jnp.isfinite(proposal.log_mix), log_mix, -jnp.inf)
    return Proposal(log_mix - jax.scipy.special.logsumexp(log_mix),
                    jnp.where(ok[:, None], centre, proposal.centre),
                    jnp.where(ok[:, None, None], chol, proposal.chol))


def estimate(noise: SampleNoise, theta, value, valid, curvature, objective, mask) -> Evidence:
    """Laplace at each mode, then adaptive importance sampling from a Student-t mixture.

    The first round samples the Laplace mixture; each later round samples the
    mixture refitted to the previous round's weighted draws. The estimate and
    the draws come from the last round alone, so they stay unbiased.

    Args:
        noise: the random numbers of every round, from :func:`sample_noise`.
        theta, value, valid, curvature: the modes, ``log p(y, theta)`` there,
            whether each is a real distinct mode, and ``-Hessian`` approximations.
        objective: the log joint density ``log p(y, theta)``.
    """
    chol, mode_log_z = jax.vmap(lambda v, h: _laplace(v, h, mask))(value, curvature)
    mode_log_z = jnp.where(valid & jnp.isfinite(mode_log_z), mode_log_z, -jnp.inf)
    log_z_laplace = logsumexp(mode_log_z)
    first = Proposal(mode_log_z - log_z_laplace, theta, chol)

    def one_round(proposal, round_noise):
        draws = _sample(round_noise, proposal, mask)
        per_comp = _log_student(draws, proposal, mask)  # (D, K)
        log_q = logsumexp(proposal.log_mix + per_comp, axis=1)
        log_joint = jax.vmap(objective)(draws)
        log_w = log_joint - log_q
        log_w = jnp.where(jnp.isfinite(log_w), log_w, -jnp.inf)
        return _refit(proposal, draws, log_w, per_comp, mask), (draws, log_w, log_joint)

    _, (draws, log_weights, log_joint) = jax.lax.scan(one_round, first, noise)
    draws, log_weights, log_joint = draws[-1], log_weights[-1], log_joint[-1]
    log_z = logsumexp(log_weights) - math.log(log_weights.shape[0])
    return Evidence(log_z, log_z_laplace, mode_log_z, chol, draws, log_weights, log_joint)


def missed_posterior(mode_log_joint: float, draw_log_joint: np.ndarray, dimension: int) -> bool:
    """Whether the importance draws never came near the posterior's bulk.

    Draws from a d-dimensional posterior sit about ``chi2_d / 2`` nats below its
    mode, and the best of many sits within a few nats of it. When even the best
    draw is more than ``d`` nats below the best mode, the proposal missed the
    posterior: the estimate is then far too low, and its weights can still look
    light-tailed (k-hat is blind to mass it never saw).
    """
    finite = draw_log_joint[np.isfinite(draw_log_joint)]
    return finite.size == 0 or mode_log_joint - float(finite.max()) > dimension


def smoothed_weights(log_weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Pareto-smoothed, normalised importance weights and their k-hat (see :mod:`bnsl.psis`).

    k-hat above 0.7 means the weights, and any estimate built on them, are
    unreliable; below 0.5 they are good.
    """
    log_weights = np.asarray(log_weights, dtype=np.float64)
    finite = np.isfinite(log_weights)
    weights = np.zeros_like(log_weights)
    if finite.sum() < 20:
        weights[finite] = 1.0 / max(finite.sum(), 1)
        return weights, math.inf
    smoothed, khat = psis(log_weights[finite])
    weights[finite] = np.exp(smoothed)
    return weights, khat
