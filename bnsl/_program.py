"""The compiled program that fits one law and estimates its evidence.

One program serves every number of breaks (``n_breaks`` is data, not shape)
and, once points are padded to a bucket size, every curve length in that
bucket; :func:`batch_program` is the same computation vectorised over curves
that share a static ``n_breaks`` and one draw of the random numbers.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bnsl.evidence import Evidence, SampleNoise, estimate, sample_noise
from bnsl._jax import float64
from bnsl.posterior import N_THETA, PriorArrays, log_joint, theta_mask
from bnsl.solver import (Optima, Solution, SolverSettings, StartNoise, best_optima, solve_starts,
                         start_noise)

BUCKETS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class Settings(NamedTuple):
    """Static settings of the whole program; changing one recompiles."""

    solver: SolverSettings = SolverSettings()
    n_draws: int = 1024


class Outcome(NamedTuple):
    optima: Optima
    evidence: Evidence
    mode_rmsle: jax.Array  # (K,) RMSLE of each mode on the (unpadded) points


class Noise(NamedTuple):
    """Every random number of one fit: a function of the key alone, never of the data."""

    starts: StartNoise
    draws: SampleNoise


def bucket_size(n_points: int) -> int:
    """The padded length for a curve of ``n_points``: one compilation per bucket."""
    for size in BUCKETS:
        if n_points <= size:
            return size
    return -(-n_points // BUCKETS[-1]) * BUCKETS[-1]


def draw_noise(seed: int, n_breaks: int, settings: Settings, stream: tuple[int, ...] = ()) -> Noise:
    """The random numbers of the fit of ``n_breaks`` breaks under ``seed`` (float64, host
    side); a ``stream`` gives an independent set under the same seed."""
    rng = np.random.default_rng([seed % 2**63, n_breaks, *stream])
    return Noise(start_noise(rng, settings.solver.n_starts),
                 sample_noise(rng, settings.n_draws, settings.solver.n_modes))


def _evidence_of(draws: SampleNoise, sol: Solution, s, log_y, weight, n_breaks, prior: PriorArrays,
                 settings: Settings) -> Outcome:
    """The second half of a fit: the best distinct optima, their evidence and RMSLE."""
    optima = best_optima(sol, weight, n_breaks, prior, settings.solver)
    args = (s, log_y, weight, n_breaks, prior, settings.solver.student_t)
    evidence = estimate(draws, optima.theta, optima.log_joint, optima.valid, optima.curvature,
                        lambda th: log_joint(th, *args), theta_mask(n_breaks))
    sq = jnp.sum(weight * optima.residual**2, axis=1)
    return Outcome(optima, evidence, jnp.sqrt(sq / jnp.sum(weight)))


def _fit_with_noise(noise: Noise, s, log_y, weight, n_breaks, prior: PriorArrays,
                    settings: Settings) -> Outcome:
    sol = solve_starts(noise.starts, s, log_y, weight, n_breaks, prior, settings.solver)
    return _evidence_of(noise.draws, sol, s, log_y, weight, n_breaks, prior, settings)


# LLVM's -O1 compiles these programs a third faster than its default -O2, and
# they run as fast: their time goes to LAPACK, dot kernels and exp, not to
# code LLVM's heavier passes would improve.
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


class FitProgram(NamedTuple):
    """:func:`bnsl.fit`'s compiled program for one bucket size, in two halves."""

    solve: Any     # (start noise, s, log y, weight, n, prior) -> Solution of every start
    evidence: Any  # (draw noise, Solution, s, log y, weight, n, prior) -> Outcome

    def __call__(self, noise: Noise, s, log_y, weight, n_breaks: int, prior: PriorArrays) -> Outcome:
        n = np.int32(n_breaks)
        sol = self.solve(noise.starts, s, log_y, weight, n, prior)
        return self.evidence(noise.draws, sol, s, log_y, weight, n, prior)


def _spec(tree):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), tree)


@functools.lru_cache(maxsize=None)
def fit_program(settings: Settings, size: int) -> FitProgram:
    """The program for curves padded to ``size`` points, any number of breaks
    (``n_breaks`` is data, not shape, so one program serves a whole auto fit).

    It comes in two halves, the multistart solve and the evidence, compiled at
    the same time on two threads: compilation dominates the time to a first
    result, XLA compiles one program on one core, and the two halves take
    similar times. The random numbers come in as arguments (from
    :func:`draw_noise`): a generator inside would cost a good share of the
    compilation time.
    """
    row = jax.ShapeDtypeStruct((size,), np.float64)
    n = jax.ShapeDtypeStruct((), np.int32)
    prior = PriorArrays(*[jax.ShapeDtypeStruct((N_THETA,), np.float64)] * 4)
    noise = _spec(draw_noise(0, 0, settings))
    jit = lambda f: jax.jit(f, static_argnames="settings", compiler_options=COMPILER_OPTIONS)
    with float64():
        solve = jit(solve_starts).trace(noise.starts, row, row, row, n, prior,
                                        settings=settings.solver).lower()
        evidence = jit(_evidence_of).trace(noise.draws, solve.out_info, row, row, row, n, prior,
                                           settings=settings).lower()
        with ThreadPoolExecutor(max_workers=1) as pool:
            later = pool.submit(evidence.compile)
            solve = solve.compile()
            return FitProgram(solve, later.result())


def _fit_batch(noise, s, log_y, weight, prior, n_breaks: int, settings: Settings):
    one = lambda s_, ly, w, p: _fit_with_noise(noise, s_, ly, w, int(n_breaks), p, settings)
    return jax.vmap(one)(s, log_y, weight, prior)


@functools.lru_cache(maxsize=None)
def batch_program(settings: Settings, n_devices: int, n_breaks: int):
    """:func:`fit_program` over a leading axis of curves that share ``n_breaks`` and
    the random numbers (``noise``, from :func:`draw_noise`), split over
    ``n_devices`` devices.

    ``n_breaks`` is static here (one compilation per n): the solver then forms
    its normal equations in the entries that move and evaluates only the active
    breaks, which makes small n several times cheaper than in :func:`fit_program`
    (where n is data, so that one program serves a whole auto fit). The results
    agree with :func:`fit_program`'s to rounding.

    With several devices each one runs the vectorised program on its own share
    of the curves through ``shard_map``: curves are independent, so no device
    ever waits on another (a plain sharded ``vmap`` would synchronise every
    solver iteration across devices).
    """
    body = lambda noise, *args: _fit_batch(noise, *args, n_breaks, settings)
    if n_devices == 1:
        return jax.jit(body, compiler_options=COMPILER_OPTIONS)
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:n_devices]), ("curves",))
    spec, replicated = jax.sharding.PartitionSpec("curves"), jax.sharding.PartitionSpec()
    # check_vma=False: the solver's loop constants are replicated, its state per-device;
    # nothing crosses devices, so the replication check has nothing to protect.
    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=(replicated, spec, spec, spec, spec),
                                 out_specs=spec, check_vma=False),
                   compiler_options=COMPILER_OPTIONS)

