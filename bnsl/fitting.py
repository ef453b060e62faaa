"""``bnsl.fit``: fit a broken neural scaling law and choose its number of breaks."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from bnsl._jax import float64
from bnsl._program import Outcome, Settings, bucket_size, draw_noise, fit_program
from bnsl.evidence import missed_posterior, smoothed_weights
from bnsl.posterior import Scale, noise_sd, prior_arrays, to_params
from bnsl.priors import Priors, check_priors
from bnsl.result import KHAT_RELIABLE, Candidate, Fit, Mode
from bnsl.solver import SolverSettings
from bnsl.validation import check_curve, check_n_breaks, n_parameters

__all__ = ["fit"]

DEFAULT_MAX_BREAKS = 3


def prepare_curve(x: np.ndarray, y: np.ndarray, priors: Priors, size: int):
    """Normalise and pad one validated curve to ``size`` points for the compiled program."""
    scale = Scale.of(x, y)
    pad = size - len(x)
    # Padding points sit inside the data with weight 0: they change nothing.
    s = np.pad(scale.s(x), (0, pad), constant_values=0.5)
    log_y = np.pad(np.log(y) - scale.log_y_ref, (0, pad))
    weight = np.pad(np.ones(len(x)), (0, pad))
    return scale, s, log_y, weight, prior_arrays(priors, x, y, scale)


def build_settings(n_starts: int, max_iterations: int, n_draws: int, likelihood: str) -> Settings:
    for name, value, low in (("n_starts", n_starts, 4), ("max_iterations", max_iterations, 5),
                             ("n_draws", n_draws, 100)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}.")
    if likelihood not in ("gaussian", "student-t"):
        raise ValueError(f"likelihood: must be 'gaussian' or 'student-t', got {likelihood!r}.")
    solver = SolverSettings(n_starts=int(n_starts), lm_iterations=int(max_iterations),
                            student_t=likelihood == "student-t")
    return Settings(solver=solver, n_draws=int(n_draws))


# Candidates this improbable carry no posterior draws: they cannot move an
# average or a band, and dropping them bounds memory for thousands of curves.
KEEP_DRAWS_ABOVE = 1e-6


def candidate_from(outcome: Outcome, n: int, n_points: int, scale: Scale, student_t: bool) -> Candidate:
    """Host-side summary of one compiled run (one curve, one number of breaks)."""
    opt, ev, mode_rmsle = outcome
    valid = np.flatnonzero(np.asarray(opt.valid))
    if valid.size == 0:
        raise FloatingPointError(f"no finite optimum for n_breaks={n}")
    thetas = np.asarray(opt.theta)
    modes = tuple(Mode(to_params(thetas[k], n, scale), float(opt.log_joint[k]),
                       float(ev.mode_log_z[k]), float(mode_rmsle[k]), bool(opt.converged[k]))
                  for k in valid)
    weights, khat = smoothed_weights(np.asarray(ev.log_weights))
    log_evidence = float(ev.log_z)
    if missed_posterior(float(opt.log_joint[valid[0]]), np.asarray(ev.draw_log_joint), n_parameters(n)):
        # Importance sampling never reached the posterior: Laplace is the better
        # estimate, and the infinite k-hat marks it as unreliable in the status.
        log_evidence, khat = float(ev.log_z_laplace), math.inf
    rmsle = modes[0].rmsle
    sigma_ml = max(rmsle, 1e-300)
    log_lik = -0.5 * n_points * (math.log(2 * math.pi * sigma_ml**2) + 1.0)
    return Candidate(
        n_breaks=n, params=modes[0].params, noise=noise_sd(thetas[valid[0]]), rmsle=rmsle,
        log_evidence=log_evidence, log_evidence_laplace=float(ev.log_z_laplace), khat=khat,
        modes=modes, converged=modes[0].converged, log_likelihood=log_lik,
        n_points=n_points, scale=scale, student_t=student_t, theta=thetas[valid[0]],
        curvature=np.asarray(opt.curvature[valid[0]]),
        # float32: Monte Carlo draws carry far less precision, and it halves the
        # memory that thousands of fits hold.
        draws=np.asarray(ev.draws, dtype=np.float32), weights=weights,
    )


def fit_candidates(x: np.ndarray, y: np.ndarray, ns, *, priors: Priors, settings: Settings, seed: int,
                   stream: tuple[int, ...] = (), size: int | None = None) -> dict[int, Candidate]:
    """One :class:`Candidate` per number of breaks in ``ns`` for a validated, sorted curve.

    The random numbers depend on ``seed``, each n and ``stream`` (which keeps a
    refit's numbers apart from the fit's). ``size`` pads the curve to a given
    bucket (default: its own), so that a refit of part of a curve reuses the
    whole curve's compiled program.
    """
    size = bucket_size(len(x)) if size is None else size
    scale, s, log_y, weight, prior = prepare_curve(x, y, priors, size)
    program = fit_program(settings, size)
    candidates = {}
    with float64():
        args = [jnp.asarray(v) for v in (s, log_y, weight)]
        prior = type(prior)(*(jnp.asarray(v) for v in prior))
        for n in ns:
            outcome = program(draw_noise(seed, n, settings, stream), *args, n, prior)
            candidates[n] = candidate_from(jax.device_get(outcome), n, len(x), scale,
                                           settings.solver.student_t)
    return candidates


def choose(candidates: dict[int, Candidate], n_prior: dict[int, float] | None):
    """Posterior probabilities of each number of breaks, and the most probable one."""
    ns = sorted(candidates)
    if n_prior is None:
        log_prior = np.zeros(len(ns))
    else:
        missing = [n for n in ns if n_prior.get(n, 0) <= 0]
        if missing:
            raise ValueError(f"n_prior: needs a positive probability for every n tried; "
                             f"missing or non-positive for {missing}.")
        log_prior = np.log([n_prior[n] for n in ns])
    log_z = np.array([candidates[n].log_evidence for n in ns])
    log_post = np.where(np.isfinite(log_z), log_z + log_prior, -np.inf)
    if not np.isfinite(log_post).any():
        # Every evidence failed: fall back on the Laplace estimates rather than on nothing.
        log_post = np.array([candidates[n].log_evidence_laplace for n in ns]) + log_prior
    probs = np.exp(log_post - np.max(log_post))
    probs = probs / probs.sum()
    return {n: float(p) for n, p in zip(ns, probs)}, ns[int(np.argmax(probs))]


def status_of(candidates: dict[int, Candidate], chosen: int) -> tuple[str, str]:
    """The fit's status and a message that says what to do next."""
    cand = candidates[chosen]
    if not cand.converged:
        return "not_converged", (
            f"The solver stopped at its iteration limit for n_breaks={chosen} before reaching its "
            "tolerance; the fit may still be improving. Pass max_iterations=400 or n_starts=128, "
            "or a different seed, and compare.")
    # An unreliable rival matters only if its optimistic (Laplace) estimate could
    # overturn the choice; a spare break's funnel-shaped posterior often has a
    # high k-hat without being a contender.
    doubtful = [n for n, c in candidates.items() if not c.khat <= KHAT_RELIABLE
                and (n == chosen or max(c.log_evidence, c.log_evidence_laplace) > cand.log_evidence)]
    if doubtful:
        return "unreliable_evidence", (
            f"Pareto k-hat above {KHAT_RELIABLE} for n_breaks={doubtful}: the importance-sampling "
            "evidence there is unreliable and could change the choice. Pass n_draws=8192 and a "
            "few seeds and compare, or fix n_breaks and compare BIC.")
    return "success", "Converged; the evidence that decides the choice is reliable (Pareto k-hat <= 0.7)."


