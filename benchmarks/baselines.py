"""Peer scaling-law estimators for the extrapolation benchmarks.

Every estimator is our own code, written from the published descriptions of
the methods (papers, and the facts of the authors' public scripts: starting
points, bounds, grids, step sizes), not copied from them:

* M1-M4 from Alabdulmohsin, Neyshabur and Zhai (2022), "Revisiting neural
  scaling laws in language and vision". Each law is rearranged so that one
  side is a power law b x^c, and the squared error between the logs of both
  sides is minimised over the training points, within the paper's feasible
  box (0 <= y_inf <= min(y) - 1e-3, max(y) + 1e-3 <= y_0 <= known bound
  + 1e-3). The paper's optimisers are local and path dependent (they start at
  y_inf = min(y) - 1e-3, g = 0, y_0 = 1) and their end points, not the global
  minima, are what its numbers measure, so we follow the same paths: see
  each function.
* ``fit_bnsl_official``: the procedure of the BNSL authors' public fit scripts
  (Caballero et al. 2022): one break, a 10x16x4x4x16x4 ``scipy.optimize.brute``
  grid on the mean squared error of log(y + 1), then ``scipy.optimize.curve_fit``
  on log(y + 1) from the best grid point.
* ``fit_curve_fit_1break``: ``scipy.optimize.curve_fit`` of the same law from
  scipy's default start, what most users try first.

Each ``fit_*`` function takes the training points and returns a predictor
``predict(x_new) -> np.ndarray``. On failure it raises ``FitError`` (or lets a
scipy error propagate) with a clear message; the harness records the curve as a
failure instead of crashing.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import scipy.optimize

Predictor = Callable[[np.ndarray], np.ndarray]

# Margin that keeps y_inf strictly below and y_0 strictly above the observed
# losses, so that the logs in the M2/M4 objectives stay finite (as in the paper).
ERR_MARGIN = 1e-3


class FitError(RuntimeError):
    """An estimator could not produce a usable fit for a curve."""


def _as_curve(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Validate one learning curve and return it as float arrays sorted by x."""
    x_arr = np.asarray(x, dtype=float).ravel()
    y_arr = np.asarray(y, dtype=float).ravel()
    if x_arr.shape != y_arr.shape:
        raise FitError(f"x and y differ in length ({x_arr.size} vs {y_arr.size})")
    if x_arr.size < 3:
        raise FitError(f"need at least 3 points to fit, got {x_arr.size}")
    if not (np.all(np.isfinite(x_arr)) and np.all(np.isfinite(y_arr))):
        raise FitError("x and y must be finite")
    if np.any(x_arr <= 0) or np.any(y_arr <= 0):
        raise FitError("x and y must be positive (the fits work in log space)")
    order = np.argsort(x_arr, kind="stable")
    return x_arr[order], y_arr[order]


# ---------------------------------------------------------------------------
# Shared numerical helpers
# ---------------------------------------------------------------------------


