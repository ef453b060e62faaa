"""``bnsl.fit_many``: many curves as one batched, sharded job.

Curves are padded to a few bucket sizes (16, 32, 64, ... points) and fitted in
fixed-size chunks, so the program compiles once per bucket, not once per
curve, and memory stays bounded however many curves there are. Each chunk is
sharded over every device JAX sees (several GPUs, or several hosts under
``jax.distributed``) with no change to the calling code. Every curve gets the
same seed, so a curve's fit is the one :func:`bnsl.fit` gives it alone.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Hashable

import jax
import jax.numpy as jnp
import numpy as np

from bnsl._jax import float64
from bnsl._program import batch_program, bucket_size
from bnsl.fitting import (DEFAULT_MAX_BREAKS, assemble, build_settings, candidate_from, check_seed,
                          prepare_curve)
from bnsl.posterior import PriorArrays
from bnsl.priors import Priors, check_priors
from bnsl.progress import Progress
from bnsl.result import Fit
from bnsl.validation import check_curve, check_n_breaks

__all__ = ["FitFailure", "Fits", "fit_many"]


class FitFailure:
    """Stands in for the :class:`Fit` of a curve that could not be fitted, saying why."""

    def __init__(self, reason: str):
        self.reason = reason

    def __repr__(self) -> str:
        return f"FitFailure({self.reason!r})"


class Fits(Mapping):
    """A read-only mapping from each curve's key to its :class:`Fit` (or :class:`FitFailure`)."""

    def __init__(self, fits: dict[Hashable, Fit | FitFailure], key_names: Sequence[str]):
        self._fits = fits
        self.key_names = list(key_names)

    def __getitem__(self, key):
        return self._fits[key]

    def __iter__(self) -> Iterator:
        return iter(self._fits)

    def __len__(self) -> int:
        return len(self._fits)

    @property
    def failures(self) -> dict[Hashable, FitFailure]:
        return {k: v for k, v in self._fits.items() if isinstance(v, FitFailure)}

    def to_frame(self):
        """One row per curve: keys, chosen n, parameters, log evidence per n, RMSLE, status."""
        import pandas as pd

        rows = []
        for key, fit in self._fits.items():
            keys = key if isinstance(key, tuple) else (key,)
            row: dict[str, Any] = dict(zip(self.key_names, keys))
            if isinstance(fit, FitFailure):
                row.update(converged=False, status="failed", message=fit.reason)
                rows.append(row)
                continue
            p = fit.params
            row.update(n_breaks=fit.n_breaks, a=p.a, b=p.b, c0=p.c0)
            for i in range(fit.n_breaks):
                row.update({f"c{i + 1}": p.c[i], f"d{i + 1}": p.d[i], f"f{i + 1}": p.f[i]})
            row.update({f"log_evidence_{n}": v for n, v in fit.log_evidence.items()})
            row.update(rmsle=fit.rmsle, converged=fit.converged, status=fit.status,
                       message=fit.message)
            rows.append(row)
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return f"Fits({len(self)} curves, {len(self.failures)} failed)"


