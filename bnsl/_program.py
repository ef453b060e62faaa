"""The compiled program that fits one law and estimates its evidence.

One program serves every number of breaks (``n_breaks`` is data, not shape)
and, once points are padded to a bucket size, every curve length in that
bucket; :func:`batch_program` is the same program vectorised over curves.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bnsl.evidence import Evidence, estimate
from bnsl.posterior import PriorArrays, log_joint, model_log_y, theta_mask
from bnsl.solver import Optima, SolverSettings, find_optima

BUCKETS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class Settings(NamedTuple):
    """Static settings of the whole program; changing one recompiles."""

    solver: SolverSettings = SolverSettings()
    n_draws: int = 1024


class Outcome(NamedTuple):
    optima: Optima
    evidence: Evidence
    mode_rmsle: jax.Array  # (K,) RMSLE of each mode on the (unpadded) points


def bucket_size(n_points: int) -> int:
    """The padded length for a curve of ``n_points``: one compilation per bucket."""
    for size in BUCKETS:
        if n_points <= size:
            return size
    return -(-n_points // BUCKETS[-1]) * BUCKETS[-1]


def _fit_one_n(key, s, log_y, weight, n_breaks, prior: PriorArrays, settings: Settings) -> Outcome:
    k_solve, k_draw = jax.random.split(key)
    optima = find_optima(k_solve, s, log_y, weight, n_breaks, prior, settings.solver)
    args = (s, log_y, weight, n_breaks, prior, settings.solver.student_t)
    evidence = estimate(k_draw, optima.theta, optima.log_joint, optima.valid, optima.curvature,
                        lambda th: log_joint(th, *args), theta_mask(n_breaks), settings.n_draws)
    sq = jax.vmap(lambda th: jnp.sum(weight * (model_log_y(th, s, n_breaks) - log_y) ** 2))(optima.theta)
    return Outcome(optima, evidence, jnp.sqrt(sq / jnp.sum(weight)))


fit_one_n = jax.jit(_fit_one_n, static_argnames="settings")


def _fit_batch(keys, s, log_y, weight, n_breaks, prior, settings):
    one = lambda k, s_, ly, w, n, p: _fit_one_n(k, s_, ly, w, n, p, settings)
    return jax.vmap(one)(keys, s, log_y, weight, n_breaks, prior)


@functools.lru_cache(maxsize=None)
def batch_program(settings: Settings, n_devices: int):
    """:func:`fit_one_n` over a leading axis of curves, split over ``n_devices`` devices.

    With several devices each one runs the vectorised program on its own share
    of the curves through ``shard_map``: curves are independent, so no device
    ever waits on another (a plain sharded ``vmap`` would synchronise every
    solver iteration across devices).
    """
    body = lambda *args: _fit_batch(*args, settings)
    if n_devices == 1:
        return jax.jit(body)
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:n_devices]), ("curves",))
    spec = jax.sharding.PartitionSpec("curves")
    # check_vma=False: the solver's loop constants are replicated, its state per-device;
    # nothing crosses devices, so the replication check has nothing to protect.
    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False))
