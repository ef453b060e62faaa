"""Regenerate every fixture in bnsl/data/: ``python recipes/make_all.py`` from the repo root.

Takes about three minutes on a 2-core machine, most of it the grokking runs.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import _common  # first: it pins BLAS threads before numpy loads

# Fastest first, so that a broken environment shows up quickly.
RECIPES = (
    "scaling_synthetic",
    "double_descent_sample",
    "double_descent_model",
    "double_descent_epoch",
    "grokking",
)


def main(out_dir: str | Path | None = None) -> None:
    """Run every recipe, writing into out_dir (default bnsl/data/)."""
    for name in RECIPES:
        importlib.import_module(name).main(out_dir)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Regenerate every fixture.")
    parser.add_argument("--out-dir", type=Path, default=_common.DATA_DIR,
                        help="where to write the fixtures (default: %(default)s)")
    main(parser.parse_args().out_dir)
