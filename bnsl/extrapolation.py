"""Misspecification beyond the data: a random error of the law's log-log slope.

Why. The posterior of a law's parameters says how tightly the data pin the law
down *if the law is right*. Beyond the data that is not the main uncertainty:
real curves bend in ways a law with the chosen number of breaks does not
foresee (a new break, a floor, a change of regime), and the plain posterior
predictive is overconfident there. On the "Revisiting neural scaling laws"
benchmark its 90% band covered 51% of the extrapolated points.

The model. A new observation of ``log y`` at ``x`` is

    log y = law(x; theta) + noise + kappa * h(x),        kappa ~ N(0, tau^2),

where ``h(x)`` is the distance in ``ln x`` beyond the data (``ln x - ln x_max``
above it, ``ln x_min - ln x`` below it, 0 inside) and ``kappa`` is the error of
the law's log-log slope beyond the data, one per side. So the extra standard
deviation is ``tau * h(x)``: zero inside the data, growing linearly beyond. The
law is a power law far from its breaks, and what it gets wrong there is first
of all its slope; a slope error is also what a break the data cannot see yet
looks like from inside the data.

Distances are measured in units of the log-x range that was fitted: a
misspecification that makes a fit over ``[x_min, x_max]`` miss by ``e`` at
``x_max * (x_max / x_min)**r`` makes a fit over a part of the range miss by
about ``e`` at the same fraction ``r`` of that part beyond it. That is what
lets a short refit inside the data speak for the whole fit beyond it. In
these units ``tau * range(ln x)`` is an error of ``log y`` per data range, and
its prior, :attr:`bnsl.Priors.drift`, is a half-Cauchy with scale 0.2 times
``range(ln y)``: scale-free, so the default serves any units, and heavy-tailed,
so a curve that the law describes badly can say so. (Equivalently: the prior of
the slope error ``tau`` has scale 0.2 of the data's mean log-log slope
``range(ln y) / range(ln x)``.)

Learning ``tau`` per curve, by leave-future-out. For each cut ``c`` in
:data:`HOLDOUT_CUTS` (fractions of the data's log-x range), the law with the
chosen number of breaks (fewer if the part is too short for it) is refitted to
the points up to ``c`` and predicts the rest. Under the model the held-out
errors ``e`` (observed minus the refit's predictive mean) are

    e ~ N(0, A + t^2 h h^T),

``A`` the refit's predictive covariance (curve posterior plus noise), ``h``
the held-out points' distances beyond the refitted part in units of its log-x
range, ``t = tau * range(ln x)`` the drift per range. By the
matrix-determinant and Sherman-Morrison identities this depends on ``t`` only
through the drift the block shows, ``k = h'A^-1 e / h'A^-1 h``, and its
standard error ``se = (h'A^-1 h)^(-1/2)``:

    p(e | t)  proportional to  N(k; 0, se^2 + t^2).

The held-out blocks are nested (each contains the next), so their log
likelihoods are averaged, not added: a tempered likelihood worth one block,
not three copies of the same evidence. The posterior of ``tau`` is computed on
a grid and kept as :data:`N_NODES` equal-probability nodes, which every
predictive method averages over (the predictive is then a scale mixture of
normals: heavier-tailed than a normal, as an honest extrapolation should be).
A curve too short for any refit (fewer than ``n_parameters + 2`` points up to
every cut) keeps the prior.

Why not other shapes. A random walk in ``ln x`` (sd growing like the square
root of the distance) fits the held-out errors inside the training parts of
the benchmark's curves better, because it absorbs the wiggles of the
residuals, but it is then learned small and covers worse beyond the data; a
constant offset does not grow with the distance at all.

What it changes. Only predictions of new observations beyond the data:
``Fit.interval(kind="observation")``, ``Fit.log_predictive_density`` and the
draws behind them. Inside the data ``h = 0`` and nothing changes. The curve band
(``kind="curve"``) stays the posterior band of the law: it answers "where is
the law, if the law is right", which is what a plot of the fit should show; the
observation band answers "where will the next measurement be". Every method
that uses the term takes ``drift=False`` to turn it off.

The refits run the fit's own compiled program (same settings, padded to the
same size), so they compile nothing new; they run on the first call that needs
them and are cached on the :class:`bnsl.Fit`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from bnsl.posterior import LOG_NOISE, STUDENT_T_LIKELIHOOD_DOF, log_normaliser
from bnsl.priors import Distribution, Priors, dof_of
from bnsl.validation import n_parameters

if TYPE_CHECKING:
    from bnsl.result import Candidate, Fit

__all__ = ["Drift", "Holdout", "HOLDOUT_CUTS", "N_NODES", "learn_drift", "drift_posterior",
           "drift_from", "holdout_drift", "log_density"]

# Where the curve is cut for leave-future-out: fractions of its log-x range.
HOLDOUT_CUTS = (0.5, 0.65, 0.8)
# Equal-probability nodes that represent the posterior of tau.
N_NODES = 16
# A refit needs this many points beyond the law's parameters.
SPARE_POINTS = 2
# The grid of tau: this many e-folds either side of the prior's scale.
_GRID_EFOLDS = 8.0
_GRID_POINTS = 161
# The refits' random numbers: a stream of their own under the fit's seed.
_HOLDOUT_STREAM = 0x5EED


class Holdout(NamedTuple):
    """What one held-out block says about the drift.

    Attributes:
        cut: the fraction of the log-x range that was refitted.
        n_fit, n_held: points refitted and points held out.
        n_breaks: breaks of the refitted law.
        drift: ``k``, the error of ``log y`` per refitted log-x range that the
            held-out points show (their slope error times that range).
        standard_error: its standard error under the refit's predictive covariance.
    """

    cut: float
    n_fit: int
    n_held: int
    n_breaks: int
    drift: float
    standard_error: float


class Drift(NamedTuple):
    """The learned misspecification term beyond the data.

    Attributes:
        tau: :data:`N_NODES` equal-probability nodes of the posterior of ``tau``,
            the standard deviation of the log-log slope error beyond the data
            (``d ln y / d ln x``).
        tau_median: the posterior median of ``tau``.
        tau_interval: its central 90% posterior interval.
        reference: the data's mean log-log slope ``range(ln y) / range(ln x)``,
            the unit of the prior.
        log_x_min, log_x_max: the data's range of ``ln x``.
        holdouts: the held-out blocks that informed ``tau``; empty when the
            curve was too short and ``tau`` keeps its prior.
    """

    tau: np.ndarray
    tau_median: float
    tau_interval: tuple[float, float]
    reference: float
    log_x_min: float
    log_x_max: float
    holdouts: tuple[Holdout, ...]

    def distance(self, x) -> np.ndarray:
        """``h(x)``: the distance in ``ln x`` beyond the data (0 inside)."""
        log_x = np.log(np.asarray(x, dtype=np.float64))
        return np.maximum(log_x - self.log_x_max, 0.0) + np.maximum(self.log_x_min - log_x, 0.0)

    def sd(self, x) -> np.ndarray:
        """The drift's standard deviation in ``log y`` at ``x`` (averaged over ``tau``)."""
        return math.sqrt(float(np.mean(self.tau**2))) * self.distance(x)

    def node_sd(self, x) -> np.ndarray:
        """``tau * h(x)`` for every node of ``tau``: shape ``(N_NODES, len(x))``."""
        return self.tau[:, None] * self.distance(x)[None, :]

    def draws(self, x, k: int, rng: np.random.Generator) -> np.ndarray:
        """``k`` draws of the drift of ``log y`` at ``x``, one slope error per side and draw."""
        log_x = np.log(np.asarray(x, dtype=np.float64))
        above = np.maximum(log_x - self.log_x_max, 0.0)
        below = np.maximum(self.log_x_min - log_x, 0.0)
        tau = self.tau[rng.integers(len(self.tau), size=k)]
        z = rng.standard_normal((2, k))
        return (tau * z[0])[:, None] * above + (tau * z[1])[:, None] * below


