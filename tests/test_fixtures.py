"""Tests of the fixture curves in bnsl/data and of bnsl.fixtures.

They check the data contract a scaling-law fitter relies on, that the stored
files are what the recipes produce, and that each phenomenon (the double-descent
peaks, the grokking delay) is really in the data.
"""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bnsl import fixtures

REPO = Path(__file__).resolve().parent.parent
RECIPES = REPO / "recipes"
EXPECTED = {"double_descent_model", "double_descent_sample", "double_descent_epoch",
            "grokking", "scaling_synthetic"}
REQUIRED_KEYS = {"name", "title", "x", "y", "groups", "method", "seeds", "parameters",
                 "key_features", "versions", "command", "recipe", "runtime_seconds", "n_rows"}
# Keys that legitimately differ between two runs of a recipe.
VOLATILE_KEYS = {"runtime_seconds", "versions"}


@pytest.fixture(scope="module")
def recipes():
    """Import recipes as modules (they import their sibling _common)."""
    sys.path.insert(0, str(RECIPES))
    try:
        yield lambda name: importlib.import_module(name)
    finally:
        sys.path.remove(str(RECIPES))


def curves(name: str):
    """(key, x, y) for each curve of a fixture, split by its group columns."""
    frame, info = fixtures.load(name), fixtures.describe(name)
    x, y, groups = info["x"]["column"], info["y"]["column"], info["groups"]
    parts = frame.groupby(groups, sort=False) if groups else [((), frame)]
    return [(key, part[x].to_numpy(), part[y].to_numpy()) for key, part in parts]


def test_names_are_the_data_files():
    assert set(fixtures.names()) == EXPECTED
    stems = sorted(p.stem for p in (REPO / "bnsl" / "data").glob("*.csv"))
    assert fixtures.names() == stems


def test_unknown_name_raises_listing_choices():
    with pytest.raises(ValueError, match="name='nope'") as error:
        fixtures.load("nope")
    assert all(name in str(error.value) for name in EXPECTED)
    with pytest.raises(ValueError, match="name="):
        fixtures.describe("nope")


def test_docstring_examples_run():
    assert doctest.testmod(fixtures).failed == 0


def test_fixtures_module_imports_without_jax_or_pandas():
    # Load the module file alone (not through bnsl/__init__, which loads the
    # fitter) to check that the module itself stays cheap to import.
    path = str(REPO / "bnsl" / "fixtures.py")
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('f', {path!r})\n"
            "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
            "print(sorted({'jax', 'pandas', 'numpy'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_contract(name):
    frame, info = fixtures.load(name), fixtures.describe(name)
    assert REQUIRED_KEYS <= info.keys()
    assert info["name"] == name and info["n_rows"] == len(frame) > 0
    assert {"numpy", "jax", "optax", "python"} <= info["versions"].keys()
    assert info["command"] == f"python {info['recipe']}"
    assert (REPO / info["recipe"]).is_file()
    assert info["runtime_seconds"] < 180
    for column in (info["x"]["column"], info["y"]["column"], *info["groups"]):
        assert column in frame.columns
    for key, x, y in curves(name):
        assert 25 <= len(x) <= 80, key
        assert np.all(x > 0) and np.all(np.diff(x) > 0), key
        assert np.all(np.isfinite(y)) and np.all(y > 0), key


@pytest.mark.parametrize("name", ["scaling_synthetic", "double_descent_sample"])
def test_recipe_reproduces_stored_fixture(name, tmp_path):
    # Through the documented command line, in a fresh process as a user runs it.
    subprocess.run([sys.executable, f"recipes/{name}.py", "--out-dir", str(tmp_path)],
                   cwd=REPO, check=True, capture_output=True)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"{name}.csv"), fixtures.load(name),
                                  check_exact=False, rtol=1e-9, atol=0)
    fresh = json.loads((tmp_path / f"{name}.json").read_text())
    stored = fixtures.describe(name)
    for key in VOLATILE_KEYS:
        fresh.pop(key), stored.pop(key)
    assert fresh == stored


