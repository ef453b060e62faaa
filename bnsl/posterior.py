"""The unconstrained parameter vector, the data scaling, and the log posterior.

The solver and the evidence work on one flat vector ``theta`` of fixed length
``N_THETA`` whatever the number of breaks ``n``: the breaks past ``n`` are
switched off by a mask. One compiled program therefore serves every ``n``.

Layout of ``theta`` (normalised units, see :mod:`bnsl.priors`)::

    [log a', B, k0, log sigma, k_1..k_M, z_1..z_M, log g_1..log g_M]

where break locations are ``t_1 = z_1`` and ``t_i = t_(i-1) + exp(z_i)``, so
they stay ordered and relabelling cannot copy every mode ``n!`` times. The
priors are stated on these entries directly (the first location and the log
gaps), so the log posterior is a plain sum of squares with no Jacobian term.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bnsl._fastmath import logaddexp, softplus_and_sigmoid, sum_last
from bnsl.law import BNSLParams, log_law
from bnsl.priors import Priors, dof_of

MAX_BREAKS = 4
N_GLOBAL = 4
N_THETA = N_GLOBAL + 3 * MAX_BREAKS
LOG_FLOOR, INTERCEPT, SLOPE, LOG_NOISE = range(N_GLOBAL)
_K = slice(N_GLOBAL, N_GLOBAL + MAX_BREAKS)
_Z = slice(N_GLOBAL + MAX_BREAKS, N_GLOBAL + 2 * MAX_BREAKS)
_LG = slice(N_GLOBAL + 2 * MAX_BREAKS, N_THETA)
STUDENT_T_LIKELIHOOD_DOF = 4.0


class Scale(NamedTuple):
    """How a curve maps to the solver's normalised units."""

    log_x_min: float
    log_x_span: float
    log_y_ref: float

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> "Scale":
        log_x = np.log(x)
        span = float(log_x.max() - log_x.min())
        return cls(float(log_x.min()), span, float(np.median(np.log(y))))

    def s(self, x) -> np.ndarray:
        return (np.log(x) - self.log_x_min) / self.log_x_span


class Unpacked(NamedTuple):
    log_floor: jax.Array
    intercept: jax.Array
    slope: jax.Array
    log_noise: jax.Array
    slope_change: jax.Array
    location: jax.Array
    log_sharpness: jax.Array


def break_mask(n_breaks) -> jax.Array:
    """1.0 for the active breaks ``0..n-1``, 0.0 for the rest."""
    return (jnp.arange(MAX_BREAKS) < n_breaks).astype(jnp.result_type(float))


def theta_mask(n_breaks) -> jax.Array:
    """1.0 for the entries of ``theta`` that a law with ``n_breaks`` uses."""
    m = break_mask(n_breaks)
    return jnp.concatenate([jnp.ones(N_GLOBAL, m.dtype), m, m, m])


def unpack(theta: jax.Array, n_breaks) -> Unpacked:
    z = theta[_Z]
    steps = jnp.exp(z[1:])
    location = jnp.concatenate([z[:1], z[:1] + jnp.cumsum(steps)])
    return Unpacked(theta[LOG_FLOOR], theta[INTERCEPT], theta[SLOPE], theta[LOG_NOISE],
                    theta[_K], location, theta[_LG])


def pack(log_floor, intercept, slope, log_noise, slope_change, location, log_sharpness):
    """Inverse of :func:`unpack` for strictly increasing ``location`` (length MAX_BREAKS)."""
    location = jnp.asarray(location)
    z = jnp.concatenate([location[:1], jnp.log(jnp.diff(location))])
    head = jnp.stack([jnp.asarray(v, location.dtype) for v in (log_floor, intercept, slope, log_noise)])
    return jnp.concatenate([head, jnp.asarray(slope_change), z, jnp.asarray(log_sharpness)])


def model_log_y(theta: jax.Array, s: jax.Array, n_breaks) -> jax.Array:
    """Normalised ``log y - log_y_ref`` of the law at normalised ``s``."""
    p = unpack(theta, n_breaks)
    if isinstance(n_breaks, int):
        # A static n: only the active breaks are evaluated (the others add exact zeros).
        return log_law(p.log_floor, p.intercept, p.slope, p.slope_change[:n_breaks],
                       p.location[:n_breaks], jnp.exp(p.log_sharpness[:n_breaks]), s)
    return log_law(p.log_floor, p.intercept, p.slope, p.slope_change, p.location,
                   jnp.exp(p.log_sharpness), s, break_mask(n_breaks))


