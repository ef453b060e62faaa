"""Draw the gallery of ``bnsl.plot`` figures into this folder.

    python docs/gallery/make_gallery.py              # every figure
    python docs/gallery/make_gallery.py addition     # only some, by name

Figures are PNGs at 200 dpi, 3.3 in wide (single column) or 7 in wide (small
multiples). Fits use fixed seeds, so a rerun draws the same figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's bnsl, not an installed copy

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bnsl  # noqa: E402
from bnsl.plotting import plot_evidence, plot_fit, plot_many, update_legend  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BENCHMARK = REPO.parent / "shared" / "benchmarks" / "revisiting" / "benchmark.vision.csv"
DPI = 200
# Hundreds of held-back points: small and grey, under the dashed extrapolation.
HELD_BACK_DENSE = dict(ls="none", marker=".", ms=2.5, color="0.6", alpha=0.6, zorder=2.3)
HELD_BACK = dict(ls="none", marker="s", ms=3.2, mfc="white", mec="black", mew=0.8, zorder=4)

# The 4-digit addition curve of the BNSL paper (Caballero et al. 2022, Fig. 4 left).
ADDITION_X = np.array([160, 192, 256, 320, 384, 448, 480, 512, 544, 576, 608, 640, 672, 736, 800,
                       864, 928], dtype=float)
ADDITION_Y = np.array([2.13809046, 2.11813418, 2.08955508, 2.06988398, 2.05404987, 2.03837089,
                       2.02814281, 2.00496872, 1.95576149, 1.86313841, 1.70891537, 1.50637664,
                       1.29754721, 0.96559684, 0.75856477, 0.64768338, 0.55695445])
N_ADDITION_FIT = 14

_FITS: dict[str, bnsl.Fit] = {}


def save(fig, name: str) -> None:
    path = HERE / f"{name}.png"
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    print(f"wrote {path.relative_to(REPO)}")


def held_back(ax, x, y, label: str | None = "held back") -> None:
    """The true points beyond the fit, drawn over everything, and the legend redone."""
    ax.plot(x, y, label=label or "_nolegend_", **HELD_BACK)
    update_legend(ax)


def rename_data(ax, label: str) -> None:
    for line in ax.get_lines():
        if line.get_label() == "data":
            line.set_label(label)


def addition_fit() -> bnsl.Fit:
    if "addition" not in _FITS:
        _FITS["addition"] = bnsl.fit(ADDITION_X[:N_ADDITION_FIT], ADDITION_Y[:N_ADDITION_FIT],
                                     n_breaks=1, x_name="training set size",
                                     y_name="test loss (nats)")
    return _FITS["addition"]


def fig_addition() -> None:
    """The paper's 4-digit addition curve: extrapolated past the sharp break."""
    fit = addition_fit()
    ax = plot_fit(fit, extrapolate_to=1000, components=True)
    rename_data(ax, "fitted points")
    held_back(ax, ADDITION_X[N_ADDITION_FIT:], ADDITION_Y[N_ADDITION_FIT:])
    ax.legend_.set_loc("lower left")
    save(ax.figure, "addition")


def benchmark() -> pd.DataFrame:
    frame = pd.read_csv(BENCHMARK).drop_duplicates()
    return frame.sort_values("Seen Examples", kind="stable")


def benchmark_fit(frame: pd.DataFrame, task: str, model: str) -> tuple[bnsl.Fit, pd.DataFrame]:
    curve = frame[(frame.Task == task) & (frame.Model == model)]
    train, test = curve[curve.Training == 1], curve[curve.Training == 0]
    key = f"{task}/{model}"
    if key not in _FITS:
        _FITS[key] = bnsl.fit(train["Seen Examples"], train["Loss"], x_name="examples seen",
                              y_name="5-shot error")
    return _FITS[key], test


def fig_benchmark() -> None:
    """One vision curve: fitted on the first part of training, extrapolated to the end."""
    frame = benchmark()
    fit, test = benchmark_fit(frame, "bird_5", "BiT/101/3")
    ax = plot_fit(fit, extrapolate_to=test["Seen Examples"].max())
    rename_data(ax, "fitted points")
    ax.plot(test["Seen Examples"], test["Loss"], **HELD_BACK_DENSE, label="held back")
    update_legend(ax, loc="lower left")
    ax.set_title("bird_5, BiT/101/3", fontsize=8, pad=3)
    save(ax.figure, "benchmark")
    _FITS["benchmark"] = fit


