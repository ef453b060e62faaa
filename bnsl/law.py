"""The broken neural scaling law, evaluated in log space.

The law of Caballero, Gupta, Rish and Krueger (2022) is

    y = a + b * x**(-c0) * prod_i (1 + (x / d_i)**(1 / f_i))**(-c_i * f_i)

Written as it stands it overflows for large ``x / d_i`` and small ``f_i``. With
``u = log x`` it is equivalent to

    log(y - a) = log b - c0 * u - sum_i c_i * f_i * softplus((u - log d_i) / f_i)
    log y      = logaddexp(log a, log(y - a))

which is finite for any finite input, tends to a broken line as ``f_i -> 0``,
and is smooth for autodiff. Every evaluation in the package goes through
:func:`log_law`, in real units or in the solver's normalised units alike.

Example:
    >>> import numpy as np, bnsl
    >>> p = bnsl.BNSLParams(a=0.1, b=2.0, c0=0.3, c=[0.5], d=[1e4], f=[0.2])
    >>> y = bnsl.predict(p, np.array([1e2, 1e4, 1e6]))
    >>> bool(np.all(np.diff(y) < 0))
    True
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bnsl._fastmath import logaddexp, softplus, sum_last

__all__ = ["BNSLParams", "log_law", "log_predict", "predict"]


class BNSLParams(NamedTuple):
    """Parameters of a BNSL with ``n`` breaks; a JAX pytree.

    Attributes:
        a: the floor (irreducible value), ``a >= 0``.
        b: the scale of the first power-law segment, ``b > 0``.
        c0: the slope of the first segment on a log-log plot (``y ~ x**-c0``).
        c: change of slope at each break, shape ``(n,)``; negative values
            make the curve rise, as in double descent.
        d: where each break happens (in units of ``x``), shape ``(n,)``, increasing.
        f: the sharpness of each break, shape ``(n,)``; small is sharp.
    """

    a: jax.Array | float
    b: jax.Array | float
    c0: jax.Array | float
    c: jax.Array
    d: jax.Array
    f: jax.Array

    @property
    def n_breaks(self) -> int:
        """The number of breaks."""
        return int(np.shape(self.c)[-1]) if np.ndim(self.c) else 0

    def slopes(self) -> np.ndarray:
        """Log-log slope ``-(c0 + c1 + ... + ck)`` of each segment, away from the floor."""
        c = np.atleast_1d(np.asarray(self.c, dtype=float))
        return -np.cumsum(np.concatenate([[float(self.c0)], c]))


def log_law(log_a, log_b, c0, c, log_d, f, u, break_mask=None):
    """``log y`` of the law at ``u = log x``; the single implementation of the law.

    Args:
        log_a: log of the floor; ``-inf`` is a floor of zero.
        log_b, c0: log scale and slope of the first segment.
        c, log_d, f: per-break arrays of shape ``(n,)``.
        u: log of x, any shape.
        break_mask: optional ``(n,)`` array of 0/1; a break with mask 0 has no
            effect. The solver uses it so one compiled program serves every n.

    Returns:
        ``log y`` with the shape of ``u``.
    """
    u = jnp.asarray(u)
    c = jnp.asarray(c)
    if break_mask is not None:
        c = c * break_mask
    z = (u[..., None] - log_d) / f
    # f * softplus(z / f) tends to max(z, 0) as f -> 0, so this stays finite
    # for arbitrarily sharp breaks.
    bends = sum_last(c * f * softplus(z))
    log_excess = log_b - c0 * u - bends
    return logaddexp(log_a, log_excess)


def _as_arrays(params: BNSLParams):
    a, b, c0, c, d, f = (jnp.asarray(v) for v in params)
    return a, b, c0, jnp.atleast_1d(c), jnp.atleast_1d(d), jnp.atleast_1d(f)


def log_predict(params: BNSLParams, x) -> jax.Array:
    """``log y`` of the law at ``x``: pure, and safe under ``jax.jit`` and ``jax.vmap``.

    Prefer this to ``log(predict(...))`` where ``y`` may overflow the float type.
    """
    a, b, c0, c, d, f = _as_arrays(params)
    if c.size == 0:
        # A law with no breaks: keep the shapes the per-break sum expects.
        c = d = f = jnp.zeros((0,), dtype=jnp.result_type(b))
    return log_law(jnp.log(a), jnp.log(b), c0, c, jnp.log(d), f, jnp.log(x))


def predict(params: BNSLParams, x) -> jax.Array:
    """The law at ``x``: pure, and safe under ``jax.jit`` and ``jax.vmap``.

    Args:
        params: a :class:`BNSLParams`.
        x: positive values, any shape.

    Returns:
        ``y`` with the shape of ``x``, computed as ``exp(log_predict(params, x))``.
    """
    return jnp.exp(log_predict(params, x))
