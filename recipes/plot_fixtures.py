"""Draw each fixture on log-log axes into docs/fixtures/<name>.png, so a person
can see the phenomenon: ``python recipes/plot_fixtures.py`` from the repo root.
"""

from __future__ import annotations

import json

import _common  # first: it pins BLAS threads before numpy loads

import matplotlib

matplotlib.use("Agg")  # files only, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

PLOT_DIR = _common.REPO_ROOT / "docs" / "fixtures"


def plot(name: str) -> None:
    # Read the files directly rather than through bnsl.fixtures, so plotting
    # does not depend on the rest of the package importing cleanly.
    frame = pd.read_csv(_common.DATA_DIR / f"{name}.csv")
    info = json.loads((_common.DATA_DIR / f"{name}.json").read_text())
    x, y, groups = info["x"]["column"], info["y"]["column"], info["groups"]
    # With two or more group columns the last one picks the panel and the
    # others the line (grokking: a panel per metric, a line per weight decay).
    panel_by, line_by = (groups[-1], groups[:-1]) if len(groups) > 1 else (None, groups)
    panels = list(frame.groupby(panel_by, sort=False)) if panel_by else [(None, frame)]
    fig, axes = plt.subplots(1, len(panels), figsize=(max(5.2, 4.2 * len(panels)), 3.4),
                             squeeze=False)
    for ax, (panel, part) in zip(axes[0], panels):
        lines = part.groupby(line_by, sort=False) if line_by else [(None, part)]
        for key, line in lines:
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(f"{col}={val}" for col, val in zip(line_by, key)) or None
            ax.loglog(line[x], line[y], marker=".", markersize=4, lw=1, label=label)
        ax.set_xlabel(x)
        ax.set_ylabel(panel if panel is not None else y)
        ax.grid(True, which="major", alpha=0.3)
        if line_by:
            ax.legend(fontsize=7)
    fig.suptitle(info["title"], fontsize=9)
    fig.tight_layout()
    PLOT_DIR.mkdir(parents=True, exist_ok=True)
    # Fixed metadata so the PNG bytes do not change from run to run.
    fig.savefig(PLOT_DIR / f"{name}.png", dpi=90, metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":
    for fixture in sorted(path.stem for path in _common.DATA_DIR.glob("*.csv")):
        plot(fixture)
        print(f"drew {PLOT_DIR / fixture}.png")