def fig_family() -> None:
    """Small multiples: six architectures on one task, each extrapolated to its held-back end."""
    frame = benchmark()
    task = "bird_5"
    models = sorted(frame.loc[frame.Task == task, "Model"].unique())
    fits, tests = {}, {}
    for model in models:
        fits[model], tests[model] = benchmark_fit(frame, task, model)
    axes = plot_many(fits, ncols=3, extrapolate_to={m: tests[m]["Seen Examples"].max()
                                                    for m in models})
    for ax, model in zip(axes.flat, models):
        test = tests[model]
        ax.plot(test["Seen Examples"], test["Loss"], **HELD_BACK_DENSE)
    fig = axes.flat[0].figure
    legend = fig.legends[0]
    handles = list(legend.legend_handles) + [
        plt.Line2D([], [], **(HELD_BACK_DENSE | dict(ms=4, alpha=1)))]
    labels = [t.get_text() for t in legend.get_texts()] + ["held back"]
    legend.remove()
    fig.legend(handles, labels, loc="outside upper center", ncols=len(handles), frameon=False,
               fontsize=7, handlelength=1.8, columnspacing=1.2)
    save(fig, "family")


def fig_evidence() -> None:
    """Posterior probability of each number of breaks for the benchmark curve."""
    fit = _FITS.get("benchmark") or benchmark_fit(benchmark(), "bird_5", "BiT/101/3")[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(3.3, 1.9), layout="constrained")
    plot_evidence(fit, ax=left)
    plot_evidence(fit, ax=right, kind="log_evidence")
    save(fig, "evidence")


def load_fixture(name: str) -> tuple[pd.DataFrame, dict] | None:
    """A fixture and its description: from ``bnsl.fixtures`` where that module
    exists, else from the packaged CSV; None if neither has it."""
    data = REPO / "bnsl" / "data"
    meta_path = data / f"{name}.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    try:
        from bnsl import fixtures
    except ImportError:
        fixtures = None
    if fixtures is not None and name in fixtures.names():
        return fixtures.load(name), meta
    if (data / f"{name}.csv").exists():
        return pd.read_csv(data / f"{name}.csv"), meta
    return None


def fig_double_descent() -> None:
    """Epoch-wise double descent: the rise is a break with negative c_i, the fall another."""
    loaded = load_fixture("double_descent_epoch")
    if loaded is None:
        print("skipped double_descent: fixture not available")
        return
    frame, meta = loaded
    xcol = meta.get("x", {}).get("column", "step")
    ycol = meta.get("y", {}).get("column", "test_mse")
    fit = bnsl.fit(frame[xcol], frame[ycol], x_name="gradient-descent steps", y_name="test MSE")
    ax = plot_fit(fit)
    save(ax.figure, "double_descent")
    _FITS["double_descent"] = fit


def fig_grokking() -> None:
    """Grokking: test error against optimisation steps for three weight decays."""
    loaded = load_fixture("grokking")
    if loaded is None:
        print("skipped grokking: fixture not available")
        return
    frame, _ = loaded
    frame = frame[frame.metric == "test_error"]
    ax = None
    for wd, curve in frame.groupby("weight_decay"):
        fit = bnsl.fit(curve["step"], curve["value"], x_name="optimisation steps",
                       y_name="test error")
        ax = plot_fit(fit, ax=ax, label=f"weight decay {wd:g}", breaks=False)
    ax.legend_.set_loc("lower left")
    save(ax.figure, "grokking")


FIGURES = {
    "addition": fig_addition,
    "benchmark": fig_benchmark,
    "family": fig_family,
    "evidence": fig_evidence,
    "double_descent": fig_double_descent,
    "grokking": fig_grokking,
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"figures to draw (default all): {', '.join(FIGURES)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; choose from {', '.join(FIGURES)}")
    bnsl.enable_compilation_cache()
    for name in args.names or FIGURES:
        start = time.perf_counter()
        FIGURES[name]()
        print(f"  {name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
