"""Model-wise double descent: test MSE against the width of a random-features model.

Regenerate with ``python recipes/double_descent_model.py`` from the repo root.
"""

from __future__ import annotations

from pathlib import Path

import _common  # first: it pins BLAS threads before numpy loads

import numpy as np
import pandas as pd

NAME = "double_descent_model"
SEEDS = range(20)
N_TRAIN = 100          # the interpolation threshold sits at width == N_TRAIN
N_TEST = 2000
INPUT_DIM = 20
LABEL_NOISE = 0.5      # standard deviation of the label noise
WIDTHS = _common.log_int_grid(3, 2000, 36)


def test_mse_curve(rng: np.random.Generator) -> np.ndarray:
    """Test MSE at every width for one draw of teacher, data and features."""
    teacher = rng.standard_normal(INPUT_DIM) / np.sqrt(INPUT_DIM)
    x_train = rng.standard_normal((N_TRAIN, INPUT_DIM))
    x_test = rng.standard_normal((N_TEST, INPUT_DIM))
    y_train = x_train @ teacher + LABEL_NOISE * rng.standard_normal(N_TRAIN)
    # One wide feature bank per seed, truncated per width: the models are
    # nested, so the curve varies smoothly with width instead of redrawing.
    projection = rng.standard_normal((INPUT_DIM, WIDTHS.max())) / np.sqrt(INPUT_DIM)
    train_features = np.maximum(x_train @ projection, 0.0)
    test_features = np.maximum(x_test @ projection, 0.0)
    mse = []
    for width in WIDTHS:
        coef = _common.min_norm_solution(train_features[:, :width], y_train)
        excess = np.mean((test_features[:, :width] @ coef - x_test @ teacher) ** 2)
        # Fresh test labels carry independent noise, so their expected MSE is
        # the excess risk plus the noise variance; adding it exactly avoids
        # sampling noise in the test labels.
        mse.append(excess + LABEL_NOISE**2)
    return np.array(mse)


def build() -> tuple[pd.DataFrame, dict]:
    mse = _common.median_over_seeds(test_mse_curve, SEEDS)
    frame = pd.DataFrame({"width": WIDTHS, "test_mse": mse})
    peak = int(np.argmax(mse))
    before = int(np.argmin(mse[:peak]))
    description = {
        "title": "Model-wise double descent of min-norm ReLU random features",
        "x": {"column": "width", "description": "number of random ReLU features (model size)",
              "units": "features"},
        "y": {"column": "test_mse",
              "description": "expected test mean squared error on noisy labels (median over seeds)",
              "units": "squared label units"},
        "groups": [],
        "method": (
            f"A linear teacher y = x.w + noise (x ~ N(0, I_{INPUT_DIM}), w ~ N(0, I/{INPUT_DIM}), "
            f"noise sd {LABEL_NOISE}) labels {N_TRAIN} training points. The student is a "
            "random-features model: ReLU(x W) with W ~ N(0, 1/d) drawn once per seed, of which "
            "the first `width` columns are used, fitted by minimum-norm least squares "
            "(numpy lstsq, i.e. the pseudo-inverse). Test MSE is measured on "
            f"{N_TEST} fresh inputs against the noiseless teacher, plus the noise variance "
            "(the exact expected MSE on noisy test labels). The curve is the pointwise median "
            f"over {len(SEEDS)} seeds. Error falls, rises to a sharp peak where width equals the "
            "number of training points (the interpolation threshold), then falls again."
        ),
        "seeds": list(SEEDS),
        "parameters": {"n_train": N_TRAIN, "n_test": N_TEST, "input_dim": INPUT_DIM,
                       "label_noise_sd": LABEL_NOISE, "n_seeds": len(SEEDS),
                       "aggregate": "median"},
        "key_features": {
            "peak_width": int(WIDTHS[peak]),
            "peak_test_mse": float(mse[peak]),
            "interpolation_threshold_width": N_TRAIN,
            "min_before_peak_width": int(WIDTHS[before]),
            "min_before_peak_test_mse": float(mse[before]),
            "widest_test_mse": float(mse[-1]),
        },
    }
    return frame, description


def main(out_dir: str | Path | None = None) -> dict:
    """Build the fixture and write it to out_dir (default bnsl/data/)."""
    return _common.run_recipe(NAME, build, out_dir)


if __name__ == "__main__":
    _common.cli(NAME, build)
