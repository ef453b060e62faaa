"""Fit results: one :class:`Candidate` per number of breaks, gathered in a :class:`Fit`.

Predictions of new observations beyond the data (observation bands, predictive
densities) include a misspecification term, a random error of the law's
log-log slope learned per curve by leave-future-out: see :mod:`bnsl.extrapolation`.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist
from functools import cached_property, partial
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from bnsl._jax import float64
from bnsl._program import Settings, bucket_size
from bnsl.extrapolation import Drift, learn_drift, log_density
from bnsl.law import BNSLParams
from bnsl.posterior import (LOG_NOISE, STUDENT_T_LIKELIHOOD_DOF, Scale, log_likelihood_terms,
                            model_log_y, model_log_y_and_jacobian, theta_mask, to_params)
from bnsl.priors import Priors
from bnsl.validation import as_positive_vector, n_parameters

KHAT_RELIABLE = 0.7
Status = Literal["success", "not_converged", "unreliable_evidence"]
_PARAM_NAMES = ("a", "b", "c0", "c", "d", "f")


@dataclasses.dataclass(frozen=True)
class Mode:
    """One distinct optimum of the posterior for a given number of breaks."""

    params: BNSLParams
    log_posterior: float
    log_evidence_laplace: float
    rmsle: float
    converged: bool


@dataclasses.dataclass(frozen=True, repr=False)
class Candidate:
    """The fit of a law with a given number of breaks, and its evidence.

    Attributes:
        n_breaks: the number of breaks.
        params: the posterior mode (MAP) in real units.
        noise: standard deviation of the noise on natural-log y at the mode.
        rmsle: root mean squared error of log y on the fit points, at the mode.
        log_evidence: ``log p(log y | n)`` by importance sampling, in nats.
        log_evidence_laplace: the Laplace-mixture estimate the sampling corrected.
        khat: Pareto k-hat of the importance weights; above 0.7 the evidence and
            the posterior draws are unreliable.
        modes: the distinct optima found, best first.
        converged: whether the solver stopped on its tolerance at the best mode.
        log_likelihood: Gaussian log likelihood of log y at the mode (for AIC, BIC).
        theta, curvature, draws, weights: the mode, the Gauss-Newton curvature of
            ``-log p`` there, the posterior draws (float32) and their
            (Pareto-smoothed, normalised) importance weights, all in the
            solver's units.
    """

    n_breaks: int
    params: BNSLParams
    noise: float
    rmsle: float
    log_evidence: float
    log_evidence_laplace: float
    khat: float
    modes: tuple[Mode, ...]
    converged: bool
    log_likelihood: float
    n_points: int
    scale: Scale
    student_t: bool
    theta: np.ndarray
    curvature: np.ndarray
    draws: np.ndarray
    weights: np.ndarray

    @property
    def n_parameters(self) -> int:
        """Free parameters, noise level included."""
        return n_parameters(self.n_breaks)

    @property
    def aic(self) -> float:
        """Akaike's information criterion (lower is better)."""
        return 2 * self.n_parameters - 2 * self.log_likelihood

    @property
    def bic(self) -> float:
        """Schwarz's Bayesian information criterion (lower is better)."""
        return self.n_parameters * math.log(self.n_points) - 2 * self.log_likelihood

    def log_predict(self, x) -> np.ndarray:
        """``log y`` of the law at the mode."""
        return log_curves(self.theta[None], self.n_breaks, self.scale, x)[0]

    def predict(self, x) -> np.ndarray:
        """The law at the mode."""
        return np.exp(self.log_predict(x))

    def delta_interval(self, x, level: float = 0.9, *, kind: str = "curve"):
        """A band from the covariance at the mode (delta method), as lmfit reports.

        Kept as a baseline for the benchmarks: it ignores every other mode and
        the posterior's skew, and is usually too narrow far from the data.
        """
        check_band_options(level, kind)
        x = as_positive_vector(x, "x", allow_scalar=True)
        mask = theta_mask_np(self.n_breaks)
        h = self.curvature * np.outer(mask, mask) + np.diag(1.0 - mask)
        cov = np.linalg.pinv(h) * np.outer(mask, mask)
        with float64():
            log_y, jac = model_log_y_and_jacobian(jnp.asarray(self.theta), jnp.asarray(self.scale.s(x)),
                                                  self.n_breaks)
        log_y, jac = np.asarray(log_y) + self.scale.log_y_ref, np.asarray(jac)
        var = np.einsum("ip,pq,iq->i", jac, cov, jac)
        if kind == "observation":
            var = var + self.noise**2
        half = NormalDist().inv_cdf(0.5 + level / 2) * np.sqrt(np.maximum(var, 0.0))
        return np.exp(log_y - half), np.exp(log_y + half)

    def pointwise_log_likelihood(self, x, y) -> np.ndarray:
        """``log p(log y_j | theta)`` for every posterior draw and point: ``(draws, points)``."""
        x = as_positive_vector(x, "x")
        y = as_positive_vector(y, "y")
        with float64():
            s = jnp.asarray(self.scale.s(x))
            log_y = jnp.asarray(np.log(y) - self.scale.log_y_ref)
            out = _pointwise(jnp.asarray(self.draws, jnp.float64), s, log_y, self.n_breaks, self.student_t)
        return np.asarray(out)

    def param_draws(self) -> dict[str, np.ndarray]:
        """Each parameter at every posterior draw, in real units (weights: :attr:`weights`)."""
        per_draw = [to_params(th, self.n_breaks, self.scale) for th in self.draws]
        return {name: np.array([getattr(p, name) for p in per_draw]) for name in _PARAM_NAMES} | {
            "sigma": np.exp(self.draws[:, LOG_NOISE].astype(np.float64))}

    def param_sd(self) -> dict[str, np.ndarray]:
        """Posterior standard deviation of each parameter (importance-weighted)."""
        out = {}
        for name, values in self.param_draws().items():
            mean = np.tensordot(self.weights, values, axes=1)
            out[name] = np.sqrt(np.tensordot(self.weights, (values - mean) ** 2, axes=1))
        return out

    def __repr__(self) -> str:
        return (f"Candidate(n_breaks={self.n_breaks}, log_evidence={self.log_evidence:.3f}, "
                f"rmsle={self.rmsle:.4g}, khat={self.khat:.2f})")


