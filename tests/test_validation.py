import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bnsl

X = np.logspace(1, 4, 12)
Y = 2.0 * X**-0.3


@pytest.mark.parametrize(
    "x, y, argument, hint",
    [
        (np.r_[X[:-1], np.nan], Y, "x", "NaN"),
        (X, np.r_[Y[:-1], np.inf], "y", "infinite"),
        (np.r_[0.0, X[1:]], Y, "x", "<= 0"),
        (X, np.r_[-1.0, Y[1:]], "y", "<= 0"),
        (X[:-1], Y, "x and y", "lengths differ"),
        (["a"] * 12, Y, "x", "not numeric"),
        (X.reshape(3, 4), Y.reshape(3, 4), "x", "1-d"),
        ([], [], "x", "empty"),
        (np.full(12, 5.0), Y, "x", "all values are equal"),
    ],
)
def test_bad_curves_name_the_argument_and_the_fix(x, y, argument, hint):
    with pytest.raises(ValueError) as err:
        bnsl.fit(x, y, n_breaks=0)
    assert str(err.value).startswith(argument + ":")
    assert hint in str(err.value)


def test_too_few_points_for_the_breaks_asked():
    with pytest.raises(ValueError, match=r"x: 6 points are too few for 1 break\(s\).*at least 8"):
        bnsl.fit(X[:6], Y[:6], n_breaks=1)
    with pytest.raises(ValueError, match="too few for any law"):
        bnsl.fit(X[:4], Y[:4])


@pytest.mark.parametrize("kwargs, argument", [
    ({"n_breaks": 5}, "n_breaks"), ({"n_breaks": "two"}, "n_breaks"), ({"n_breaks": 1.5}, "n_breaks"),
    ({"max_breaks": 7}, "max_breaks"), ({"seed": "x"}, "seed"), ({"likelihood": "cauchy"}, "likelihood"),
    ({"n_starts": 1}, "n_starts"), ({"priors": {"slope": 1}}, "priors"),
    ({"priors": bnsl.Priors(slope=bnsl.Normal(0.0, -1.0))}, "priors.slope"),
])
def test_bad_options_are_named(kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument}:"):
        bnsl.fit(X, Y, **kwargs)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=12, max_size=12))
def test_any_non_positive_or_non_finite_x_is_rejected_before_fitting(values):
    x = np.asarray(values)
    if np.all(np.isfinite(x)) and np.all(x > 0) and np.ptp(x) > 0:
        return  # a valid curve: not this test's business
    with pytest.raises(ValueError, match="^x"):
        bnsl.fit(x, Y, n_breaks=0)