def holdout_drift(errors: np.ndarray, distance: np.ndarray,
                  covariance: np.ndarray) -> tuple[float, float] | None:
    """``(k, se)`` of held-out ``errors`` at ``distance`` ``h`` beyond the refitted part.

    ``N(e; 0, A + t^2 h h^T)`` is, as a function of ``t``, proportional to
    ``N(k; 0, se^2 + t^2)``. None if ``A`` is not positive definite.
    """
    try:
        lower = np.linalg.cholesky(covariance)  # numpy's: scipy.linalg is slow to import
    except np.linalg.LinAlgError:
        return None
    a_inv_h = np.linalg.solve(lower.T, np.linalg.solve(lower, distance))
    precision = float(distance @ a_inv_h)
    if not (np.isfinite(precision) and precision > 0):
        return None
    kappa = float(errors @ a_inv_h) / precision
    return (kappa, 1.0 / math.sqrt(precision)) if np.isfinite(kappa) else None


def _log_density(values: np.ndarray, prior: Distribution) -> np.ndarray:
    """Log density of ``prior`` (normal or Student-t) at ``values``, in closed form:
    scipy.stats would cost a second of import on the first report."""
    dof = dof_of(prior)
    z = (values - prior.loc) / prior.scale
    penalty = 0.5 * z**2 if math.isinf(dof) else 0.5 * (dof + 1.0) * np.log1p(z**2 / dof)
    return log_normaliser(dof) - math.log(prior.scale) - penalty