def check_band_options(level: float, kind: str) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level: must be between 0 and 1 (e.g. 0.9), got {level!r}.")
    if kind not in ("curve", "observation"):
        raise ValueError(f"kind: must be 'curve' or 'observation', got {kind!r}.")


def theta_mask_np(n_breaks: int) -> np.ndarray:
    return np.asarray(theta_mask(n_breaks), dtype=np.float64)


@partial(jax.jit, static_argnames="student_t")
def _pointwise(thetas, s, log_y, n_breaks, student_t):
    return jax.vmap(lambda th: log_likelihood_terms(th, s, log_y, n_breaks, student_t))(thetas)


@jax.jit
def _curves(thetas, s, n_breaks):
    return jax.vmap(lambda th: model_log_y(th, s, n_breaks))(thetas)


def log_curves(thetas: np.ndarray, n_breaks: int, scale: Scale, x) -> np.ndarray:
    """``log y`` at ``x`` for each row of ``thetas``: shape ``(len(thetas), len(x))``."""
    x = as_positive_vector(x, "x", allow_scalar=True)
    s = scale.s(x)
    # Pad to a bucket size so that every length of x reuses a few compilations.
    padded = np.pad(s, (0, bucket_size(len(s)) - len(s)))
    with float64():
        out = _curves(jnp.asarray(thetas, jnp.float64), jnp.asarray(padded), n_breaks)
    return np.asarray(out)[:, : len(s)] + scale.log_y_ref


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs) -> np.ndarray:
    """Quantiles ``qs`` of each column of ``values`` (draws x points) under ``weights``."""
    order = np.argsort(values, axis=0)
    sorted_vals = np.take_along_axis(values, order, axis=0)
    w = weights[order]
    cum = (np.cumsum(w, axis=0) - 0.5 * w) / np.sum(weights)  # midpoints: exact for equal weights
    return np.stack([np.interp(qs, cum[:, j], sorted_vals[:, j]) for j in range(values.shape[1])],
                    axis=1)


