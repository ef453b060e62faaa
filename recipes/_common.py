"""Shared machinery for the fixture recipes in this folder.

Every recipe defines ``NAME`` and a ``build()`` returning ``(frame, description)``
and calls :func:`run_recipe`, which times the build, checks the fixture's
invariants, adds the provenance fields every description carries, and writes
``bnsl/data/<NAME>.csv`` and ``bnsl/data/<NAME>.json``.

The CSV is reproduced byte for byte by a rerun on the same machine; the JSON is
too, except for ``runtime_seconds``.

Recipes import this module before numpy: it pins BLAS to one thread, which
must happen before numpy loads.
"""

from __future__ import annotations

import os

# One BLAS thread: results then do not depend on the core count, and on a busy
# 2-core machine OpenBLAS's spinning worker threads made lstsq ~10x slower.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402  (after the thread pinning above)
import json
import platform
import re
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "bnsl" / "data"

# Ten significant digits keep float32 results exact and float64 results far
# below any noise level, while keeping the files stable across reruns.
FLOAT_FORMAT = "%.10g"

# Keys every description has; tests/test_fixtures.py checks the same list.
REQUIRED_KEYS = (
    "name", "title", "x", "y", "groups", "method", "seeds", "parameters",
    "key_features", "versions", "command", "recipe", "runtime_seconds", "n_rows",
)


def log_int_grid(low: float, high: float, num: int) -> np.ndarray:
    """Distinct integers spaced roughly evenly in log between low and high.

    Rounding merges neighbours at the low end, so the result can be shorter
    than ``num``.
    """
    return np.unique(np.round(np.geomspace(low, high, num)).astype(np.int64))


def min_norm_solution(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Minimum-norm least-squares coefficients (pseudo-inverse solution).

    This is the interpolating solution gradient descent from zero converges
    to, and it is what produces the double-descent peak at the interpolation
    threshold.
    """
    return np.linalg.lstsq(features, targets, rcond=None)[0]


def median_over_seeds(curve: Callable[[np.random.Generator], np.ndarray],
                      seeds: Iterable[int]) -> np.ndarray:
    """Pointwise median of ``curve(rng)`` over independent seeds.

    Near the interpolation threshold single draws are heavy-tailed (a nearly
    singular design matrix), so the median, not the mean, gives a stable curve.
    """
    return np.median([curve(np.random.default_rng(seed)) for seed in seeds], axis=0)


def record_training(state: Any, advance: Callable[[Any, int], Any],
                    evaluate: Callable[[Any], Any], steps: Sequence[int]) -> list[Any]:
    """Train to each of the increasing ``steps`` in turn and evaluate there.

    ``advance(state, k)`` runs k more optimisation steps (a jitted loop with a
    dynamic trip count, so one compilation serves every segment);
    ``evaluate(state)`` returns host-side metrics.
    """
    records, done = [], 0
    for step in steps:
        state = advance(state, int(step) - done)
        done = int(step)
        records.append(evaluate(state))
    return records


def first_x_below(x: np.ndarray, y: np.ndarray, threshold: float) -> float | None:
    """First recorded x at which y is below threshold, or None if never."""
    below = np.flatnonzero(np.asarray(y) < threshold)
    return None if below.size == 0 else to_builtin(np.asarray(x)[below[0]])


def to_builtin(value: Any) -> Any:
    """numpy scalars/arrays to plain Python so that json can write them."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def versions() -> dict[str, str]:
    """Versions of the packages whose numerics shape the fixtures."""
    found = {"python": platform.python_version()}
    for package in ("numpy", "pandas", "jax", "jaxlib", "optax"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def check_fixture(frame: pd.DataFrame, x: str, y: str, groups: Sequence[str]) -> None:
    """Fail loudly if the fixture breaks the contract a scaling-law fitter relies on."""
    for column in (x, y, *groups):
        if column not in frame.columns:
            raise ValueError(f"column {column!r} missing from fixture")
    if not np.isfinite(frame[y]).all() or (frame[y] <= 0).any():
        raise ValueError(f"{y} must be finite and strictly positive")
    parts = frame.groupby(list(groups), sort=False) if groups else [(None, frame)]
    for key, part in parts:
        xs = part[x].to_numpy()
        if (xs <= 0).any() or (np.diff(xs) <= 0).any():
            raise ValueError(f"{x} must be positive and strictly increasing in group {key}")


def write_fixture(out_dir: Path, name: str, frame: pd.DataFrame,
                  description: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``<name>.csv`` and ``<name>.json`` under out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / f"{name}.csv", out_dir / f"{name}.json"
    frame.to_csv(csv_path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    text = json.dumps(description, indent=2, default=to_builtin)
    # Put lists of plain numbers (seeds, steps) on one line to keep the file readable.
    text = re.sub(r"\[\s+([-0-9.eE+,\s]+?)\s+\]",
                  lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
    json_path.write_text(text + "\n")
    return csv_path, json_path


def run_recipe(name: str, build: Callable[[], tuple[pd.DataFrame, dict[str, Any]]],
               out_dir: str | Path | None = None) -> dict[str, Any]:
    """Build one fixture, check it, and write it; returns the description."""
    start = time.perf_counter()
    frame, description = build()
    runtime = time.perf_counter() - start
    check_fixture(frame, description["x"]["column"], description["y"]["column"],
                  description["groups"])
    description = {
        "name": name,
        **description,
        "n_rows": len(frame),
        "versions": versions(),
        "command": f"python recipes/{name}.py",
        "recipe": f"recipes/{name}.py",
        "runtime_seconds": round(runtime, 2),
    }
    missing = [key for key in REQUIRED_KEYS if key not in description]
    if missing:
        raise ValueError(f"description of {name} lacks {missing}")
    csv_path, _ = write_fixture(Path(out_dir) if out_dir else DATA_DIR, name, frame, description)
    print(f"{name}: {len(frame)} rows in {runtime:.1f} s -> {csv_path}")
    return description


def cli(name: str, build: Callable[[], tuple[pd.DataFrame, dict[str, Any]]]) -> None:
    """Command-line entry point shared by the recipes (``--out-dir`` to write elsewhere)."""
    parser = argparse.ArgumentParser(description=f"Regenerate the {name} fixture.")
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR,
                        help=f"where to write {name}.csv/.json (default: %(default)s)")
    run_recipe(name, build, parser.parse_args().out_dir)