def _log_folded(values: np.ndarray, prior: Distribution) -> np.ndarray:
    """Log density of ``|t|`` for ``t`` from ``prior``, at ``values >= 0``."""
    return np.logaddexp(_log_density(values, prior), _log_density(-values, prior))


def drift_posterior(holdouts, prior: Distribution, log_y_range: float) -> tuple[np.ndarray, np.ndarray]:
    """The posterior of the drift per data range ``t`` on a grid: ``(t, probability)``.

    ``prior`` is on ``t / log_y_range``, folded at zero; the held-out blocks'
    log likelihoods are averaged (they are nested, see the module's notes).
    """
    centre = math.log(abs(prior.loc) + prior.scale)
    log_g = np.linspace(centre - _GRID_EFOLDS, centre + _GRID_EFOLDS, _GRID_POINTS)
    g = np.exp(log_g)
    log_post = _log_folded(g, prior) + log_g  # a density in log g: the grid is uniform there
    t = log_y_range * g
    if holdouts:
        var = np.array([[h.standard_error**2] for h in holdouts]) + t[None, :] ** 2
        k = np.array([[h.drift] for h in holdouts])
        log_post = log_post + np.mean(-0.5 * k**2 / var - 0.5 * np.log(var), axis=0)
    prob = np.exp(log_post - np.max(log_post))
    return t, prob / prob.sum()


def quantiles_of(tau: np.ndarray, prob: np.ndarray, qs) -> np.ndarray:
    """Quantiles of a grid distribution, interpolated in ``log tau``."""
    cum = np.cumsum(prob) - 0.5 * prob
    return np.exp(np.interp(qs, cum, np.log(tau)))


def drift_from(holdouts, prior: Distribution, log_y_range: float, log_x_min: float,
               log_x_max: float) -> Drift:
    """The :class:`Drift` that a set of held-out blocks and the prior imply for a curve
    whose data span ``[log_x_min, log_x_max]`` and ``log_y_range`` in ``ln y``."""
    span = log_x_max - log_x_min
    t, prob = drift_posterior(holdouts, prior, log_y_range)
    tau = t / span  # per data range -> per unit of ln x: a log-log slope
    nodes = quantiles_of(tau, prob, (np.arange(N_NODES) + 0.5) / N_NODES)
    lo, median, hi = quantiles_of(tau, prob, [0.05, 0.5, 0.95])
    return Drift(tau=nodes, tau_median=float(median), tau_interval=(float(lo), float(hi)),
                 reference=log_y_range / span, log_x_min=log_x_min, log_x_max=log_x_max,
                 holdouts=tuple(holdouts))


def _holdout(cand: "Candidate", x_held: np.ndarray, y_held: np.ndarray, cut: float,
             n_fit: int) -> Holdout | None:
    """The drift the points beyond a refitted part show, under the refit's predictive."""
    from bnsl.result import log_curves  # deferred: result imports this module

    w = cand.weights / cand.weights.sum()
    curves = log_curves(cand.draws, cand.n_breaks, cand.scale, x_held)
    mean = w @ curves
    dev = curves - mean
    noise_var = float(w @ np.exp(2.0 * cand.draws[:, LOG_NOISE]))
    if cand.student_t:  # a Student-t's variance is dof / (dof - 2) times its scale squared
        noise_var *= STUDENT_T_LIKELIHOOD_DOF / (STUDENT_T_LIKELIHOOD_DOF - 2.0)
    cov = (dev * w[:, None]).T @ dev + noise_var * np.eye(len(x_held))
    # The refit's own normalised log x: 1 at its last point, in units of its range.
    distance = cand.scale.s(x_held) - 1.0
    found = holdout_drift(np.log(y_held) - mean, distance, cov)
    if found is None:
        return None
    return Holdout(cut=cut, n_fit=n_fit, n_held=len(x_held), n_breaks=cand.n_breaks,
                   drift=found[0], standard_error=found[1])


