"""Synthetic broken-neural-scaling-law curves shared by the accuracy benchmarks.

One generator, used by ``evidence_accuracy.py`` and ``selection_accuracy.py``, so
both figures are about the same population of curves:

* x: ``n_points`` (50) log-spaced points over ``decades`` (5) decades, 1e2 to 1e7;
* y: the BNSL ``a + b x^-c0 prod_i (1 + (x/d_i)^(1/f_i))^(-c_i f_i)`` times
  ``exp(noise * N(0, 1))``, i.e. Gaussian noise of sd ``noise`` (0.01) on ln y;
* breaks ``d_i`` log-uniform inside the central 80% of the log-x range and at
  least one decade apart (rejection sampling on the sorted locations);
* ``|c_i|`` uniform on [0.3, 1.5]; each ``c_i`` is negative with probability
  1/5 (a rising segment, double-descent-like);
* sharpness ``f_i`` log-uniform on [0.05, 0.8] (natural-log-x units: 0.8 spreads a
  break over about +-1 decade);
* ``c0`` uniform on [0, 0.5]; ``b`` such that the curve starts at
  ``y(x_min) = exp(U(0, 2))`` before the floor is added;
* the floor ``a = alpha * min(y_noiseless - a)`` with ``alpha`` uniform on [0, 0.5]:
  at most half the smallest value of the power-law part. A floor that swamps the
  last segment would hide a break that happens after the curve reaches it; with
  ``a <= 0.5 min`` the local log-log slope anywhere is at least 2/3 of the
  power-law part's, so every break stays visible.
* Curves whose segments are implausibly steep (any log-log slope
  ``c0 + c_1 + ... + c_i`` outside [-2, 3]) are redrawn, so y spans a sane range.

y is always positive (``a >= 0``, ``b > 0``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

X_MIN_DECADE = 2.0
CENTRAL = 0.8           # breaks inside the central 80% of the log-x range
MIN_GAP_DECADES = 1.0   # breaks at least a decade apart
C_RANGE = (0.3, 1.5)    # |c_i|
P_NEGATIVE = 0.2        # a fifth of the slope changes are negative
F_RANGE = (0.05, 0.8)   # sharpness, log-uniform
C0_RANGE = (0.0, 0.5)
FLOOR_FRACTION = (0.0, 0.5)
SLOPE_RANGE = (-2.0, 3.0)


class Law(NamedTuple):
    """A drawn law: the real-unit parameters (as :class:`bnsl.BNSLParams` fields)."""

    a: float
    b: float
    c0: float
    c: np.ndarray
    d: np.ndarray
    f: np.ndarray

    @property
    def n_breaks(self) -> int:
        return len(self.c)

    def log_y(self, x: np.ndarray) -> np.ndarray:
        """Noiseless ln y at x (numerically stable; same formula as bnsl.law)."""
        u = np.log(x)[:, None]
        z = (u - np.log(self.d)) / self.f
        bends = np.sum(self.c * self.f * np.logaddexp(0.0, z), axis=1) if self.n_breaks else 0.0
        excess = np.log(self.b) - self.c0 * np.log(x) - bends
        return np.logaddexp(np.log(self.a) if self.a > 0 else -np.inf, excess)

    def describe(self) -> str:
        parts = [f"a={self.a:.3g}", f"b={self.b:.3g}", f"c0={self.c0:.3f}"]
        for i in range(self.n_breaks):
            parts.append(f"[c={self.c[i]:+.2f} d=1e{np.log10(self.d[i]):.2f} f={self.f[i]:.2f}]")
        return " ".join(parts)


def grid(n_points: int = 50, decades: float = 5.0) -> np.ndarray:
    return np.logspace(X_MIN_DECADE, X_MIN_DECADE + decades, n_points)


def _locations(rng: np.random.Generator, n: int, decades: float) -> np.ndarray:
    lo = X_MIN_DECADE + 0.5 * (1 - CENTRAL) * decades
    hi = X_MIN_DECADE + decades - 0.5 * (1 - CENTRAL) * decades
    while True:
        t = np.sort(rng.uniform(lo, hi, size=n))
        if n < 2 or np.min(np.diff(t)) >= MIN_GAP_DECADES:
            return t


def draw_law(rng: np.random.Generator, n: int, decades: float = 5.0) -> Law:
    """One random law with ``n`` breaks over ``decades`` decades of x (see module docs)."""
    x = grid(200, decades)
    while True:
        c0 = rng.uniform(*C0_RANGE)
        mag = rng.uniform(*C_RANGE, size=n)
        sign = np.where(rng.uniform(size=n) < P_NEGATIVE, -1.0, 1.0)
        c = mag * sign
        slopes = c0 + np.cumsum(c)
        if n and (slopes.min() < SLOPE_RANGE[0] or slopes.max() > SLOPE_RANGE[1]):
            continue
        d = 10.0 ** _locations(rng, n, decades)
        f = np.exp(rng.uniform(np.log(F_RANGE[0]), np.log(F_RANGE[1]), size=n))
        start = rng.uniform(0.0, 2.0)
        law = Law(0.0, 1.0, c0, c, d, f)
        b = float(np.exp(start - law.log_y(x[:1])[0]))
        law = law._replace(b=b)
        a = rng.uniform(*FLOOR_FRACTION) * float(np.exp(law.log_y(x).min()))
        return law._replace(a=a)


def draw_curve(rng: np.random.Generator, n: int, n_points: int = 50, decades: float = 5.0,
               noise: float = 0.01) -> tuple[np.ndarray, np.ndarray, Law]:
    """``(x, y, law)``: a law with ``n`` breaks observed with noise sd ``noise`` on ln y."""
    law = draw_law(rng, n, decades)
    x = grid(n_points, decades)
    y = np.exp(law.log_y(x) + noise * rng.standard_normal(n_points))
    return x, y, law
