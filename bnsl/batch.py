"""``bnsl.fit_many``: many curves as one batched, sharded job.

Curves are padded to a few bucket sizes (16, 32, 64, ... points) and fitted in
fixed-size chunks of curves that share a number of breaks, so the programs
compile once per bucket and n, not once per curve, and memory stays bounded
however many curves there are. The chunk programs are specialised to their n
(a static shape: cheaper per curve than :func:`bnsl.fit`'s program, where n is
data) and compile in the background while the previous one runs. Each chunk is
sharded over every device JAX sees (several GPUs, or several hosts under
``jax.distributed``) with no change to the calling code. Every curve gets the
same seed, so a curve's fit is the one :func:`bnsl.fit` gives it alone (to
rounding). On CPU, a bucket with few curves is fitted curve by curve with
:func:`bnsl.fit`'s own program instead: four batch programs would cost more to
compile than they save.

Why batching gains little on a CPU: one :func:`bnsl.fit` call already runs 48
solver starts in lockstep, so it is compute-bound, not overhead-bound; the
batch's gain is the static n (normal equations and law evaluated only in the
entries a given n uses), not the batching itself.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Hashable

import jax
import jax.numpy as jnp
import numpy as np

from bnsl._jax import float64
from bnsl._program import batch_program, bucket_size, draw_noise, fit_program
from bnsl.fitting import (DEFAULT_MAX_BREAKS, assemble, build_settings, candidate_from, check_seed,
                          prepare_curve)
from bnsl.posterior import N_THETA, PriorArrays
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


@functools.lru_cache(maxsize=None)
def _compiled(settings, n_devices: int, n: int, size: int, width: int):
    """The batch program for ``width`` curves of ``size`` points, compiled ahead of its call."""
    row = jax.ShapeDtypeStruct((width, size), np.float64)
    prior = PriorArrays(*[jax.ShapeDtypeStruct((width, N_THETA), np.float64)] * 4)
    noise = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), draw_noise(0, n, settings))
    with float64():
        return batch_program(settings, n_devices, n).lower(noise, row, row, row, prior).compile()


# Below this many curves of one padded size, fit_many runs bnsl.fit's program
# curve by curve on CPU: the batch programs (one per n) then cost more to
# compile than they save. They take about 0.6 of the single program's time per
# curve, and four of them compile in about 30 s of CPU against one in 8 s
# (measured on 2 cores: benchmarks/throughput.py, docs/results/throughput.md).
BATCH_FROM_CURVES = 256


def _one_by_one(n_curves: int) -> bool:
    return jax.default_backend() == "cpu" and n_curves < BATCH_FROM_CURVES


# Batched curves run a block at a time, every n of a block before the next
# block, so that only one block's curves hold the draws of every n at once.
BLOCK_CURVES = 512


# A bucket with fewer curves than this is padded to the next one up when that
# one is fitted in batches: its four programs would compile in about 30 s of
# CPU, the work of a few hundred curves.
MIN_CURVES_PER_BUCKET = 128


def _merged_buckets(lengths: Sequence[int]) -> dict[int, int]:
    """The padded size for each curve length: its own bucket, or the next larger
    bucket if its own has few curves and that one is fitted in batches."""
    counts: dict[int, int] = {}
    for m in lengths:
        counts[bucket_size(m)] = counts.get(bucket_size(m), 0) + 1
    target, home = {}, None
    for size in sorted(counts, reverse=True):
        if home is not None and counts[size] < MIN_CURVES_PER_BUCKET and not _one_by_one(counts[home]):
            counts[home] += counts[size]
            target[size] = home
        else:
            home = target[size] = size
    return {m: target[bucket_size(m)] for m in set(lengths)}


def fit_many(data, *, x: str | None = None, y: str | None = None, by: str | Sequence[str] | None = None,
             n_breaks: int | str = "auto", max_breaks: int = DEFAULT_MAX_BREAKS, seed: int = 0,
             priors: Priors | None = None, n_prior: dict[int, float] | None = None,
             likelihood: str = "gaussian", n_starts: int = 48, max_iterations: int = 100,
             n_draws: int = 1024, chunk_size: int = 16, progress: bool | None = None) -> Fits:
    """Fit many curves at once; the same options and results as :func:`bnsl.fit` on each
    (to rounding: predictions agree to about 1e-8 and the chosen n is the same).

    Args:
        data: a pandas DataFrame in long format (one row per point), or a
            sequence (or dict) of ``(x, y)`` pairs.
        x, y: the DataFrame's columns for x and y.
        by: the column(s) that identify a curve.
        chunk_size: the most curves per compiled call (rounded up to a multiple
            of the device count, so each call spreads over every device).
            Memory grows with it. On CPU, sizes with fewer than
            ``BATCH_FROM_CURVES`` (256) curves are fitted one by one instead,
            with :func:`bnsl.fit`'s own program.
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
    checked = {}
    for key, (cx, cy) in curves.items():
        try:
            cx, cy = check_curve(cx, cy)
            ns = check_n_breaks(n_breaks, max_breaks, len(cx))
        except ValueError as err:
            results[key] = FitFailure(str(err))
            continue
        checked[key] = (cx, cy, ns)
    sizes = _merged_buckets([len(cx) for cx, _, _ in checked.values()])
    prepared = {key: (cx, cy, ns, *prepare_curve(cx, cy, priors, sizes[len(cx)]))
                for key, (cx, cy, ns) in checked.items()}

    # Curves by padded size; on CPU a size with few curves goes one by one.
    by_size: dict[int, list] = {}
    for key, (_, _, _, _, s, *_rest) in prepared.items():
        by_size.setdefault(len(s), []).append(key)
    total = sum(len(prepared[key][2]) for key in prepared)
    bar = Progress(total, "fitting", enabled=progress if progress is not None else sys.stderr.isatty())
    candidates: dict[Hashable, dict] = {key: {} for key in prepared}

    def collect(key, n, outcome):
        cx, cy, _, scale = prepared[key][:4]
        try:
            candidates[key][n] = candidate_from(outcome, n, len(cx), scale, settings.solver.student_t)
        except FloatingPointError as err:
            results[key] = FitFailure(f"{err}; try another seed or fewer breaks.")

    def finish(keys):
        # Choosing n drops the negligible candidates' draws: done as soon as a
        # curve is complete, memory holds every n's draws for a block of curves only.
        for key in keys:
            if key not in results:
                cx, cy = prepared[key][:2]
                results[key] = assemble(cx, cy, candidates[key], n_prior=n_prior, seed=seed,
                                        priors=priors, settings=settings, x_name=x or "x",
                                        y_name=y or "y")
            del candidates[key]

    one_by_one = [key for size, keys in sorted(by_size.items()) if _one_by_one(len(keys)) for key in keys]
    batched = {size: keys for size, keys in sorted(by_size.items()) if not _one_by_one(len(keys))}

    # Few curves: bnsl.fit's own program, one curve and n at a time (one compilation
    # per bucket, shared with bnsl.fit, and the very same numbers).
    with float64():
        pending = []
        for key in one_by_one:
            s_, ly, w, prior = (prepared[key][i] for i in (4, 5, 6, 7))
            args = [jnp.asarray(v) for v in (s_, ly, w)]
            prior = type(prior)(*(jnp.asarray(v) for v in prior))
            program = fit_program(settings, len(s_))
            for n in prepared[key][2]:
                # Dispatched ahead: the host summarises one while the next runs.
                pending.append((key, n, program(draw_noise(seed, n, settings), *args, n, prior)))
        for key, n, outcome in pending:
            collect(key, n, jax.device_get(outcome))
            bar.update(1)
        del pending
    finish(one_by_one)

    # Many curves: chunks of curves that share n and the random numbers, through
    # programs specialised to each n (see bnsl._program.batch_program), a block
    # of curves at a time.
    plan = []  # (size, n, width, [chunks]) in the order they run, per block
    for size, keys in batched.items():
        ns = sorted({n for key in keys for n in prepared[key][2]})
        width = {n: _chunk_width(sum(n in prepared[k][2] for k in keys), chunk_size) for n in ns}
        for block in range(0, len(keys), BLOCK_CURVES):
            block_keys = keys[block:block + BLOCK_CURVES]
            for n in ns:
                with_n = [k for k in block_keys if n in prepared[k][2]]
                chunks = [with_n[i:i + width[n]] for i in range(0, len(with_n), width[n])]
                plan.append((size, n, width[n], chunks, None))
            plan[-1] = plan[-1][:4] + (block_keys,)  # finish the block after its last n
    # Every curve gets the same seed, so one draw of the random numbers serves them all.
    noise = {n: draw_noise(seed, n, settings) for n in sorted({item[1] for item in plan})}
    # Compile each program in the background while the previous one runs: with
    # two or more cores, compiling costs little wall time beyond the first program.
    compiler = ThreadPoolExecutor(max_workers=1)
    try:
        programs = {}
        for size, n, width, _, _ in plan:
            if (size, n, width) not in programs:
                programs[size, n, width] = compiler.submit(
                    _compiled, settings, jax.device_count(), n, size, width)
        for size, n, width, chunks, block_keys in plan:
            program = programs[size, n, width].result()
            for chunk in chunks:
                # Pad the chunk with copies to a power of two: few compilations, little waste.
                padded = chunk + [chunk[0]] * (width - len(chunk))
                stack = lambda i: np.stack([prepared[k][i] for k in padded])
                prior = PriorArrays(*(np.stack([prepared[k][7][j] for k in padded]) for j in range(4)))
                with float64():
                    outcome = jax.device_get(program(noise[n], stack(4), stack(5), stack(6), prior))
                for i, key in enumerate(chunk):
                    # Copies: a view would keep the whole chunk's arrays alive with the fit.
                    collect(key, n, jax.tree.map(lambda a: np.array(a[i]), outcome))
                bar.update(len(chunk))
            if block_keys is not None:
                finish(block_keys)
    finally:
        compiler.shutdown(wait=False, cancel_futures=True)
    bar.close()
    ordered = {key: results[key] for key in curves}
    return Fits(ordered, key_names)
