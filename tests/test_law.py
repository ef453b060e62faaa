import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bnsl
from bnsl.law import log_law


def naive(p, x):
    """The law exactly as written in the paper; overflows easily, fine on tame inputs."""
    y = p.b * x ** (-p.c0)
    for c, d, f in zip(p.c, p.d, p.f):
        y = y * (1 + (x / d) ** (1 / f)) ** (-c * f)
    return p.a + y


@st.composite
def laws(draw, max_breaks=4, min_f=1e-4):
    n = draw(st.integers(0, max_breaks))
    floats = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    d = sorted(10 ** draw(floats(-3, 6)) for _ in range(n))
    return bnsl.BNSLParams(
        a=draw(st.sampled_from([0.0, 1e-3, 0.5])),
        b=10 ** draw(floats(-2, 2)),
        c0=draw(floats(-1, 2)),
        c=np.array([draw(floats(-2, 2)) for _ in range(n)]),
        d=np.array(d),
        f=np.array([10 ** draw(floats(np.log10(min_f), 0.5)) for _ in range(n)]),
    )


@given(laws())
def test_log_predict_is_finite_over_sixty_decades(p):
    x = np.logspace(-30, 30, 121)
    with jax.enable_x64(True):
        out = np.asarray(bnsl.log_predict(p, x))
    assert np.all(np.isfinite(out))


@given(laws(max_breaks=2, min_f=0.05))
def test_log_space_form_equals_the_law_as_written(p):
    x = np.logspace(-1, 5, 25)
    with np.errstate(all="ignore"):
        expected = naive(p, x)
    ok = np.isfinite(expected) & (expected > 1e-280) & (expected < 1e280)
    with jax.enable_x64(True):
        got = np.asarray(bnsl.predict(p, x))
    np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-9)


def test_sharp_break_tends_to_a_broken_line():
    p = bnsl.BNSLParams(a=0.0, b=1.0, c0=0.5, c=np.array([1.0]), d=np.array([100.0]), f=np.array([1e-4]))
    x = np.array([1.0, 10.0, 1e3, 1e4])
    with jax.enable_x64(True):
        y = np.asarray(bnsl.predict(p, x))
    # Slope -0.5 before the break, -1.5 after it, continuous at d.
    np.testing.assert_allclose(y, [1.0, 10**-0.5, 1e-1 * 10**-1.5, 1e-1 * 10**-3], rtol=1e-6)


def test_negative_slope_change_makes_the_curve_rise():
    p = bnsl.BNSLParams(a=0.0, b=1.0, c0=0.5, c=np.array([-1.0]), d=np.array([100.0]), f=np.array([0.1]))
    y = np.asarray(bnsl.predict(p, np.array([1e3, 1e4, 1e5])))
    assert np.all(np.diff(y) > 0)
    np.testing.assert_allclose(p.slopes(), [-0.5, 0.5])


def test_predict_under_jit_and_vmap_matches_eager():
    p = bnsl.BNSLParams(a=0.1, b=2.0, c0=0.3, c=jnp.array([0.5, -0.2]), d=jnp.array([1e2, 1e4]),
                        f=jnp.array([0.3, 0.1]))
    x = jnp.logspace(0, 6, 13)
    eager = bnsl.predict(p, x)
    np.testing.assert_allclose(jax.jit(bnsl.predict)(p, x), eager, rtol=1e-6)
    batch = jax.tree.map(lambda v: jnp.stack([v, v * 1.1]), p)
    out = jax.vmap(bnsl.predict, in_axes=(0, None))(batch, x)
    assert out.shape == (2, 13)
    np.testing.assert_allclose(out[0], eager, rtol=1e-6)
    assert not np.allclose(out[1], eager)


@pytest.mark.parametrize("log_a", [-50.0, -np.inf])
def test_gradients_are_finite_for_sharp_breaks_and_zero_floor(log_a):
    u = jnp.linspace(-5.0, 20.0, 50)
    grad = jax.grad(lambda args: jnp.sum(log_law(log_a, *args, u)))(
        (0.0, 0.3, jnp.array([0.7]), jnp.array([5.0]), jnp.array([1e-4])))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grad))


def test_zero_breaks_law():
    p = bnsl.BNSLParams(a=0.0, b=2.0, c0=0.5, c=np.array([]), d=np.array([]), f=np.array([]))
    np.testing.assert_allclose(bnsl.predict(p, np.array([1.0, 4.0])), [2.0, 1.0], rtol=1e-6)
    assert p.n_breaks == 0