def _least_squares(design: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """Coefficients and sum of squared residuals of ``design @ coef ~ target``."""
    coef = np.linalg.lstsq(design, target, rcond=None)[0]
    residual = design @ coef - target
    return coef, float(residual @ residual)


def _power_law_design(log_x: np.ndarray) -> np.ndarray:
    """Columns [1, log x] for fitting log b + c log x."""
    return np.column_stack([np.ones_like(log_x), log_x])


def _first_local_min_downhill(objective: Callable[[float], float], start: float, stop: float,
                              n_scan: int = 400) -> float:
    """The first local minimum of a 1-D objective met when walking from start to stop.

    Gradient descent started at ``start`` ends there; scanning is a direct way
    to find the same point. Steps grow geometrically from 1e-9 of the range
    because the log objectives here change fastest right next to the start
    (y_inf close to min(y)). The bracket around the first uptick is polished
    with a bounded scalar minimiser.
    """
    span = stop - start
    if span == 0:
        return start
    points = np.concatenate([[start], start + span * np.geomspace(1e-9, 1.0, n_scan)])
    with np.errstate(all="ignore"):
        values = np.array([objective(p) for p in points])
    values[~np.isfinite(values)] = np.inf
    i = 0
    while i + 1 < len(points) and values[i + 1] <= values[i]:
        i += 1
    lo, hi = sorted((points[max(i - 1, 0)], points[min(i + 1, len(points) - 1)]))
    if hi > lo:
        with np.errstate(all="ignore"):
            polished = scipy.optimize.minimize_scalar(objective, bounds=(lo, hi), method="bounded",
                                                      options={"xatol": 1e-12})
        if np.isfinite(polished.fun) and polished.fun <= values[i]:
            return float(polished.x)
    return float(points[i])


# ---------------------------------------------------------------------------
# M1-M4 (Alabdulmohsin, Neyshabur, Zhai 2022)
# ---------------------------------------------------------------------------


def fit_m1(x: Sequence[float], y: Sequence[float]) -> Predictor:
    """M1: y = b x^c, least squares in log-log space."""
    x, y = _as_curve(x, y)
    (log_b, c), _ = _least_squares(_power_law_design(np.log(x)), np.log(y))

    def predict(x_new: np.ndarray) -> np.ndarray:
        return np.exp(log_b) * np.asarray(x_new, dtype=float) ** c

    return predict


def fit_m2(x: Sequence[float], y: Sequence[float]) -> Predictor:
    """M2: y - y_inf = b x^c.

    Objective: sum (log(y - y_inf) - log b - c log x)^2 with
    0 <= y_inf <= min(y) - 1e-3. For fixed y_inf it is a linear regression,
    so only y_inf is searched. The paper starts y_inf at its upper bound and
    descends (alternating the regression with gradient, then Newton, steps on
    y_inf), so it ends in the first local minimum below min(y); that is the
    minimum taken here. It matters: the global minimum is often y_inf = 0 (M1),
    which extrapolates far worse on NMT and LM.
    """
    x, y = _as_curve(x, y)
    design = _power_law_design(np.log(x))
    y_inf_max = float(y.min()) - ERR_MARGIN
    if y_inf_max <= 0:
        raise FitError(f"min(y)={y.min():.3g} leaves no room for y_inf >= 0")

    def profile(y_inf: float) -> float:
        return _least_squares(design, np.log(y - y_inf))[1]

    y_inf = _first_local_min_downhill(profile, start=y_inf_max, stop=0.0)
    (log_b, c), _ = _least_squares(design, np.log(y - y_inf))

    def predict(x_new: np.ndarray) -> np.ndarray:
        return y_inf + np.exp(log_b) * np.asarray(x_new, dtype=float) ** c

    return predict


def fit_m3(x: Sequence[float], y: Sequence[float], max_iterations: int = 10_000) -> Predictor:
    """M3: y = b (1/x + g)^c with g >= 0 and c >= 0 (decay exponent).

    Objective: sum (log y - log b - c log(1/x + g))^2. The paper's procedure,
    starting from g = 0, alternates
      * (log b, c) by linear regression for the current g (c clipped at 0);
      * g chosen among the values that make one training point exact,
        g_i = (y_i / b)^(1/c) - 1/x_i, keeping the current g unless a
        non-negative candidate lowers the objective (b and c held fixed),
    until b changes by less than 1e-10.
    """
    x, y = _as_curve(x, y)
    log_y = np.log(y)

    def regression(g: float) -> tuple[float, float]:
        (log_b, c), _ = _least_squares(_power_law_design(np.log(1.0 / x + g)), log_y)
        return float(log_b), max(0.0, float(c))

    def objective(log_b: float, c: float, g: float) -> float:
        return float(np.sum((log_y - log_b - c * np.log(1.0 / x + g)) ** 2))

    g, previous_b = 0.0, math.nan
    for _ in range(max_iterations):
        log_b, c = regression(g)
        if c > 0:
            with np.errstate(all="ignore"):
                candidates = (y / np.exp(log_b)) ** (1.0 / c) - 1.0 / x
            best = objective(log_b, c, g)
            for candidate in candidates[np.isfinite(candidates) & (candidates >= 0)]:
                value = objective(log_b, c, candidate)
                if value < best:
                    best, g = value, float(candidate)
        if abs(np.exp(log_b) - previous_b) < 1e-10:
            break
        previous_b = float(np.exp(log_b))
    log_b, c = regression(g)

    def predict(x_new: np.ndarray) -> np.ndarray:
        return np.exp(log_b) * (1.0 / np.asarray(x_new, dtype=float) + g) ** c

    return predict


# Known upper bounds of the loss per benchmark domain, for M4's y_0 (the loss of
# an uninformed model), as the paper sets them: error rates (IC) and BIG-Bench
# scores (BB) are at most 1; log-perplexity (NMT) and cross-entropy (LM) have no
# known bound. y_0 starts at 1 (1.001 for BB, whose curves start near 1).
M4_Y0_UPPER: dict[str, float | None] = {"IC": 1.0, "BB": 1.0, "NMT": None, "LM": None}
M4_Y0_START: dict[str, float] = {"IC": 1.0, "BB": 1.001, "NMT": 1.0, "LM": 1.0}


def _solve_m4(f: np.ndarray, span: float, alpha: float) -> np.ndarray:
    """Solve w = f (span - w)^alpha for w in [0, span] (w = y - y_inf).

    For alpha > 0 the left side minus the right side increases strictly from
    -f span^alpha < 0 to span > 0, so the root is unique; bisection on all
    points at once is exact to float precision (the paper uses a 10,000-point
    grid, within 1e-4 of this).
    """
    lo = np.zeros_like(f)
    hi = np.full_like(f, span)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        too_big = mid - f * (span - mid) ** alpha > 0
        hi = np.where(too_big, mid, hi)
        lo = np.where(too_big, lo, mid)
    return 0.5 * (lo + hi)


def _x64_context():
    """Scoped float64 in JAX (the M4 updates use steps of 1e-8), any JAX version."""
    import jax  # noqa: PLC0415

    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is None:  # older JAX
        from jax.experimental import enable_x64  # noqa: PLC0415
    return enable_x64(True)


@functools.cache
def _m4_alternating_solver() -> Callable:
    """Build (once) the jitted M4 procedure of the paper.

    The procedure runs up to 10,000 alternations, each with 100-1000 inner
    steps, i.e. about a million sequential updates: ~1 minute per curve in
    numpy, a few seconds compiled with JAX. Inputs are padded to a fixed
    length with a 0/1 weight so that one compilation serves all curves.
    """
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    def nnls3(design, target, weight):
        """Exact non-negative least squares with 3 columns: best feasible support."""
        weighted = design * weight[:, None]
        gram, moment = weighted.T @ design, weighted.T @ target
        best_coef, best_sse = jnp.zeros(3), jnp.sum(weight * target**2)
        for support in range(1, 8):
            cols = jnp.array([i for i in range(3) if support >> i & 1])
            sub = jnp.linalg.solve(gram[jnp.ix_(cols, cols)], moment[cols])
            coef = jnp.zeros(3).at[cols].set(sub)
            sse = jnp.sum(weight * (design @ coef - target) ** 2)
            better = jnp.all(sub >= 0) & jnp.isfinite(sse) & (sse < best_sse)
            best_coef, best_sse = jnp.where(better, coef, best_coef), jnp.where(better, sse, best_sse)
        return best_coef

    @jax.jit
    def solve(x, y, weight, y0_start, y0_upper, has_upper, schedule):
        # schedule: iteration counts and step sizes, traced (not static) so that
        # shorter schedules, as in the tests, reuse the same compilation
        max_iterations, grad_iterations, grad_epochs, newton_epochs, grad_lr, newton_lr = schedule
        n = jnp.sum(weight)
        log_x = jnp.log(x)
        y_inf_max = jnp.min(jnp.where(weight > 0, y, jnp.inf)) - ERR_MARGIN
        y0_min = jnp.max(jnp.where(weight > 0, y, -jnp.inf)) + ERR_MARGIN

        def mean(v):
            return jnp.sum(weight * v) / n

        def project(y_inf, y0):
            y_inf = jnp.clip(y_inf, 0.0, y_inf_max)
            y0 = jnp.maximum(y0, y0_min)
            return y_inf, jnp.where(has_upper, jnp.minimum(y0, y0_upper + ERR_MARGIN), y0)

        def derivatives(y_inf, y0, log_f, alpha):
            """Residual of the log equation and its gradient in (y_inf, y0)."""
            residual = jnp.log(y - y_inf) - alpha * jnp.log(y0 - y) - log_f
            return residual, -mean(residual / (y - y_inf)), -alpha * mean(residual / (y0 - y))

        def gradient_steps(state, log_f, alpha):
            def step(_, s):
                _, g_inf, g_0 = derivatives(*s, log_f, alpha)
                return project(s[0] - grad_lr * g_inf, s[1] - grad_lr * g_0)

            return jax.lax.fori_loop(0, grad_epochs, step, state)

        def newton_steps(state, log_f, alpha):
            def step(_, s):
                y_inf, y0 = s
                residual, g_inf, g_0 = derivatives(y_inf, y0, log_f, alpha)
                h_inf = mean((1 - residual) / (y - y_inf) ** 2)
                h_0 = alpha * mean((alpha + residual) / (y0 - y) ** 2)
                # diagonal Newton, skipped where the curvature vanishes
                y_inf = jnp.where(jnp.abs(h_inf) > 1e-5, y_inf - newton_lr * g_inf / h_inf, y_inf)
                y0 = jnp.where(jnp.abs(h_0) > 1e-5, y0 - newton_lr * g_0 / h_0, y0)
                return project(y_inf, y0)

            return jax.lax.fori_loop(0, newton_epochs, step, state)

        def not_done(carry):
            k, _, _, _, _, converged = carry
            return ~converged & (k < max_iterations)

        def alternation(carry):
            k, y_inf, y0, previous_b, _, _ = carry
            design = jnp.stack([jnp.ones_like(log_x), -log_x, jnp.log(y0 - y)], axis=1)
            coef = nnls3(design, jnp.log(y - y_inf), weight)  # log b, c, alpha >= 0
            log_f = coef[0] - coef[1] * log_x
            y_inf, y0 = jax.lax.cond(k < grad_iterations, gradient_steps, newton_steps, (y_inf, y0), log_f,
                                     coef[2])
            b = jnp.exp(coef[0])
            converged = (jnp.abs(b - previous_b) < 1e-10) & (k > grad_iterations + 1)
            return k + 1, y_inf, y0, b, coef, converged

        start = (0, y_inf_max, jnp.asarray(y0_start, dtype=x.dtype), jnp.asarray(1.0, dtype=x.dtype),
                 jnp.zeros(3, dtype=x.dtype), False)
        _, y_inf, y0, _, coef, _ = jax.lax.while_loop(not_done, alternation, start)
        return y_inf, y0, coef

    return solve


M4_PAD = 128  # training points are padded to a multiple of this (one compile)


@dataclass(frozen=True)
class M4Schedule:
    """Iteration schedule of the paper's M4 procedure (its defaults)."""

    max_iterations: int = 10_000  # alternations at most
    grad_iterations: int = 100  # alternations that use gradient steps, then Newton
    grad_epochs: int = 1000  # gradient steps per alternation
    newton_epochs: int = 100  # Newton steps per alternation
    grad_lr: float = 1e-8
    newton_lr: float = 0.1


def m4_parameters(x: np.ndarray, y: np.ndarray, y0_upper: float | None, y0_start: float,
                  schedule: M4Schedule = M4Schedule()) -> tuple[float, float, float, float, float]:
    """(y_inf, y_0, log b, c, alpha) from the paper's M4 procedure on sorted, valid data."""
    size = M4_PAD * math.ceil(len(x) / M4_PAD)
    weight = np.zeros(size)
    weight[: len(x)] = 1.0
    # padding repeats a real point so every log stays finite; its weight is 0
    x_pad, y_pad = np.full(size, x[0]), np.full(size, y[0])
    x_pad[: len(x)], y_pad[: len(x)] = x, y
    with _x64_context():
        y_inf, y0, coef = _m4_alternating_solver()(
            x_pad, y_pad, weight, float(y0_start), float(y0_upper) if y0_upper is not None else 0.0,
            y0_upper is not None, tuple(getattr(schedule, f.name) for f in fields(schedule)),
        )
    log_b, c, alpha = (float(v) for v in np.asarray(coef))
    return float(y_inf), float(y0), log_b, c, alpha


def fit_m4(x: Sequence[float], y: Sequence[float], y0_upper: float | None = None,
           y0_start: float = 1.0) -> Predictor:
    """M4: (y - y_inf) / (y_0 - y)^alpha = b x^(-c), fitted as in the paper.

    Objective: sum (log(y - y_inf) - alpha log(y_0 - y) - log b + c log x)^2
    with 0 <= y_inf <= min(y) - 1e-3, max(y) + 1e-3 <= y_0 <= y0_upper + 1e-3.
    The paper's procedure alternates
      * (log b, c, alpha) by non-negative least squares for fixed (y_inf, y_0);
      * 1000 gradient steps (step 1e-8) on (y_inf, y_0) for the first 100
        alternations, then 100 damped (0.1) diagonal Newton steps, projecting
        onto the box after each step,
    from y_inf = min(y) - 1e-3 and y_0 = ``y0_start``, for at most 10,000
    alternations or until b changes by less than 1e-10. The result depends on
    where this slow descent stops (it is not the global minimum), so the
    procedure is reproduced step for step rather than replaced by a better
    optimiser. ``y0_upper`` is a known upper bound on the loss, None if none.
    Reproduces the published means within 6% except BIG-Bench (0.0155 vs
    0.0123, 10 curves, ~1 standard error): on the two 'date' tasks the descent
    drifts to y_inf = 0, alpha = 0 (a pure power law).
    """
    x, y = _as_curve(x, y)
    if float(y.min()) - ERR_MARGIN <= 0:
        raise FitError(f"min(y)={y.min():.3g} leaves no room for y_inf >= 0")
    # The paper starts y_0 unprojected; lift a start at or below the data into
    # the box instead of taking the log of a negative number (never needed on
    # the benchmark, where every curve stays below its domain's start).
    y0_start = max(float(y0_start), float(y.max()) + ERR_MARGIN)
    y_inf, y0, log_b, c, alpha = m4_parameters(x, y, y0_upper, y0_start)
    if not all(np.isfinite([y_inf, y0, log_b, c, alpha])):
        raise FitError("M4 iteration diverged (non-finite parameters)")

    def predict(x_new: np.ndarray) -> np.ndarray:
        f = np.exp(log_b) * np.asarray(x_new, dtype=float) ** (-c)
        if alpha < 1e-5:  # as in the paper: no saturation term, the law is M2
            return y_inf + f
        return y_inf + _solve_m4(f, y0 - y_inf, alpha)

    return predict


# ---------------------------------------------------------------------------
# BNSL with one break (Caballero, Gupta, Rish, Krueger 2022)
# ---------------------------------------------------------------------------


def bnsl_1break(x: np.ndarray, a: float, b: float, c0: float, c1: float, d1: float, f1: float) -> np.ndarray:
    """y = a + b x^-c0 (1 + (x/d1)^(1/f1))^(-c1 f1)."""
    return a + b * x ** (-c0) * (1.0 + (x / d1) ** (1.0 / f1)) ** (-c1 * f1)


def _log1p_bnsl_1break(x: np.ndarray, *params: float) -> np.ndarray:
    """log(y + 1) of the 1-break law: the space the official scripts fit in."""
    return np.log(bnsl_1break(x, *params) + 1.0)


# The official grid: (a, b exponent, c0, c1, d1 exponent, f1) as slices for
# scipy.optimize.brute, i.e. 10 x 16 x 4 x 4 x 16 x 4 = 163,840 points. b and d1
# are searched as 1.25**p - 0.9 for p in {0, 2.5, ..., 37.5}: 0.1 to ~4300.
OFFICIAL_GRID: tuple[slice, ...] = (
    slice(0.0, 1.0, 0.1),
    slice(0.0, 40.0, 2.5),
    slice(0.0, 1.0, 0.25),
    slice(0.0, 1.0, 0.25),
    slice(0.0, 40.0, 2.5),
    slice(0.0, 1.0, 0.25),
)


def _official_grid_params(p: Sequence) -> tuple:
    """Map a grid point (or arrays of them) to law parameters: b, d1 = 1.25**p - 0.9."""
    a, b_exp, c0, c1, d1_exp, f1 = p
    return a, 1.25**b_exp - 0.9, c0, c1, 1.25**d1_exp - 0.9, f1


def _scaled_x(x_train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """x -> x / min(x_train): puts the data at 1..~100 where the grid of d1 lives."""
    x_min = float(x_train.min())
    return lambda x_new: np.asarray(x_new, dtype=float) / x_min


def _curve_fit(model: Callable[..., np.ndarray], x: np.ndarray, y: np.ndarray, **options) -> np.ndarray:
    """``scipy.optimize.curve_fit`` parameters, quiet, checked to be finite.

    The covariance warning is irrelevant here (only the point estimate is
    used); a fit that does not converge still raises scipy's RuntimeError.
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", scipy.optimize.OptimizeWarning)
        params, _ = scipy.optimize.curve_fit(model, x, y, **options)
    if not np.all(np.isfinite(params)):
        raise FitError(f"curve_fit returned non-finite parameters {params}")
    return params


def _bnsl_predictor(scale: Callable[[np.ndarray], np.ndarray], params: Sequence[float]) -> Predictor:
    # numpy scalars, not Python floats: with f1 = 0 (a grid value) the law must
    # follow numpy's 1/0 = inf, as in the official scripts, not raise
    params = tuple(np.asarray(params, dtype=float))

    def predict(x_new: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return bnsl_1break(scale(x_new), *params)

    return predict


def grid_argmin(batch_objective: Callable[[np.ndarray], np.ndarray], ranges: Sequence[slice],
                chunk: int = 8192) -> np.ndarray:
    """Best point of a ``scipy.optimize.brute(..., finish=None)`` grid, vectorised.

    Same grid (``np.mgrid`` over ``ranges``, C order) and same tie rule (first
    minimum) as brute, so the result is identical, but the objective is
    evaluated on ``chunk`` points at a time instead of one Python call per
    point: ~20x faster on the 163,840-point BNSL grid, which keeps the full
    benchmark inside its time budget. ``batch_objective`` maps an array of
    points (P, N) to P values; non-finite values count as +inf.
    """
    points = np.mgrid[tuple(ranges)].reshape(len(ranges), -1).T
    values = np.empty(len(points))
    with np.errstate(all="ignore"):
        for start in range(0, len(points), chunk):
            values[start:start + chunk] = batch_objective(points[start:start + chunk])
    values[~np.isfinite(values)] = np.inf
    if not np.any(np.isfinite(values)):
        raise FitError("grid objective is not finite anywhere")
    return points[int(np.argmin(values))]


def fit_bnsl_official(x: Sequence[float], y: Sequence[float], maxfev: int = 10_000_000) -> Predictor:
    """The BNSL authors' published procedure, one break.

    1. grid search (as ``scipy.optimize.brute`` with ``finish=None``) over
       ``OFFICIAL_GRID`` of the mean squared error of log(y + 1), x divided by
       its smallest training value;
    2. ``scipy.optimize.curve_fit`` (Levenberg-Marquardt, no bounds) of
       log(y + 1) from the best grid point. The official scripts allow 1e8
       evaluations; ``maxfev`` = 1e7 (about a minute) caps it so a wandering
       fit ends as a recorded failure instead of running for an hour. On this
       benchmark the slowest fits need ~2e6 (several curves wander to b ~ 1e20,
       c0 < 0 and still extrapolate well, so a small cap would be unfair).

    Known gap: on the revisiting benchmark our per-domain medians (IC 0.028,
    NMT 0.017, LM 0.0014, BB 0.011) sit near the published means, but our
    means do not (0.082 vs 0.038 over 92 curves): on a few curves
    Levenberg-Marquardt settles on a near-discontinuous break (f1 ~ 0.005)
    near the end of the training range and extrapolates a steep power law
    (9 IC curves with RMSLE 0.2-1.2; without them the IC mean is 0.043). The published BNSL numbers were obtained with
    per-task hand tuning ("one break chosen by hand"; the official README asks
    to adjust the grid per data set), which a fixed procedure cannot replay.
    """
    x, y = _as_curve(x, y)
    scale = _scaled_x(x)
    xs = scale(x)
    target = np.log(y + 1.0)

    def grid_objective(points: np.ndarray) -> np.ndarray:
        params = _official_grid_params(points.T[:, :, None])  # each (P, 1), broadcasts over xs
        pred = _log1p_bnsl_1break(xs[None, :], *params)
        return np.mean((pred - target) ** 2, axis=1)

    grid_best = grid_argmin(grid_objective, OFFICIAL_GRID)
    params = _curve_fit(_log1p_bnsl_1break, xs, target, p0=_official_grid_params(grid_best), maxfev=maxfev)
    return _bnsl_predictor(scale, params)


def fit_curve_fit_1break(x: Sequence[float], y: Sequence[float]) -> Predictor:
    """Plain ``scipy.optimize.curve_fit`` of the 1-break law on y, default start.

    No grid search, no log transform, scipy's defaults (p0 = all ones,
    Levenberg-Marquardt, default maxfev). x is divided by its smallest
    training value like ``fit_bnsl_official`` so the two differ only in the
    search, not the units (with raw x ~ 1e8 the all-ones start is hopeless).
    """
    x, y = _as_curve(x, y)
    scale = _scaled_x(x)
    params = _curve_fit(bnsl_1break, scale(x), y, p0=np.ones(6))
    return _bnsl_predictor(scale, params)
