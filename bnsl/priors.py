"""Proper priors for the BNSL parameters, scaled to the data.

Every prior is stated in units normalised to the curve being fitted, so that one
set of defaults serves x from 1e2 to 1e12 and y from 1e-4 to 1e2:

* ``s = (log x - log x_min) / (log x_max - log x_min)`` runs from 0 to 1 over the data;
* slopes are the change of ``log y`` over the observed log-x range (a real
  slope ``c`` is ``k = c * (log x_max - log x_min)``);
* break sharpness ``g = f / (log x_max - log x_min)``;
* the floor ``a`` is relative to the smallest observed ``y``; the noise of
  ``log y`` is relative to the observed range of ``log y``.

The same priors hold for every number of breaks, and each extra break brings a
proper prior of its own, so evidences are comparable across ``n``.

Example:
    >>> import bnsl
    >>> wide = bnsl.Priors(slope_change=bnsl.StudentT(0.0, 10.0, 3.0))
    >>> fit = bnsl.fit([1, 2, 4, 8, 16, 32, 64, 128], [8, 6, 4.4, 3.3, 2.5, 1.9, 1.5, 1.2],
    ...                n_breaks=0, priors=wide)
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["Normal", "StudentT", "Priors"]


class Normal(NamedTuple):
    """A normal distribution."""

    loc: float
    scale: float


class StudentT(NamedTuple):
    """A Student-t distribution with ``dof`` degrees of freedom (heavy tails)."""

    loc: float
    scale: float
    dof: float


Distribution = Normal | StudentT


class Priors(NamedTuple):
    """Priors of a BNSL fit, in the data-normalised units described in the module docs.

    Attributes:
        log_floor: ``log(a / min(y))``. The default puts the floor's median at
            ``min(y) / e`` with two e-folds of spread: a floor well below the
            data is as plausible as one just under it.
        intercept: ``log(y - a)`` at the smallest x, relative to ``log y`` there.
        slope: the first segment's slope ``k0`` (change of log y over the data).
        slope_change: each break's change of slope ``k_i``; heavy-tailed so a
            sharp, deep break (grokking) is not ruled out.
        break_location: the first break's position ``s``; the default covers the
            data with a margin of about half its log range on either side.
        break_gap: ``log`` of the distance (in ``s``) from each break to the
            next. Breaks stay ordered, so relabelling cannot copy modes, and
            two breaks cannot merge into one: the default's median gap is a
            quarter of the data's log range (95% from 0.04 to 1.8).
        log_sharpness: ``log g``; the default spans g from about 0.002 to 0.6,
            from a break sharper than the spacing of 50 points to one as wide as
            the data.
        log_noise: ``log(sigma / range(log y))`` where sigma is the standard
            deviation of the noise on ``log y``.
        drift: ``tau`` in units of the data's mean log-log slope
            ``range(log y) / range(log x)``, folded at zero. ``tau`` is the
            standard deviation of the error of the law's log-log slope beyond
            the data (see :mod:`bnsl.extrapolation`); it widens predictions of
            new observations there and nothing else. The default, a half-Cauchy
            with scale 0.2, says the slope beyond the data is typically within
            a fifth of the data's mean slope of the fitted one, and its heavy
            tail lets a curve that the law describes badly say so.
    """

    log_floor: Distribution = Normal(-1.0, 2.0)
    intercept: Distribution = Normal(0.0, 3.0)
    slope: Distribution = StudentT(0.0, 3.0, 3.0)
    slope_change: Distribution = StudentT(0.0, 3.0, 3.0)
    break_location: Distribution = Normal(0.5, 0.5)
    break_gap: Distribution = Normal(math.log(0.25), 1.0)
    log_sharpness: Distribution = Normal(math.log(0.03), 1.5)
    log_noise: Distribution = Normal(math.log(0.02), 2.5)
    drift: Distribution = StudentT(0.0, 0.2, 1.0)


def dof_of(dist: Distribution) -> float:
    """Degrees of freedom of a prior; ``inf`` for a normal."""
    return float(dist.dof) if isinstance(dist, StudentT) else math.inf


def check_priors(priors: Priors) -> Priors:
    """Reject priors that are not proper distributions, naming the field."""
    if not isinstance(priors, Priors):
        raise ValueError(f"priors: expected a bnsl.Priors, got {type(priors).__name__}; "
                         "build one with bnsl.Priors(field=bnsl.Normal(loc, scale), ...).")
    for name, dist in priors._asdict().items():
        if not isinstance(dist, (Normal, StudentT)):
            raise ValueError(f"priors.{name}: expected bnsl.Normal or bnsl.StudentT, got {dist!r}.")
        if not (math.isfinite(dist.loc) and math.isfinite(dist.scale) and dist.scale > 0):
            raise ValueError(f"priors.{name}: loc must be finite and scale a positive number, "
                             f"got {dist!r}.")
        if isinstance(dist, StudentT) and not (dist.dof > 0 and math.isfinite(dist.dof)):
            raise ValueError(f"priors.{name}: dof must be a positive finite number, got {dist.dof!r}.")
    return priors