def learn_drift(fit: "Fit") -> Drift:
    """Learn ``tau`` for a fit by leave-future-out refits (see the module's notes).

    Deterministic under the fit's seed. A refit that fails is skipped; with no
    usable block ``tau`` keeps its prior.
    """
    # Deferred: fitting imports result, which imports this module.
    from bnsl._program import Settings, bucket_size
    from bnsl.fitting import fit_candidates

    priors = fit.priors if fit.priors is not None else Priors()
    settings = fit.settings if fit.settings is not None else Settings()
    x, y = fit.x, fit.y
    log_x = np.log(x)
    lo, hi = float(log_x.min()), float(log_x.max())
    span = hi - lo
    holdouts = []
    for i, cut in enumerate(HOLDOUT_CUTS):
        inside = log_x <= lo + cut * span
        n_fit = int(inside.sum())
        n_breaks = next((n for n in range(fit.n_breaks, -1, -1)
                         if n_parameters(n) + SPARE_POINTS <= n_fit), None)
        if n_breaks is None or n_fit == len(x) or np.ptp(log_x[inside]) == 0:
            continue
        try:
            cand = fit_candidates(x[inside], y[inside], [n_breaks], priors=priors, settings=settings,
                                  seed=fit.seed, stream=(_HOLDOUT_STREAM, i),
                                  size=bucket_size(len(x)))[n_breaks]
        except FloatingPointError:  # no finite optimum: this block says nothing
            continue
        found = _holdout(cand, x[~inside], y[~inside], cut, n_fit)
        if found is not None:
            holdouts.append(found)
    log_y_range = max(float(np.ptp(np.log(y))), 1e-12)
    return drift_from(holdouts, priors.drift, log_y_range, lo, hi)


# Points per chunk of the predictive density: bounds memory at draws x nodes x chunk.
_CHUNK_ELEMENTS = 1 << 22


def log_density(residual: np.ndarray, noise_sd: np.ndarray, drift_sd: np.ndarray | None,
                student_t: bool) -> np.ndarray:
    """``log p`` of each ``residual`` (draws x points) under the noise and the drift.

    ``noise_sd`` is ``(draws, 1)``; ``drift_sd`` is ``(nodes, points)``, equal
    weights, or None for no drift. Noise plus a normal drift is normal; for the
    Student-t likelihood it is approximated by a Student-t with the same
    degrees of freedom and scale ``sqrt(sigma^2 + sd^2)`` (exact inside the
    data, heavier-tailed than the exact convolution beyond it).
    """
    def dens(r, scale):
        z = r / scale
        if student_t:
            dof = STUDENT_T_LIKELIHOOD_DOF
            const = (math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi))
            return const - (dof + 1) / 2 * np.log1p(z**2 / dof) - np.log(scale)
        return -0.5 * z**2 - 0.5 * math.log(2 * math.pi) - np.log(scale)

    out = dens(residual, noise_sd)
    if drift_sd is None:
        return out
    beyond = np.flatnonzero(np.any(drift_sd > 0, axis=0))
    if beyond.size == 0:
        return out
    from scipy.special import logsumexp

    n_draws, n_nodes = residual.shape[0], drift_sd.shape[0]
    step = max(1, _CHUNK_ELEMENTS // (n_draws * n_nodes))
    for start in range(0, beyond.size, step):
        cols = beyond[start:start + step]
        scale = np.sqrt(noise_sd[:, None, :] ** 2 + drift_sd[None, :, cols] ** 2)
        mixed = dens(residual[:, None, cols], scale)
        out[:, cols] = logsumexp(mixed, axis=1) - math.log(n_nodes)
    return out
