"""Multistart solving: data-seeded starts and batched Levenberg-Marquardt on the posterior.

The BNSL surface is multimodal in the break locations and sharpnesses, so many
starts run at once under ``jax.vmap``:

1. **Starts.** Given a floor, break locations and sharpnesses, ``log(y - a)`` is
   *linear* in the intercept and all slopes, so each start solves that small
   linear least-squares problem exactly. Floors, locations and sharpnesses come
   from the data (breaks spread through the range of log x, a grid of floors
   under ``min(y)``) and from random draws.
2. **Levenberg-Marquardt** on the whole log posterior from every start. Every
   prior and the likelihood are written as residuals whose half squares are
   their negative log densities (:func:`bnsl.posterior.heavy_tail_residual`),
   and the noise level is profiled out in one dimension at each step, so the
   posterior is a sum of squares: the Gauss-Newton matrix from the law's
   hand-written Jacobian is a cheap, positive curvature, and no Hessian is ever
   compiled. The proper priors keep the flat directions of a singular law (a
   break with no change of slope) from drifting. Each iteration evaluates the
   law and its Jacobian once, at the trial point. With a static number of
   breaks (``bnsl.fit_many``) the normal equations are formed only in the
   entries that move.
3. The few best **distinct** optima are kept, best first: the evidence is built
   on them.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bnsl._fastmath import softplus
from bnsl.posterior import (
    LOG_NOISE, MAX_BREAKS, N_THETA, PriorArrays, active_columns, active_jacobian, break_mask,
    heavy_tail_penalty_derivatives, heavy_tail_residual, likelihood_dof, log_joint_of_residuals, model_log_y_and_jacobian, pack,
    prior_residuals_and_jacobian, standardised_data_residuals, theta_mask,
)

_FLOOR_FRACTIONS = (0.0, 0.5, 0.8, 0.95)
# Convergence in practice: under SETTLED nats gained over the last WINDOW iterations.
WINDOW, SETTLED = 10, 1e-3
NOISE_FLOOR = 1e-9


class Optima(NamedTuple):
    """The best distinct optima of one multistart solve, best first."""

    theta: jax.Array      # (K, N_THETA)
    log_joint: jax.Array  # (K,) log posterior density, -inf where not valid
    valid: jax.Array      # (K,) bool: a distinct, finite optimum
    converged: jax.Array  # (K,) whether Levenberg-Marquardt stopped on its tolerance or settled
    curvature: jax.Array  # (K, N_THETA, N_THETA) approximate -Hessian of log p(y, theta)
    residual: jax.Array   # (K, P) model - log y at each optimum


def _weighted_lstsq(basis, target, weight, ridge):
    """Solve min ||sqrt(w)(basis @ beta - target)||^2 + ridge ||beta||^2."""
    bw = basis * weight[:, None]
    gram = basis.T @ bw + ridge * jnp.eye(basis.shape[1])
    return spd_solve(gram, bw.T @ target)


def _seed_start(s, log_y, weight, n_breaks, floor_fraction, location, log_sharpness):
    """A start whose intercept and slopes are the exact least-squares fit given the rest."""
    y_min = jnp.min(jnp.where(weight > 0, log_y, jnp.inf))
    floor = floor_fraction * jnp.exp(y_min)
    excess = jnp.log(jnp.maximum(jnp.exp(log_y) - floor, 1e-12 * jnp.exp(y_min)))
    g = jnp.exp(log_sharpness)
    bends = g * softplus((s[:, None] - location) / g) * break_mask(n_breaks)
    basis = jnp.concatenate([jnp.ones_like(s)[:, None], -s[:, None], -bends], axis=1)
    beta = _weighted_lstsq(basis, excess, weight, 1e-8)
    residual = basis @ beta - excess
    log_noise = 0.5 * jnp.log(jnp.sum(weight * residual**2) / jnp.sum(weight) + 1e-12)
    log_floor = jnp.log(jnp.maximum(floor, 1e-3 * jnp.exp(y_min)))
    return pack(log_floor, beta[0], beta[1], log_noise, beta[2:], location, log_sharpness)


class StartNoise(NamedTuple):
    """The random numbers behind the starts: they depend on the seed alone, not on the data."""

    jitter: np.ndarray         # (n_starts // 2, MAX_BREAKS) uniform on [-1, 1]
    spread: np.ndarray         # (n_starts - n_starts // 2, MAX_BREAKS) uniform on [-0.1, 1.1]
    log_sharpness: np.ndarray  # (n_starts, MAX_BREAKS)
    floor_scale: np.ndarray    # (n_starts,) uniform on [0.9, 1]


def start_noise(rng: np.random.Generator, n_starts: int) -> StartNoise:
    """Drawn on the host: a random number generator in the compiled program costs
    a good share of its compilation time and saves nothing at run time."""
    half = n_starts // 2
    return StartNoise(rng.uniform(-1.0, 1.0, (half, MAX_BREAKS)),
                      rng.uniform(-0.1, 1.1, (n_starts - half, MAX_BREAKS)),
                      rng.uniform(np.log(0.003), np.log(0.3), (n_starts, MAX_BREAKS)),
                      rng.uniform(0.9, 1.0, n_starts))


def make_starts(noise: StartNoise, s, log_y, weight, n_breaks) -> jax.Array:
    """``(n_starts, N_THETA)`` starting points: data-seeded and random, deterministic in the noise."""
    n_starts = noise.floor_scale.shape[0]
    # Data-seeded locations: breaks spread evenly through the data (and a little
    # beyond) with jitter; random ones anywhere in [-0.1, 1.1].
    slots = (jnp.arange(MAX_BREAKS) + 1.0) / (n_breaks + 1.0)
    spread = jnp.where(jnp.arange(MAX_BREAKS) < n_breaks, slots, 1.5 + jnp.arange(MAX_BREAKS))
    jitter = 0.35 / (n_breaks + 1.0) * noise.jitter
    seeded = spread + jitter
    # Inactive breaks sit past the data, in order, so they never collide.
    uniform = jnp.where(jnp.arange(MAX_BREAKS) < n_breaks, noise.spread, 1.5 + jnp.arange(MAX_BREAKS))
    locations = jnp.sort(jnp.concatenate([seeded, uniform]), axis=1)
    locations = locations + 1e-3 * jnp.arange(MAX_BREAKS)  # strictly increasing
    fractions = jnp.asarray(_FLOOR_FRACTIONS)[jnp.arange(n_starts) % len(_FLOOR_FRACTIONS)]
    fractions = fractions * noise.floor_scale
    seed_one = lambda fr, loc, lg: _seed_start(s, log_y, weight, n_breaks, fr, loc, lg)
    return jax.vmap(seed_one)(fractions, locations, noise.log_sharpness)


def _noise_derivatives(log_noise, residual, weight, prior, student_t):
    """First and second derivatives in the log noise level of the part of
    ``-log p(y, theta)`` that depends on it, given the raw residuals."""
    z = (log_noise - prior.loc[LOG_NOISE]) / prior.scale[LOG_NOISE]
    d1, d2 = heavy_tail_penalty_derivatives(z, prior.dof[LOG_NOISE])
    prior_d1, prior_d2 = d1 / prior.scale[LOG_NOISE], d2 / prior.scale[LOG_NOISE] ** 2
    n_eff = jnp.sum(weight)
    if not student_t:
        # 0.5 * RSS * exp(-2 l) + n l, written out: it runs inside every solver step.
        scaled = jnp.sum(weight * residual**2) * jnp.exp(-2 * log_noise)
        return n_eff - scaled + prior_d1, 2 * scaled + prior_d2
    data = lambda ln: 0.5 * jnp.sum(weight * heavy_tail_residual(
        residual * jnp.exp(-ln), likelihood_dof(True)) ** 2) + n_eff * ln
    return jax.grad(data)(log_noise) + prior_d1, jax.grad(jax.grad(data))(log_noise) + prior_d2


def _profiled_log_noise(residual, weight, prior, student_t, steps: int = 4):
    """The most probable log noise level given the raw residuals ``model - log y``
    (Newton's method in one dimension)."""
    ms = jnp.sum(weight * residual**2) / jnp.sum(weight)
    # Noise below ~1e-9 in log y is float64 rounding of the data, not information;
    # the floor keeps noiseless curves from driving the noise level to zero forever.
    start = 0.5 * jnp.log(ms + NOISE_FLOOR**2)

    def newton(_, ln):
        slope, curv = _noise_derivatives(ln, residual, weight, prior, student_t)
        step = jnp.where(curv > 0, -slope / curv, -jnp.sign(slope))
        return jnp.maximum(ln + jnp.clip(step, -2.0, 2.0), jnp.log(NOISE_FLOOR))

    return jax.lax.fori_loop(0, steps, newton, start)


def noise_curvature(log_noise, residual, weight, prior, student_t):
    """Second derivative of ``-log p(y, theta)`` in the log noise level, given the raw residuals."""
    return _noise_derivatives(log_noise, residual, weight, prior, student_t)[1]


def _free(n_breaks):
    # The noise level is profiled, not stepped.
    return theta_mask(n_breaks) * (jnp.arange(N_THETA) != LOG_NOISE)


def spd_solve(matrix, rhs):
    """Solve with a symmetric positive definite matrix (Cholesky: cheaper to compile than LU)."""
    return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(matrix, lower=True), rhs)