def model_log_y_and_jacobian(theta: jax.Array, s: jax.Array, n_breaks):
    """:func:`model_log_y` and its Jacobian in ``theta``, shape ``(len(s), N_THETA)``.

    Written out by hand: forward-mode autodiff would evaluate the float64
    softplus of every point and break once per parameter, and that dominated
    the solver's run time. Checked against ``jax.jacfwd`` in the tests.
    """
    log_y, columns = _law_and_columns(theta, s, n_breaks, MAX_BREAKS)
    zeros = jnp.zeros_like(s)
    return log_y, jnp.stack(columns[:LOG_NOISE] + [zeros] + columns[LOG_NOISE:], axis=1)


def active_columns(n_breaks: int) -> np.ndarray:
    """Indices of the entries of ``theta`` that a law with a static ``n_breaks`` moves
    (the noise level is profiled, not stepped): the columns of :func:`active_jacobian`."""
    breaks = np.arange(n_breaks)
    return np.concatenate([np.arange(LOG_NOISE), N_GLOBAL + breaks,
                           N_GLOBAL + MAX_BREAKS + breaks, N_GLOBAL + 2 * MAX_BREAKS + breaks])


def active_jacobian(theta: jax.Array, s: jax.Array, n_breaks: int):
    """:func:`model_log_y` and its Jacobian in ``theta[active_columns(n_breaks)]`` for a
    static ``n_breaks``: only the active breaks are evaluated."""
    log_y, columns = _law_and_columns(theta, s, n_breaks, n_breaks)
    return log_y, jnp.stack(columns, axis=1)


def _law_and_columns(theta, s, n_breaks, nb: int):
    """``log y`` and the Jacobian's columns for every entry but the noise level, over
    the first ``nb`` breaks (those past ``n_breaks`` give zero columns)."""
    p = unpack(theta, n_breaks)
    on = break_mask(n_breaks)[:nb]
    g = jnp.exp(p.log_sharpness[:nb])
    z = (s[:, None] - p.location[:nb]) / g
    soft, sig = softplus_and_sigmoid(z)
    k = p.slope_change[:nb] * on
    excess = p.intercept - p.slope * s - sum_last(k * g * soft)
    log_y = logaddexp(p.log_floor, excess)
    w_floor, w_excess = jnp.exp(p.log_floor - log_y), jnp.exp(excess - log_y)
    d_location = w_excess[:, None] * k * sig
    # t_i = z_1 + sum_{q=2..i} exp(z_q): each z_q moves every later location.
    # Summed from the last break down, one addition at a time, so that the
    # inactive breaks' zeros change nothing.
    d_z = [d_location[:, i] for i in range(nb)]
    for i in range(nb - 2, -1, -1):
        d_z[i] = d_z[i] + d_z[i + 1]
    gap = jnp.exp(theta[_Z][1:nb])
    d_z = d_z[:1] + [d_z[i] * gap[i - 1] for i in range(1, nb)]
    d_k = -w_excess[:, None] * g * soft * on
    d_lg = -w_excess[:, None] * k * g * (soft - z * sig)
    columns = [w_floor, w_excess, -(w_excess * s)]
    columns += [d_k[:, i] for i in range(nb)] + d_z + [d_lg[:, i] for i in range(nb)]
    return log_y, columns


class PriorArrays(NamedTuple):
    """Priors laid out along ``theta`` (``dof = inf`` means normal); locations in normalised units.

    ``log_norm`` is each density's log normalising constant less ``log scale``.
    """

    loc: jax.Array
    scale: jax.Array
    dof: jax.Array
    log_norm: jax.Array


