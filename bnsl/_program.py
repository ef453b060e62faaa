"""The compiled program that fits one law and estimates its evidence.

One program serves every number of breaks (``n_breaks`` is data, not shape)
and, once points are padded to a bucket size, every curve length in that
bucket; :func:`batch_program` is the same computation vectorised over curves
that share a static ``n_breaks`` and one draw of the random numbers.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bnsl.evidence import Evidence, SampleNoise, estimate, sample_noise
from bnsl.posterior import PriorArrays, log_joint, model_log_y, theta_mask
from bnsl.solver import Optima, SolverSettings, StartNoise, find_optima, start_noise

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


def draw_noise(key, settings: Settings) -> Noise:
    k_solve, k_draw = jax.random.split(key)
    return Noise(start_noise(k_solve, settings.solver.n_starts),
                 sample_noise(k_draw, settings.n_draws, settings.solver.n_modes))


def _fit_with_noise(noise: Noise, s, log_y, weight, n_breaks, prior: PriorArrays,
                    settings: Settings) -> Outcome:
    optima = find_optima(noise.starts, s, log_y, weight, n_breaks, prior, settings.solver)
    args = (s, log_y, weight, n_breaks, prior, settings.solver.student_t)
    evidence = estimate(noise.draws, optima.theta, optima.log_joint, optima.valid, optima.curvature,
                        lambda th: log_joint(th, *args), theta_mask(n_breaks))
    sq = jax.vmap(lambda th: jnp.sum(weight * (model_log_y(th, s, n_breaks) - log_y) ** 2))(optima.theta)
    return Outcome(optima, evidence, jnp.sqrt(sq / jnp.sum(weight)))


def _fit_one_n(key, s, log_y, weight, n_breaks, prior: PriorArrays, settings: Settings) -> Outcome:
    return _fit_with_noise(draw_noise(key, settings), s, log_y, weight, n_breaks, prior, settings)


# LLVM's -O1 compiles these programs a third faster than its default -O2, and
# they run as fast: their time goes to LAPACK, dot kernels and exp, not to
# code LLVM's heavier passes would improve.
COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}

fit_one_n = jax.jit(_fit_one_n, static_argnames="settings", compiler_options=COMPILER_OPTIONS)


@functools.lru_cache(maxsize=None)
def noise_program(settings: Settings):
    """:func:`draw_noise` alone: the batch shares one draw among its curves."""
    return jax.jit(lambda key: draw_noise(key, settings), compiler_options=COMPILER_OPTIONS)


def _fit_batch(noise, s, log_y, weight, prior, n_breaks: int, settings: Settings):
    one = lambda s_, ly, w, p: _fit_with_noise(noise, s_, ly, w, int(n_breaks), p, settings)
    return jax.vmap(one)(s, log_y, weight, prior)


@functools.lru_cache(maxsize=None)
def batch_program(settings: Settings, n_devices: int, n_breaks: int):
    """:func:`fit_one_n` over a leading axis of curves that share ``n_breaks`` and
    the random numbers (``noise``, from :func:`noise_program`), split over
    ``n_devices`` devices.

    ``n_breaks`` is static here (one compilation per n): the solver then forms
    its normal equations in the entries that move and evaluates only the active
    breaks, which makes small n several times cheaper than in :func:`fit_one_n`
    (where n is data, so that one program serves a whole auto fit). The random
    numbers come in from outside, once for the whole batch, so the program holds
    no random number generator (a third of its compilation time). The results
    agree with :func:`fit_one_n`'s to rounding.

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