class Solution(NamedTuple):
    iterations: jax.Array
    theta: jax.Array
    objective: jax.Array
    converged: jax.Array
    curvature: jax.Array  # Gauss-Newton matrix of -log p(y, theta) at theta
    residual: jax.Array   # model - log y at theta, per (padded) point


def levenberg_marquardt(theta0, s, log_y, weight, n_breaks, prior, student_t,
                        iterations: int, tolerance: float = 1e-6) -> Solution:
    """Find a posterior mode from one start.

    The Gauss-Newton matrix of the last accepted point comes back as the
    curvature for Laplace's approximation, so no Hessian is ever compiled:
    exact where the residuals vanish, a good proposal shape elsewhere. The
    noise level gets its exact profile curvature and no cross terms (they
    vanish at the mode of a Gaussian likelihood).
    """
    if isinstance(n_breaks, int):
        # A static n (fit_many's chunks share one): the normal equations only in
        # the entries that move, and only the active breaks evaluated.
        moving = active_columns(n_breaks)
        jacobian = lambda th: active_jacobian(th, s, n_breaks)
        free = jnp.ones(len(moving), theta0.dtype)
        embed = lambda step: jnp.zeros_like(theta0).at[moving].set(step)
        pick = lambda v: v[moving]
    else:
        moving = None
        jacobian = lambda th: model_log_y_and_jacobian(th, s, n_breaks)
        free = _free(n_breaks)
        embed = pick = lambda v: v

    def evaluate(point):
        """``point`` with its noise level profiled; ``-log p(y, theta)`` there (up to
        constants), the Gauss-Newton normal equations and the raw residuals.

        One evaluation of the law and its Jacobian serves all of them. Profiling
        the noise level out leaves a sum of squares in the other parameters,
        yet converges to the joint mode.
        """
        log_y_hat, jac = jacobian(point)
        raw = log_y_hat - log_y
        th = point.at[LOG_NOISE].set(_profiled_log_noise(raw, weight, prior, student_t))
        r_data, row_scale = standardised_data_residuals(raw, th[LOG_NOISE], weight, student_t)
        r_prior, j_prior = prior_residuals_and_jacobian(th, n_breaks, prior)
        value = (0.5 * (jnp.sum(r_data**2) + jnp.sum(r_prior**2))
                 + jnp.sum(weight) * th[LOG_NOISE])
        value = jnp.where(jnp.isfinite(value), value, jnp.inf)
        j_data = jac * (row_scale[:, None] * free)
        j_prior = pick(j_prior) * free
        gram = j_data.T @ j_data + jnp.diag(j_prior**2)
        return th, value, gram, j_data.T @ r_data + j_prior * pick(r_prior), raw

    def body(state):
        i, th, c, lam, stall, gram, grad, raw, mark, settled = state
        damp = lam * (jnp.diag(gram) + 1e-9) + (1.0 - free)  # frozen entries: identity
        step = -spd_solve(gram + jnp.diag(damp), grad) * free
        trial, c_trial, gram_trial, grad_trial, raw_trial = evaluate(th + embed(step))
        better = c_trial < c
        # The objective is in nats of log density: 1e-6 is far below anything that
        # matters. Rejected steps only raise the damping; they are not a stall.
        stall = jnp.where(better, jnp.where(c - c_trial > tolerance, 0, stall + 1), stall)
        # A rejected step leaves theta, and so its normal equations, as they were.
        keep = lambda new, old: jnp.where(better, new, old)
        c_new = keep(c_trial, c)
        # A start still creeping along a flat valley at the iteration limit has
        # settled if its last WINDOW iterations gained less than SETTLED nats: what
        # it could still gain is far below what the evidence resolves.
        window_end = (i % WINDOW) == 0
        settled = jnp.where(window_end, mark - c_new < SETTLED, settled)
        mark = jnp.where(window_end, c_new, mark)
        return (i + 1, keep(trial, th), c_new,
                jnp.clip(jnp.where(better, lam / 3.0, lam * 4.0), 1e-12, 1e12), stall,
                keep(gram_trial, gram), keep(grad_trial, grad), keep(raw_trial, raw), mark, settled)

    def keep_going(state):
        i, _, _, lam, stall, *_ = state
        return (i <= iterations) & (stall < 2) & (lam < 1e10)

    # The start is evaluated by the loop's own first pass (a zero step from a
    # zero gradient, accepted against an infinite cost), so the law and its
    # Jacobian appear once in the compiled program, not twice.
    size = len(free)
    inf = jnp.asarray(jnp.inf, theta0.dtype)
    init = (0, theta0, inf, jnp.asarray(3e-2, theta0.dtype), 0, jnp.eye(size, dtype=theta0.dtype),
            jnp.zeros(size, theta0.dtype), jnp.zeros_like(log_y), inf, False)
    i, theta, c, lam, stall, gram, _, raw, _, settled = jax.lax.while_loop(keep_going, body, init)
    if moving is not None:
        gram = jnp.zeros((N_THETA, N_THETA), gram.dtype).at[moving[:, None], moving].set(gram)
    curv = gram.at[LOG_NOISE, LOG_NOISE].set(noise_curvature(theta[LOG_NOISE], raw, weight, prior, student_t))
    return Solution(jnp.maximum(i - 1, 0), theta, c, (stall >= 2) | (lam >= 1e10) | settled, curv, raw)


