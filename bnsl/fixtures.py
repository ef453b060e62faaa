"""Real and synthetic learning curves to try scaling-law fits on.

Each fixture is a small table (a CSV shipped in :mod:`bnsl.data`) plus a
description (a JSON file) saying what x and y are, which columns group the
rows into separate curves, how the data were made and how to remake them
(the scripts in ``recipes/`` at the repository root).

Example:

    >>> from bnsl import fixtures
    >>> "grokking" in fixtures.names()
    True
    >>> curve = fixtures.load("double_descent_model")
    >>> info = fixtures.describe("double_descent_model")
    >>> x, y = curve[info["x"]["column"]], curve[info["y"]["column"]]
    >>> bool(x.is_monotonic_increasing and (y > 0).all())
    True
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported on first load(), keeping this import cheap
    from importlib.resources.abc import Traversable

    import pandas as pd

__all__ = ["names", "load", "describe"]

_PACKAGE = "bnsl.data"


def names() -> list[str]:
    """Names of the available fixtures, sorted.

    Example:

        >>> from bnsl import fixtures
        >>> fixtures.names()[:2]
        ['double_descent_epoch', 'double_descent_model']
    """
    files = {entry.name for entry in resources.files(_PACKAGE).iterdir()}
    # A fixture is a CSV with its JSON description beside it.
    return sorted(stem for stem in (name.removesuffix(".csv") for name in files
                                    if name.endswith(".csv"))
                  if f"{stem}.json" in files)


def load(name: str) -> pd.DataFrame:
    """The fixture's data as a DataFrame, one row per observation.

    Args:
        name: a fixture name from :func:`names`.

    Returns:
        The table; :func:`describe` says which columns are x, y and groups.

    Raises:
        ValueError: if ``name`` is not a fixture.

    Example:

        >>> from bnsl import fixtures
        >>> fixtures.load("double_descent_sample").columns.tolist()
        ['n_train', 'test_mse']
    """
    import pandas as pd

    with _resource(name, ".csv").open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


def describe(name: str) -> dict[str, Any]:
    """The fixture's description (its JSON file) as a dict.

    Keys include ``x`` and ``y`` (each with ``column``, ``description``,
    ``units``), ``groups`` (columns that split rows into curves), ``method``,
    ``seeds``, ``versions``, ``command`` (how to regenerate it),
    ``runtime_seconds`` and ``key_features`` (e.g. where a peak sits).

    Args:
        name: a fixture name from :func:`names`.

    Raises:
        ValueError: if ``name`` is not a fixture.

    Example:

        >>> from bnsl import fixtures
        >>> fixtures.describe("grokking")["groups"]
        ['weight_decay', 'metric']
    """
    return json.loads(_resource(name, ".json").read_text(encoding="utf-8"))


def _resource(name: str, suffix: str) -> Traversable:
    """The packaged file of fixture ``name``; ValueError naming the choices if unknown."""
    available = names()
    if name not in available:
        raise ValueError(f"name={name!r} is not a fixture; available: {', '.join(available)}")
    return resources.files(_PACKAGE).joinpath(name + suffix)