def assemble(x, y, candidates: dict[int, Candidate], *, n_prior, seed: int, priors: Priors,
             settings: Settings, x_name: str, y_name: str) -> Fit:
    """Choose among the candidates and build the :class:`Fit`."""
    probabilities, chosen = choose(candidates, n_prior)
    # Negligible candidates keep their summaries but drop their draws (copies of the
    # empty slices: a view would keep the whole array alive).
    candidates = {n: c if probabilities[n] > KEEP_DRAWS_ABOVE or n == chosen else
                  dataclasses.replace(c, draws=c.draws[:0].copy(), weights=c.weights[:0].copy())
                  for n, c in candidates.items()}
    status, message = status_of(candidates, chosen)
    return Fit(x=x, y=y, candidates=candidates, n_breaks=chosen, probabilities=probabilities,
               status=status, message=message, seed=seed, x_name=x_name, y_name=y_name,
               priors=priors, settings=settings)


def check_seed(seed) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed: must be an integer, got {seed!r}.")
    return int(seed)


def fit(x, y, *, n_breaks: int | Literal["auto"] = "auto", max_breaks: int = DEFAULT_MAX_BREAKS,
        seed: int = 0, priors: Priors | None = None, n_prior: dict[int, float] | None = None,
        likelihood: Literal["gaussian", "student-t"] = "gaussian", n_starts: int = 48,
        max_iterations: int = 100, n_draws: int = 1024, x_name: str = "x",
        y_name: str = "y") -> Fit:
    """Fit a broken neural scaling law to one curve.

    ``y = a + b x^-c0 prod_i (1 + (x/d_i)^(1/f_i))^(-c_i f_i)`` is fitted to
    ``log y`` from many starts at once; with ``n_breaks="auto"`` every law with
    0 to ``max_breaks`` breaks is fitted and the one with the largest posterior
    probability (marginal likelihood times ``n_prior``) is chosen.

    Args:
        x: positive, finite values (model size, data size, compute, steps...).
            Unsorted input is sorted; repeated x values are allowed (repeated
            measurements, e.g. seeds) and count as separate points.
        y: positive, finite values (loss, error rate...), one per x.
        n_breaks: ``"auto"``, or a fixed number of breaks from 0 to 4.
        max_breaks: the largest number of breaks ``"auto"`` considers (0 to 4).
            Laws with more parameters than points are skipped.
        seed: seeds the random starts and the importance sampling; the same
            seed gives the same fit.
        priors: a :class:`bnsl.Priors`; the defaults are scaled to the data.
        n_prior: prior probability of each number of breaks (default uniform).
        likelihood: ``"gaussian"`` noise on log y, or ``"student-t"`` (4 degrees
            of freedom) to be robust to outlying points.
        n_starts, max_iterations: the multistart solver's effort.
        n_draws: importance-sampling draws per number of breaks.
        x_name, y_name: names of x and y for reports and plots.

    Returns:
        A :class:`bnsl.Fit`.

    Raises:
        ValueError: on invalid input, naming the argument and the fix.

    Example:
        >>> import numpy as np, bnsl
        >>> x = np.logspace(1, 5, 30)
        >>> y = 0.1 + 5 * x**-0.4
        >>> f = bnsl.fit(x, y, n_breaks=0)
        >>> bool(f.rmsle < 1e-3)
        True
    """
    x, y = check_curve(x, y)
    ns = check_n_breaks(n_breaks, max_breaks, len(x))
    priors = check_priors(Priors() if priors is None else priors)
    seed = check_seed(seed)
    settings = build_settings(n_starts, max_iterations, n_draws, likelihood)
    candidates = fit_candidates(x, y, ns, priors=priors, settings=settings, seed=seed)
    return assemble(x, y, candidates, n_prior=n_prior, seed=seed, priors=priors,
                    settings=settings, x_name=x_name, y_name=y_name)