def prior_arrays(priors: Priors, x: np.ndarray, y: np.ndarray, scale: Scale) -> PriorArrays:
    """Place the user's data-relative priors on the ``theta`` layout for this curve."""
    log_y = np.log(y)
    log_y_span = max(float(np.ptp(log_y)), 1e-6)
    shift = {
        "log_floor": float(np.log(y.min())) - scale.log_y_ref,
        "intercept": float(log_y[np.argmin(x)]) - scale.log_y_ref,
        "log_noise": math.log(log_y_span),
    }
    fields = ["log_floor", "intercept", "slope", "log_noise"]
    names = (fields + ["slope_change"] * MAX_BREAKS + ["break_location"]
             + ["break_gap"] * (MAX_BREAKS - 1) + ["log_sharpness"] * MAX_BREAKS)
    loc = [getattr(priors, name).loc + shift.get(name, 0.0) for name in names]
    scale_ = np.asarray([getattr(priors, name).scale for name in names], dtype=np.float64)
    dof = np.asarray([dof_of(getattr(priors, name)) for name in names], dtype=np.float64)
    return PriorArrays(loc=np.asarray(loc, dtype=np.float64), scale=scale_, dof=dof,
                       log_norm=np.array([log_normaliser(v) for v in dof]) - np.log(scale_))


def heavy_tail_residual(z, dof):
    """A residual whose half square is ``-log`` of the standardised density, up to a constant.

    Normal where ``dof`` is infinite (the residual is ``z`` itself); Student-t
    otherwise. Writing every density this way turns the log posterior into a
    sum of squares, which Levenberg-Marquardt and Gauss-Newton can work on.
    """
    if isinstance(dof, (int, float)) and math.isinf(dof):
        return z  # a static normal: skip the Student-t arithmetic entirely
    finite = jnp.isfinite(dof)
    nu = jnp.where(finite, dof, 1.0)  # keep the unused branch finite for gradients
    q = z**2 / nu
    q_safe = jnp.where(q < 1e-8, 1.0, q)
    ratio = jnp.where(q < 1e-8, 1.0 - q / 2, jnp.log1p(q_safe) / q_safe)  # log1p(q)/q, smooth at 0
    return jnp.where(finite, z * jnp.sqrt((nu + 1) / nu * ratio), z)


def heavy_tail_penalty_derivatives(z, dof):
    """First and second derivatives in ``z`` of ``heavy_tail_residual(z, dof)**2 / 2``,
    the negative log density: ``z`` and 1 for a normal, ``(nu + 1) z / (nu + z^2)`` and
    ``(nu + 1) (nu - z^2) / (nu + z^2)^2`` for a Student-t.

    Written out because they run inside every solver step, where nested
    autodiff of the residual costs tracing time at every first fit.
    """
    finite = jnp.isfinite(dof)
    nu = jnp.where(finite, dof, 1.0)
    denominator = nu + z**2
    d1 = jnp.where(finite, (nu + 1) * z / denominator, z)
    d2 = jnp.where(finite, (nu + 1) * (nu - z**2) / denominator**2, 1.0)
    return d1, d2


def log_normaliser(dof: float) -> float:
    """Log normalising constant of the unit-scale density behind :func:`heavy_tail_residual`.

    A host-side constant: lgamma is costly to compile and never needs to be traced.
    """
    if math.isinf(dof):
        return -0.5 * math.log(2 * math.pi)
    return math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)


def _standardised(theta, prior: PriorArrays):
    return (theta - prior.loc) / prior.scale


def prior_residuals(theta, n_breaks, prior: PriorArrays) -> jax.Array:
    """Residuals whose half sum of squares is ``-log prior`` up to terms free of theta."""
    return heavy_tail_residual(_standardised(theta, prior), prior.dof) * theta_mask(n_breaks)


def log_prior(theta: jax.Array, n_breaks, prior: PriorArrays) -> jax.Array:
    """Log prior density of ``theta`` for a law with ``n_breaks`` breaks."""
    z = _standardised(theta, prior)
    terms = -0.5 * heavy_tail_residual(z, prior.dof) ** 2 + prior.log_norm
    return jnp.sum(terms * theta_mask(n_breaks))


def likelihood_dof(student_t: bool) -> float:
    return STUDENT_T_LIKELIHOOD_DOF if student_t else math.inf


def standardised_data_residuals(raw, log_noise, weight, student_t: bool):
    """From the raw residuals ``model - log y``: the residuals whose half sum of
    squares is ``-log p(log y | theta)`` less the noise terms, and the derivative
    of each with respect to its raw residual (the row scale of the Jacobian)."""
    inv_noise = jnp.exp(-log_noise)
    r = raw * inv_noise
    dof = likelihood_dof(student_t)
    row_scale = jnp.sqrt(weight) * inv_noise
    if student_t:
        row_scale = row_scale * jax.vmap(jax.grad(lambda v: heavy_tail_residual(v, dof)))(r)
    return jnp.sqrt(weight) * heavy_tail_residual(r, dof), row_scale