def _curves_from(data, x, y, by) -> tuple[dict[Hashable, tuple[Any, Any]], list[str]]:
    """``{key: (x, y)}`` and the key names from a long DataFrame or a sequence of pairs."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        if x is None or y is None:
            raise ValueError("x, y: name the DataFrame's columns, e.g. fit_many(df, x='params', "
                             "y='loss', by=['task']).")
        by = [] if by is None else ([by] if isinstance(by, str) else list(by))
        missing = [c for c in [x, y, *by] if c not in data.columns]
        if missing:
            raise ValueError(f"data: no column(s) {missing}; the columns are {list(data.columns)}.")
        if not by:
            return {0: (data[x].to_numpy(), data[y].to_numpy())}, ["curve"]
        groups = data.groupby(by if len(by) > 1 else by[0], sort=True, dropna=False)
        return {key: (g[x].to_numpy(), g[y].to_numpy()) for key, g in groups}, by
    if isinstance(data, Mapping):
        return {k: tuple(v) for k, v in data.items()}, ["curve"]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return {i: tuple(pair) for i, pair in enumerate(data)}, ["curve"]
    raise ValueError("data: expected a pandas DataFrame (long format, one row per point), a "
                     f"sequence of (x, y) pairs or a dict of them, got {type(data).__name__}.")


def _chunk_width(n_curves: int, chunk_size: int) -> int:
    """Curves per compiled call: a power of two up to ``chunk_size``, a multiple of the devices."""
    devices = jax.device_count()
    width = min(chunk_size, 1 << max(n_curves - 1, 0).bit_length())
    return -(-width // devices) * devices


def fit_many(data, *, x: str | None = None, y: str | None = None, by: str | Sequence[str] | None = None,
             n_breaks: int | str = "auto", max_breaks: int = DEFAULT_MAX_BREAKS, seed: int = 0,
             priors: Priors | None = None, n_prior: dict[int, float] | None = None,
             likelihood: str = "gaussian", n_starts: int = 48, max_iterations: int = 100,
             n_draws: int = 1024, chunk_size: int = 64, progress: bool | None = None) -> Fits:
    """Fit many curves at once; the same options and results as :func:`bnsl.fit` on each.

    Args:
        data: a pandas DataFrame in long format (one row per point), or a
            sequence (or dict) of ``(x, y)`` pairs.
        x, y: the DataFrame's columns for x and y.
        by: the column(s) that identify a curve.
        chunk_size: the most curves per compiled call (rounded up to a multiple
            of the device count, so each call spreads over every device).
            Memory grows with it.
        progress: show a progress bar on standard error; default: when it is a terminal.
        n_breaks, max_breaks, seed, priors, n_prior, likelihood, n_starts,
        max_iterations, n_draws: as in :func:`bnsl.fit`.

    Returns:
        :class:`Fits`, a mapping from each curve's key (the ``by`` values, or
        the position in the sequence) to its :class:`bnsl.Fit`, or to a
        :class:`FitFailure` saying why that curve could not be fitted.

    Example:
        >>> import numpy as np, pandas as pd, bnsl
        >>> x = np.logspace(1, 4, 20)
        >>> df = pd.DataFrame({"x": np.r_[x, x], "y": np.r_[2 * x**-0.3, 3 * x**-0.5],
        ...                    "task": ["a"] * 20 + ["b"] * 20})
        >>> fits = bnsl.fit_many(df, x="x", y="y", by="task", n_breaks=0, progress=False)
        >>> round(fits["b"].params.c0, 3)
        0.5
    """
    curves, key_names = _curves_from(data, x, y, by)
    priors = check_priors(Priors() if priors is None else priors)
    seed = check_seed(seed)
    settings = build_settings(n_starts, max_iterations, n_draws, likelihood)
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size: must be a positive integer, got {chunk_size!r}.")

    results: dict[Hashable, Fit | FitFailure] = {}
    prepared = {}
    for key, (cx, cy) in curves.items():
        try:
            cx, cy = check_curve(cx, cy)
            ns = check_n_breaks(n_breaks, max_breaks, len(cx))
        except ValueError as err:
            results[key] = FitFailure(str(err))
            continue
        prepared[key] = (cx, cy, ns, *prepare_curve(cx, cy, priors, bucket_size(len(cx))))

    # Work items: (bucket size, n) -> curve keys; one compiled program per bucket.
    work: dict[tuple[int, int], list] = {}
    for key, (cx, _, ns, _, s, *_rest) in prepared.items():
        for n in ns:
            work.setdefault((len(s), n), []).append(key)
    total = sum(len(keys) for keys in work.values())
    bar = Progress(total, "fitting", enabled=progress if progress is not None else sys.stderr.isatty())
    candidates: dict[Hashable, dict] = {key: {} for key in prepared}
    with float64():
        base = jax.random.PRNGKey(seed)
        for (size, n), keys in sorted(work.items()):
            width = _chunk_width(len(keys), chunk_size)
            for start in range(0, len(keys), width):
                chunk = keys[start:start + width]
                # Pad the chunk with copies to a power of two: few compilations, little waste.
                padded = chunk + [chunk[0]] * (width - len(chunk))
                stack = lambda i: np.stack([prepared[k][i] for k in padded])
                prior = PriorArrays(*(np.stack([prepared[k][7][j] for k in padded]) for j in range(4)))
                keys_arr = jnp.stack([jax.random.fold_in(base, n)] * width)
                args = [keys_arr, stack(4), stack(5), stack(6), np.full(width, n), prior]
                outcome = jax.device_get(batch_program(settings, jax.device_count())(*args))
                for i, key in enumerate(chunk):
                    cx, cy, _, scale = prepared[key][:4]
                    one = jax.tree.map(lambda a: a[i], outcome)
                    try:
                        candidates[key][n] = candidate_from(one, n, len(cx), scale,
                                                            settings.solver.student_t)
                    except FloatingPointError as err:
                        results[key] = FitFailure(f"{err}; try another seed or fewer breaks.")
                bar.update(len(chunk))
    bar.close()

    for key, (cx, cy, *_rest) in prepared.items():
        if key in results:
            continue
        results[key] = assemble(cx, cy, candidates[key], n_prior=n_prior,
                                seed=seed, x_name=x or "x", y_name=y or "y")
    ordered = {key: results[key] for key in curves}
    return Fits(ordered, key_names)
