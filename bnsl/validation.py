"""Checks on user input: every message names the argument and says how to fix it."""

from __future__ import annotations

import numpy as np

from bnsl.posterior import MAX_BREAKS, N_GLOBAL


def as_positive_vector(values, name: str, *, allow_scalar: bool = False) -> np.ndarray:
    """``values`` as a finite, strictly positive float64 array, or a ValueError naming ``name``."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected numbers, got values that are not numeric "
                         f"({exc}); convert them with float() or pandas.to_numeric first.") from None
    if arr.ndim == 0 and allow_scalar:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d sequence of numbers, got shape {arr.shape}; "
                         "pass one curve at a time, or use bnsl.fit_many for many curves.")
    if arr.size == 0:
        raise ValueError(f"{name}: is empty; pass at least a few points.")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"{name}: {int(bad.sum())} value(s) are NaN or infinite (at positions "
                         f"{where}); drop those points before fitting.")
    nonpos = arr <= 0
    if nonpos.any():
        where = np.flatnonzero(nonpos)[:5].tolist()
        raise ValueError(f"{name}: {int(nonpos.sum())} value(s) are <= 0 (at positions {where}); "
                         "the law is fitted on log scales, so every value must be positive. "
                         "Drop them, or shift or rescale the data (for an accuracy, fit the error 1 - acc).")
    return arr


def n_parameters(n_breaks: int) -> int:
    """Free parameters of a law with ``n_breaks`` breaks, noise level included."""
    return N_GLOBAL + 3 * n_breaks


def check_curve(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Validate one curve; return it sorted by x (duplicated x values are allowed)."""
    x = as_positive_vector(x, "x")
    y = as_positive_vector(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y: lengths differ ({x.size} and {y.size}); pass one y per x.")
    if np.ptp(x) == 0:
        raise ValueError("x: all values are equal; a scaling law needs a range of x values.")
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def check_n_breaks(n_breaks, max_breaks: int, n_points: int) -> list[int]:
    """The numbers of breaks to fit, checked against the data size."""
    if not isinstance(max_breaks, (int, np.integer)) or not 0 <= max_breaks <= MAX_BREAKS:
        raise ValueError(f"max_breaks: must be an integer from 0 to {MAX_BREAKS}, got {max_breaks!r}.")
    if isinstance(n_breaks, str):
        if n_breaks != "auto":
            raise ValueError(f"n_breaks: must be 'auto' or an integer from 0 to {MAX_BREAKS}, "
                             f"got {n_breaks!r}.")
        candidates = [n for n in range(max_breaks + 1) if n_parameters(n) < n_points]
        if not candidates:
            raise ValueError(f"x: {n_points} points are too few for any law ({n_parameters(0)} "
                             f"parameters with no break); pass at least {n_parameters(0) + 1} points.")
        return candidates
    if isinstance(n_breaks, bool) or not isinstance(n_breaks, (int, np.integer)) \
            or not 0 <= n_breaks <= MAX_BREAKS:
        raise ValueError(f"n_breaks: must be 'auto' or an integer from 0 to {MAX_BREAKS}, "
                         f"got {n_breaks!r}.")
    needed = n_parameters(int(n_breaks)) + 1
    if n_points < needed:
        raise ValueError(f"x: {n_points} points are too few for {n_breaks} break(s) "
                         f"({needed - 1} parameters); pass at least {needed} points or ask for "
                         "fewer breaks.")
    return [int(n_breaks)]