def test_recipe_main_writes_to_out_dir(recipes, tmp_path):
    description = recipes("scaling_synthetic").main(out_dir=tmp_path)
    assert description["name"] == "scaling_synthetic"
    assert (tmp_path / "scaling_synthetic.csv").read_bytes() == (
        REPO / "bnsl" / "data" / "scaling_synthetic.csv").read_bytes()


def test_make_all_covers_every_fixture(recipes):
    assert set(recipes("make_all").RECIPES) == EXPECTED


@pytest.mark.parametrize("name, threshold", [("double_descent_model", 100),
                                             ("double_descent_sample", 100)])
def test_double_descent_peak_at_interpolation_threshold(name, threshold):
    ((_, x, y),) = curves(name)
    peak = int(np.argmax(y))
    assert 0.7 * threshold <= x[peak] <= 1.3 * threshold
    # A real peak: well above the best smaller model/dataset and the largest one.
    assert y[peak] > 3 * y[:peak].min() and y[peak] > 3 * y[-1]
    info = fixtures.describe(name)
    assert info["key_features"]["peak_" + info["x"]["column"]] == x[peak]


def test_epoch_wise_curve_descends_rises_descends():
    ((_, step, y),) = curves("double_descent_epoch")
    features = fixtures.describe("double_descent_epoch")["key_features"]
    first_min, peak = (int(np.flatnonzero(step == features[k])[0])
                       for k in ("first_min_step", "peak_step"))
    assert 0 < first_min < peak < len(y) - 1
    assert y[first_min] < 0.8 * y[0]              # first descent
    assert y[peak] > 1.3 * y[first_min]           # rise
    assert y[peak] == y[first_min:].max()
    assert y[-1] < 0.5 * y[first_min]             # second descent, below the first


def test_grokking_generalises_long_after_memorising():
    frame, info = fixtures.load("grokking"), fixtures.describe("grokking")
    grokked = {}
    for decay, run in frame.groupby("weight_decay"):
        metric = {m: part.set_index("step")["value"] for m, part in run.groupby("metric")}
        memorised = metric["train_error"].index[metric["train_error"] < 0.5][0]
        grokked[decay] = metric["test_error"].index[metric["test_error"] < 0.5][0]
        # Test error still near chance when the training set is memorised.
        assert metric["test_error"][memorised] > 0.9
        assert grokked[decay] >= 10 * memorised
        loss = metric["test_loss"]
        assert loss.max() > 1.2 * loss.iloc[0] and loss.iloc[-1] < 0.2 * loss.iloc[0]
        recorded = info["key_features"]["by_weight_decay"][str(decay)]
        assert recorded["memorisation_step"] == memorised
        assert recorded["grokking_step"] == grokked[decay]
    # Larger weight decay groks sooner, and the runs differ by at least 1.5x.
    steps = [grokked[d] for d in sorted(grokked)]
    assert len(steps) >= 2 and all(a > 1.5 * b for a, b in zip(steps, steps[1:]))


def test_synthetic_curves_follow_their_true_law():
    frame, info = fixtures.load("scaling_synthetic"), fixtures.describe("scaling_synthetic")
    for curve, truth in info["true_parameters"].items():
        part = frame[frame["curve"] == curve]
        x = part["x"].to_numpy()
        # The law in its original product form, independent of the recipe's log-space code.
        expected = truth["b"] * x ** -truth["c0"]
        for brk in truth["breaks"]:
            expected *= (1 + (x / brk["d"]) ** (1 / brk["f"])) ** (-brk["c"] * brk["f"])
        np.testing.assert_allclose(part["y_true"], truth["a"] + expected, rtol=1e-8)
        assert (part["n_breaks_true"] == len(truth["breaks"])).all()
        log_noise = np.log(part["y"] / part["y_true"])
        assert 0.006 < log_noise.std() < 0.014 and abs(log_noise.mean()) < 0.006