@dataclasses.dataclass(frozen=True, repr=False)
class Fit:
    """The result of :func:`bnsl.fit`: the chosen law, every candidate, and the evidence.

    Attributes:
        x, y: the data as fitted (sorted by x).
        candidates: one :class:`Candidate` per number of breaks tried.
        n_breaks: the number of breaks chosen (largest posterior probability).
        probabilities: posterior probability of each number of breaks.
        status: ``"success"``, ``"not_converged"`` or ``"unreliable_evidence"``.
        message: what the status means and what to do about it.
        seed: the seed the fit used; the same seed gives the same result.
        priors, settings: the priors and solver settings the fit used (the
            leave-future-out refits behind :attr:`drift` reuse them).
    """

    x: np.ndarray
    y: np.ndarray
    candidates: dict[int, Candidate]
    n_breaks: int
    probabilities: dict[int, float]
    status: Status
    message: str
    seed: int
    x_name: str = "x"
    y_name: str = "y"
    priors: Priors | None = None
    settings: Settings | None = None

    @property
    def best(self) -> Candidate:
        """The chosen candidate."""
        return self.candidates[self.n_breaks]

    @property
    def params(self) -> BNSLParams:
        """Parameters of the chosen law at its posterior mode."""
        return self.best.params

    @property
    def rmsle(self) -> float:
        """RMSLE of the chosen law on the fit points."""
        return self.best.rmsle

    @property
    def converged(self) -> bool:
        """Whether the solver converged for the chosen law."""
        return self.best.converged

    @property
    def log_evidence(self) -> dict[int, float]:
        """``log p(log y | n)`` for each number of breaks tried, in nats."""
        return {n: c.log_evidence for n, c in self.candidates.items()}

    @property
    def khat(self) -> float:
        """Pareto k-hat of the chosen law's importance weights."""
        return self.best.khat

    @property
    def aic(self) -> float:
        return self.best.aic

    @property
    def bic(self) -> float:
        return self.best.bic

    def predict(self, x, *, average: bool = False) -> np.ndarray:
        """The fitted law at ``x``.

        Args:
            x: positive values.
            average: if True, average the candidates' posterior-mean curves of
                log y, weighted by their posterior probabilities (Bayesian model
                averaging); otherwise the chosen law at its mode.
        """
        if not average:
            return self.best.predict(x)
        total = 0.0
        for n, cand, share in self._pool(average=True):
            total = total + share * (cand.weights @ log_curves(cand.draws, n, cand.scale, x))
        return np.exp(total)

    def _pool(self, average: bool):
        """``(n, candidate, share)`` for the candidates a posterior summary pools.

        Shares are posterior probabilities renormalised over the candidates that
        kept their draws (the others are negligible, see ``KEEP_DRAWS_ABOVE``).
        """
        chosen = self.candidates if average else {self.n_breaks: self.best}
        kept = {n: c for n, c in chosen.items() if len(c.weights)}
        mass = sum(self.probabilities[n] for n in kept) if average else 1.0
        for n, cand in kept.items():
            yield n, cand, (self.probabilities[n] / mass if average else 1.0)

    @cached_property
    def drift(self) -> Drift:
        """The misspecification term beyond the data, learned for this curve.

        ``drift.tau_median`` is the posterior median of ``tau``, the standard
        deviation of the error of the law's log-log slope beyond the data: a new
        observation's ``log y`` gets an extra spread ``tau * h(x)``, ``h`` the
        distance in ``ln x`` beyond the data. Learned by leave-future-out refits
        (see :mod:`bnsl.extrapolation`) on first use, then cached.
        """
        return learn_drift(self)

    @property
    def tau(self) -> float:
        """Posterior median of the slope-error scale ``tau`` (see :attr:`drift`)."""
        return self.drift.tau_median

    def _pooled_draws(self, x, average: bool, kind: str, rng: np.random.Generator,
                      drift: bool = True):
        """Log-y draws at x over candidates, with their weights.

        For ``kind="observation"`` each draw gets the noise and, beyond the data,
        the drift (drawn after the noise, so that inside the data the draws are
        the plain posterior predictive's, number for number).
        """
        values, weights = [], []
        for n, cand, share in self._pool(average):
            curves = log_curves(cand.draws, n, cand.scale, x)
            if kind == "observation":
                sigma = np.exp(cand.draws[:, LOG_NOISE])[:, None]
                noise = (rng.standard_t(STUDENT_T_LIKELIHOOD_DOF, curves.shape) if cand.student_t
                         else rng.standard_normal(curves.shape))
                curves = curves + sigma * noise
            values.append(curves)
            weights.append(cand.weights * share)
        values = np.concatenate(values)
        if kind == "observation" and drift and self._beyond(x):
            values = values + self.drift.draws(x, len(values), rng)
        return values, np.concatenate(weights)

    def _beyond(self, x) -> bool:
        """Whether any of ``x`` lies outside the data's range (where the drift acts)."""
        x = np.asarray(x, dtype=np.float64)
        return bool(np.any((x > self.x.max()) | (x < self.x.min())))

    def log_predictive_density(self, x, y, *, average: bool = True, drift: bool = True) -> np.ndarray:
        """Posterior predictive density of each observed ``log y`` at ``x``, in nats.

        The proper score of a band: higher is better; averaged over held-out
        points it compares extrapolations fairly, width and calibration at once.

        Args:
            x, y: the new points (positive; one y per x).
            average: pool every candidate by its posterior probability.
            drift: include the misspecification term beyond the data (:attr:`drift`);
                False gives the plain posterior predictive.
        """
        x = as_positive_vector(x, "x", allow_scalar=True)
        y = as_positive_vector(y, "y", allow_scalar=True)
        if x.shape != y.shape:
            raise ValueError(f"x and y: lengths differ ({x.size} and {y.size}); pass one y per x.")
        drift_sd = self.drift.node_sd(x) if drift and self._beyond(x) else None
        terms = []
        for n, cand, share in self._pool(average):
            sigma = np.exp(cand.draws[:, LOG_NOISE])[:, None]
            resid = np.log(y) - log_curves(cand.draws, n, cand.scale, x)
            dens = log_density(resid, sigma, drift_sd, cand.student_t)
            with np.errstate(divide="ignore"):
                terms.append(np.log(share * cand.weights)[:, None] + dens)
        from scipy.special import logsumexp  # deferred: scipy.special is slow to import

        return logsumexp(np.concatenate(terms), axis=0)

    def interval(self, x, level: float = 0.9, *, kind: str = "curve", average: bool = True,
                 seed: int | None = None, drift: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """A central credible band at ``x``: ``(lower, upper)``.

        Args:
            x: positive values, inside or beyond the data.
            level: the band's probability, in (0, 1).
            kind: ``"curve"`` for the law itself (the posterior band: where the
                law is if the law is right), ``"observation"`` for a new
                observation (adds the noise and, beyond the data, the drift).
            average: pool every candidate by its posterior probability.
            seed: for the noise draws of ``kind="observation"``; defaults to the fit's.
            drift: for ``kind="observation"``, include the misspecification term
                beyond the data (:attr:`drift`); False gives the plain posterior
                predictive band. Inside the data it changes nothing.
        """
        check_band_options(level, kind)
        x = as_positive_vector(x, "x", allow_scalar=True)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        values, weights = self._pooled_draws(x, average, kind, rng, drift)
        lo, hi = weighted_quantiles(values, weights, [(1 - level) / 2, (1 + level) / 2])
        return np.exp(lo), np.exp(hi)

    def sample(self, k: int, *, seed: int | None = None) -> dict[int, np.ndarray]:
        """``k`` posterior draws of the chosen law's parameters (importance-resampled).

        Returns a dict of arrays with a leading axis of length ``k``: ``a``, ``b``,
        ``c0``, ``c``, ``d``, ``f`` and ``sigma`` (noise of natural-log y).
        """
        idx = self._resample(k, seed)
        return {name: values[idx] for name, values in self.best.param_draws().items()}

    def delta_interval(self, x, level: float = 0.9, *, kind: str = "curve"):
        """The chosen law's delta-method band (lmfit's); see :meth:`Candidate.delta_interval`."""
        return self.best.delta_interval(x, level, kind=kind)

    def _resample(self, k: int, seed: int | None) -> np.ndarray:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k: must be a positive integer, got {k!r}.")
        rng = np.random.default_rng(self.seed if seed is None else seed)
        w = self.best.weights
        return rng.choice(len(w), size=k, p=w / w.sum())

    def to_arviz(self, k: int = 1000, *, seed: int | None = None):
        """The chosen law's posterior as an ``arviz.InferenceData``.

        ``k`` importance-resampled draws (one chain) of every parameter, the
        pointwise log likelihood of each observed ``log y`` (so ``az.loo`` and
        ``az.waic`` work), and the observed data. Built with ``arviz.from_dict``,
        which arviz 0.x (what pip installs for Python 3.11) provides.
        """
        import arviz as az  # deferred: slow to import, needed only here

        cand = self.best
        idx = self._resample(k, seed)
        draws = {name: v[idx][None] for name, v in cand.param_draws().items()}
        loglik = cand.pointwise_log_likelihood(self.x, self.y)[idx][None]
        dims = {name: ["break"] for name in ("c", "d", "f")} | {"log_y": ["point"]}
        return az.from_dict(
            posterior=draws,
            log_likelihood={"log_y": loglik},
            observed_data={"log_y": np.log(self.y)},
            constant_data={"x": self.x},
            coords={"break": np.arange(1, cand.n_breaks + 1), "point": np.arange(len(self.x))},
            dims=dims | {"x": ["point"]},
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain Python data (JSON-serialisable) with everything a report needs."""
        def params_dict(p: BNSLParams) -> dict[str, Any]:
            return {name: np.asarray(getattr(p, name)).tolist() for name in _PARAM_NAMES}

        drift = self.drift
        return {
            "n_breaks": self.n_breaks,
            "params": params_dict(self.params),
            "rmsle": self.rmsle,
            "converged": self.converged,
            "status": self.status,
            "message": self.message,
            "seed": self.seed,
            "n_points": int(len(self.x)),
            "probabilities": {str(n): p for n, p in self.probabilities.items()},
            "drift": {"tau_median": drift.tau_median, "tau_interval": list(drift.tau_interval),
                      "holdouts": len(drift.holdouts)},
            "candidates": {
                str(n): {
                    "params": params_dict(c.params),
                    "noise": c.noise, "rmsle": c.rmsle, "log_evidence": c.log_evidence,
                    "log_evidence_laplace": c.log_evidence_laplace, "khat": c.khat,
                    "aic": c.aic, "bic": c.bic, "converged": c.converged, "n_modes": len(c.modes),
                }
                for n, c in self.candidates.items()
            },
        }

    def __repr__(self) -> str:
        return (f"Fit(n_breaks={self.n_breaks}, rmsle={self.rmsle:.4g}, status={self.status!r}, "
                f"n_points={len(self.x)})")

    def __str__(self) -> str:
        from bnsl.report import format_fit  # the report's layout is its own concern

        return format_fit(self)
