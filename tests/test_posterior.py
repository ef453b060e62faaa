import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from bnsl.posterior import (N_THETA, data_residuals, data_residuals_and_jacobian,
                            heavy_tail_penalty_derivatives, heavy_tail_residual,
                            log_normaliser, model_log_y, model_log_y_and_jacobian, prior_arrays,
                            prior_residuals, prior_residuals_and_jacobian, Scale)
from bnsl.priors import Priors

finite = st.floats(-50, 50, allow_nan=False)


@given(finite, st.sampled_from([np.inf, 1.0, 3.0, 30.0]))
def test_half_square_of_the_residual_is_the_negative_log_density(z, dof):
    with jax.enable_x64(True):
        rho = float(heavy_tail_residual(jnp.asarray(z), jnp.asarray(dof)))
    dist = stats.norm() if np.isinf(dof) else stats.t(dof)
    assert np.isclose(-0.5 * rho**2 + log_normaliser(dof), dist.logpdf(z), atol=1e-9)
    if abs(z) > 1e-300:  # XLA flushes subnormals to zero
        assert np.sign(rho) == np.sign(z)


@settings(max_examples=30)
@given(finite, st.sampled_from([np.inf, 1.0, 3.0, 30.0]))
def test_written_out_penalty_derivatives_match_autodiff(z, dof):
    penalty = lambda v: 0.5 * heavy_tail_residual(v, jnp.asarray(dof)) ** 2
    with jax.enable_x64(True):
        z = jnp.asarray(z)
        d1, d2 = heavy_tail_penalty_derivatives(z, jnp.asarray(dof))
        np.testing.assert_allclose(d1, jax.grad(penalty)(z), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(d2, jax.grad(jax.grad(penalty))(z), rtol=1e-7, atol=1e-10)


@settings(max_examples=12)  # each example traces autodiff eagerly: slow
@given(st.integers(0, 4), st.integers(0, 10_000), st.booleans())
def test_hand_written_jacobians_match_autodiff(n, seed, student_t):
    rng = np.random.default_rng(seed)
    theta = jnp.asarray(rng.normal(size=N_THETA))
    s = jnp.linspace(-0.2, 1.2, 17)
    x = np.logspace(0, 3, 17)
    prior = prior_arrays(Priors(), x, 2 * x**-0.5, Scale.of(x, 2 * x**-0.5))
    with jax.enable_x64(True):
        theta = theta.astype(jnp.float64)
        _, jac = model_log_y_and_jacobian(theta, s, n)
        np.testing.assert_allclose(jac, jax.jacfwd(lambda t: model_log_y(t, s, n))(theta), atol=1e-10)
        _, jac = data_residuals_and_jacobian(theta, s, s, jnp.ones(17), n, student_t)
        fixed_noise = lambda t: data_residuals(t.at[3].set(theta[3]), s, s, jnp.ones(17), n, student_t)
        np.testing.assert_allclose(jac, jax.jacfwd(fixed_noise)(theta), atol=1e-10)
        _, slope = prior_residuals_and_jacobian(theta, n, prior)
        jac = jnp.diag(slope)
        np.testing.assert_allclose(jac, jax.jacfwd(lambda t: prior_residuals(t, n, prior))(theta),
                                   atol=1e-10)