def _distinct_best(thetas, costs, mask, k: int, tolerance: float):
    """Indices of the ``k`` lowest-cost optima that differ from every better one."""
    costs = jnp.where(jnp.isfinite(costs), costs, jnp.inf)
    order = jnp.argsort(costs)
    thetas, costs = thetas[order], costs[order]

    def choose(carry, _):
        taken, chosen_theta = carry
        far = jnp.all(jnp.max(jnp.abs((thetas[:, None, :] - chosen_theta[None]) * mask), axis=2)
                      > tolerance, axis=1)
        ok = far & ~taken & jnp.isfinite(costs)
        idx = jnp.argmax(ok)  # first, i.e. best, eligible
        found = ok[idx]
        chosen_theta = jnp.where(found, jnp.roll(chosen_theta, 1, axis=0).at[0].set(thetas[idx]),
                                 chosen_theta)
        return (taken.at[idx].set(True), chosen_theta), (order[idx], found)

    far_away = jnp.full((k, thetas.shape[1]), 1e30)  # finite: inf * 0 on masked entries is NaN
    _, (picked, found) = jax.lax.scan(choose, (jnp.zeros(len(costs), bool), far_away), None, length=k)
    return picked, found


class SolverSettings(NamedTuple):
    """Static settings of the multistart solve (hashable: part of the compiled program)."""

    n_starts: int = 48
    lm_iterations: int = 100
    tolerance: float = 1e-6
    n_modes: int = 4
    student_t: bool = False


def solve_starts(noise: StartNoise, s, log_y, weight, n_breaks, prior: PriorArrays,
                 settings: SolverSettings) -> Solution:
    """Levenberg-Marquardt from every start at once (a leading axis of starts)."""
    starts = make_starts(noise, s, log_y, weight, n_breaks)
    solve = lambda th: levenberg_marquardt(th, s, log_y, weight, n_breaks, prior,
                                           settings.student_t, settings.lm_iterations,
                                           settings.tolerance)
    return jax.vmap(solve)(starts)


def best_optima(sol: Solution, weight, n_breaks, prior: PriorArrays, settings: SolverSettings) -> Optima:
    """The best distinct optima among the starts' solutions, best first."""
    picked, found = _distinct_best(sol.theta, sol.objective, theta_mask(n_breaks), settings.n_modes, 1e-3)
    log_post = lambda th, raw: log_joint_of_residuals(th, raw, weight, n_breaks, prior, settings.student_t)
    value = jnp.where(found, jax.vmap(log_post)(sol.theta[picked], sol.residual[picked]), -jnp.inf)
    return Optima(sol.theta[picked], value, found & jnp.isfinite(value), sol.converged[picked],
                  sol.curvature[picked], sol.residual[picked])
