"""Sample-wise double descent: test MSE of min-norm linear regression against training-set size.

Regenerate with ``python recipes/double_descent_sample.py`` from the repo root.
"""

from __future__ import annotations

from pathlib import Path

import _common  # first: it pins BLAS threads before numpy loads

import numpy as np
import pandas as pd

NAME = "double_descent_sample"
SEEDS = range(20)
DIM = 100              # the peak sits at n_train == DIM
LABEL_NOISE = 0.5      # standard deviation of the label noise
N_TRAIN = _common.log_int_grid(10, 1000, 40)


def test_mse_curve(rng: np.random.Generator) -> np.ndarray:
    """Test MSE at every training-set size for one draw of teacher and data."""
    teacher = rng.standard_normal(DIM) / np.sqrt(DIM)
    # Each training set is a prefix of one long sample, so adding data never
    # redraws the points already seen and the curve is smooth in n.
    x = rng.standard_normal((N_TRAIN.max(), DIM))
    y = x @ teacher + LABEL_NOISE * rng.standard_normal(N_TRAIN.max())
    mse = []
    for n in N_TRAIN:
        coef = _common.min_norm_solution(x[:n], y[:n])
        # With isotropic Gaussian inputs the expected squared error on a fresh
        # noisy example is exactly |coef - teacher|^2 + noise variance.
        mse.append(np.sum((coef - teacher) ** 2) + LABEL_NOISE**2)
    return np.array(mse)


def build() -> tuple[pd.DataFrame, dict]:
    mse = _common.median_over_seeds(test_mse_curve, SEEDS)
    frame = pd.DataFrame({"n_train": N_TRAIN, "test_mse": mse})
    peak = int(np.argmax(mse))
    before = int(np.argmin(mse[:peak]))
    description = {
        "title": "Sample-wise double descent of min-norm linear regression",
        "x": {"column": "n_train", "description": "number of training examples",
              "units": "examples"},
        "y": {"column": "test_mse",
              "description": "expected test mean squared error on noisy labels (median over seeds)",
              "units": "squared label units"},
        "groups": [],
        "method": (
            f"Linear regression in d = {DIM} dimensions: x ~ N(0, I_d), y = x.w + noise with "
            f"w ~ N(0, I/d) and noise sd {LABEL_NOISE}. For each training-set size n (a prefix of "
            "one long sample per seed) the minimum-norm least-squares solution is computed with "
            "numpy lstsq (the pseudo-inverse). The test MSE is the exact population risk "
            "|w_hat - w|^2 + noise variance, which holds for isotropic Gaussian inputs. The curve "
            f"is the pointwise median over {len(SEEDS)} seeds. More data first helps, then hurts "
            "as n approaches d (the interpolation threshold, where the design is square and "
            "ill-conditioned), then helps again."
        ),
        "seeds": list(SEEDS),
        "parameters": {"dim": DIM, "label_noise_sd": LABEL_NOISE, "n_seeds": len(SEEDS),
                       "aggregate": "median"},
        "key_features": {
            "peak_n_train": int(N_TRAIN[peak]),
            "peak_test_mse": float(mse[peak]),
            "interpolation_threshold_n_train": DIM,
            "min_before_peak_n_train": int(N_TRAIN[before]),
            "min_before_peak_test_mse": float(mse[before]),
            "largest_n_test_mse": float(mse[-1]),
        },
    }
    return frame, description


def main(out_dir: str | Path | None = None) -> dict:
    """Build the fixture and write it to out_dir (default bnsl/data/)."""
    return _common.run_recipe(NAME, build, out_dir)


if __name__ == "__main__":
    _common.cli(NAME, build)
