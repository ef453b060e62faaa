import warnings

import numpy as np
import pytest

from bnsl.psis import psis


@pytest.mark.parametrize("n, dof, spread", [(1024, 1.5, 2.0), (2048, 3.0, 1.0), (500, 10.0, 3.0), (100, 50.0, 0.5)])
def test_psis_agrees_with_arviz(n, dof, spread):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az

        lw = np.random.default_rng(n).standard_t(dof, size=n) * spread
        expected_lw, expected_k = az.psislw(lw.copy())
    got_lw, got_k = psis(lw)
    assert got_k == pytest.approx(float(expected_k), rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(got_lw, expected_lw, atol=1e-10)


def test_khat_separates_light_from_heavy_tails():
    rng = np.random.default_rng(0)
    _, light = psis(rng.normal(size=2000) * 0.1)
    _, heavy = psis(rng.standard_cauchy(size=2000))
    assert light < 0.5 < 0.7 < heavy
