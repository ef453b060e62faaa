"""Synthetic scaling curves with known truth: noisy draws from broken neural
scaling laws with 0, 1 and 2 breaks.

Regenerate with ``python recipes/scaling_synthetic.py`` from the repo root.
"""

from __future__ import annotations

from pathlib import Path

import _common  # first: it pins BLAS threads before numpy loads

import numpy as np
import pandas as pd

NAME = "scaling_synthetic"
X = np.geomspace(1e1, 1e6, 50)
LOG_NOISE_SD = 0.01    # Gaussian noise on natural-log y
LAW = ("y = a + b * x^(-c0) * prod_i (1 + (x / d_i)^(1 / f_i))^(-c_i * f_i)")

# One entry per curve; the seed of curve k is k, so curves are independent.
TRUE_PARAMETERS = {
    "breaks_0": {"a": 0.05, "b": 5.0, "c0": 0.3, "breaks": []},
    "breaks_1": {"a": 0.02, "b": 3.0, "c0": 0.1,
                 "breaks": [{"d": 1e3, "c": 0.4, "f": 0.3}]},
    # The second break slows the decay (c < 0), as often seen in real curves.
    "breaks_2": {"a": 0.01, "b": 2.0, "c0": 0.05,
                 "breaks": [{"d": 1e2, "c": 0.5, "f": 0.2},
                            {"d": 3e4, "c": -0.3, "f": 0.5}]},
}


def bnsl(x: np.ndarray, a: float, b: float, c0: float, breaks: list[dict]) -> np.ndarray:
    """The broken neural scaling law, evaluated in log space.

    log(y - a) = log b - c0 log x - sum_i c_i f_i softplus((log x - log d_i) / f_i),
    which stays finite where the product form would overflow (small f_i).
    """
    log_x = np.log(x)
    log_excess = np.log(b) - c0 * log_x
    for brk in breaks:
        log_excess -= brk["c"] * brk["f"] * np.logaddexp(0.0, (log_x - np.log(brk["d"])) / brk["f"])
    return a + np.exp(log_excess)


def build() -> tuple[pd.DataFrame, dict]:
    frames = []
    for seed, (curve, params) in enumerate(TRUE_PARAMETERS.items()):
        y_true = bnsl(X, **params)
        noise = np.random.default_rng(seed).standard_normal(X.size)
        frames.append(pd.DataFrame({
            "curve": curve, "n_breaks_true": len(params["breaks"]),
            "x": X, "y": y_true * np.exp(LOG_NOISE_SD * noise), "y_true": y_true,
        }))
    frame = pd.concat(frames, ignore_index=True)
    description = {
        "title": "Synthetic broken-neural-scaling-law curves with 0, 1 and 2 breaks",
        "x": {"column": "x", "description": "abstract scale (compute, data or parameters)",
              "units": "arbitrary"},
        "y": {"column": "y", "description": "noisy observation of the law (column y_true: "
              "noise-free value)", "units": "arbitrary"},
        "groups": ["curve"],
        "method": (
            f"Three curves drawn from the BNSL law {LAW} (Caballero et al. 2022) with the true "
            "parameters below, evaluated in log space, at 50 log-spaced x from 1e1 to 1e6 "
            f"(5 decades). Each observation is y_true * exp({LOG_NOISE_SD} * z), z ~ N(0, 1), "
            "i.e. Gaussian noise of sd 0.01 on natural-log y. Column n_breaks_true gives the "
            "number of breaks of the generating law; y_true the noise-free value."
        ),
        "seeds": {curve: seed for seed, curve in enumerate(TRUE_PARAMETERS)},
        "parameters": {"law": LAW, "log_noise_sd": LOG_NOISE_SD, "x_min": float(X[0]),
                       "x_max": float(X[-1]), "n_points": int(X.size)},
        "true_parameters": TRUE_PARAMETERS,
        "key_features": {
            curve: {"n_breaks_true": len(params["breaks"]),
                    "break_locations": [brk["d"] for brk in params["breaks"]]}
            for curve, params in TRUE_PARAMETERS.items()
        },
    }
    return frame, description


def main(out_dir: str | Path | None = None) -> dict:
    """Build the fixture and write it to out_dir (default bnsl/data/)."""
    return _common.run_recipe(NAME, build, out_dir)


if __name__ == "__main__":
    _common.cli(NAME, build)