def data_residuals(theta, s, log_y, weight, n_breaks, student_t: bool) -> jax.Array:
    """Residuals whose half sum of squares is ``-log p(log y | theta)`` less the noise terms."""
    raw = model_log_y(theta, s, n_breaks) - log_y
    return standardised_data_residuals(raw, theta[LOG_NOISE], weight, student_t)[0]


def data_residuals_and_jacobian(theta, s, log_y, weight, n_breaks, student_t: bool):
    """:func:`data_residuals` and their Jacobian in ``theta`` (noise level held fixed)."""
    log_y_hat, jac = model_log_y_and_jacobian(theta, s, n_breaks)
    e, row_scale = standardised_data_residuals(log_y_hat - log_y, theta[LOG_NOISE], weight, student_t)
    return e, jac * row_scale[:, None]


def prior_residuals_and_jacobian(theta, n_breaks, prior: PriorArrays):
    """:func:`prior_residuals` and the diagonal of their Jacobian in ``theta``
    (each residual depends on its own entry alone)."""
    z = _standardised(theta, prior)
    mask = theta_mask(n_breaks)
    slope = jax.vmap(jax.grad(heavy_tail_residual))(z, prior.dof)
    return heavy_tail_residual(z, prior.dof) * mask, slope / prior.scale * mask


def log_likelihood_of_residuals(raw, log_noise, student_t: bool) -> jax.Array:
    """Pointwise log density of ``log y`` given the raw residuals ``model - log y``."""
    e = standardised_data_residuals(raw, log_noise, jnp.ones_like(raw), student_t)[0]
    return -0.5 * e**2 + log_normaliser(likelihood_dof(student_t)) - log_noise


def log_likelihood_terms(theta, s, log_y, n_breaks, student_t: bool) -> jax.Array:
    """Pointwise log density of each normalised ``log y``."""
    return log_likelihood_of_residuals(model_log_y(theta, s, n_breaks) - log_y, theta[LOG_NOISE], student_t)


def log_joint_of_residuals(theta, raw, weight, n_breaks, prior: PriorArrays, student_t: bool) -> jax.Array:
    """:func:`log_joint` from the raw residuals at ``theta``, already computed: no law evaluation."""
    loglik = jnp.sum(weight * log_likelihood_of_residuals(raw, theta[LOG_NOISE], student_t))
    value = loglik + log_prior(theta, n_breaks, prior)
    return jnp.where(jnp.isnan(value), -jnp.inf, value)


def log_joint(theta, s, log_y, weight, n_breaks, prior: PriorArrays, student_t: bool) -> jax.Array:
    """``log p(log y, theta | n)``; padded points carry weight 0."""
    raw = model_log_y(theta, s, n_breaks) - log_y
    return log_joint_of_residuals(theta, raw, weight, n_breaks, prior, student_t)


def to_params(theta: np.ndarray, n_breaks: int, scale: Scale) -> BNSLParams:
    """Real-unit :class:`BNSLParams` from a normalised ``theta`` (numpy, host side)."""
    theta = np.asarray(theta, dtype=np.float64)
    z = theta[_Z]
    location = np.concatenate([z[:1], z[:1] + np.cumsum(np.exp(z[1:]))])[:n_breaks]
    span = scale.log_x_span
    c0 = theta[SLOPE] / span
    return BNSLParams(
        a=float(np.exp(theta[LOG_FLOOR] + scale.log_y_ref)),
        b=float(np.exp(theta[INTERCEPT] + scale.log_y_ref + c0 * scale.log_x_min)),
        c0=float(c0),
        c=theta[_K][:n_breaks] / span,
        d=np.exp(scale.log_x_min + span * location),
        f=np.exp(theta[_LG][:n_breaks]) * span,
    )


def noise_sd(theta: np.ndarray) -> float:
    """Standard deviation of the noise on natural-log y (scale-free)."""
    return float(np.exp(np.asarray(theta)[..., LOG_NOISE]))
