"""bnsl: fit broken neural scaling laws, choose the number of breaks by marginal likelihood.

Example:
    >>> import numpy as np, bnsl
    >>> x = np.logspace(2, 7, 40)
    >>> y = bnsl.predict(bnsl.BNSLParams(0.05, 3.0, 0.1, [0.5], [1e4], [0.2]), x)
    >>> fit = bnsl.fit(x, y)
    >>> fit.n_breaks
    1
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> (module, attribute). Loaded on first use, so that `import bnsl`
# (and `bnsl-fit --help`) does not pay for JAX, SciPy or matplotlib up front.
_PUBLIC = {
    "BNSLParams": ("bnsl.law", "BNSLParams"),
    "predict": ("bnsl.law", "predict"),
    "log_predict": ("bnsl.law", "log_predict"),
    "fit": ("bnsl.fitting", "fit"),
    "Fit": ("bnsl.result", "Fit"),
    "Candidate": ("bnsl.result", "Candidate"),
    "Mode": ("bnsl.result", "Mode"),
    "fit_many": ("bnsl.batch", "fit_many"),
    "Fits": ("bnsl.batch", "Fits"),
    "FitFailure": ("bnsl.batch", "FitFailure"),
    "Priors": ("bnsl.priors", "Priors"),
    "Normal": ("bnsl.priors", "Normal"),
    "StudentT": ("bnsl.priors", "StudentT"),
    "plot": ("bnsl.plotting", "plot_fit"),
    "plot_evidence": ("bnsl.plotting", "plot_evidence"),
    "plot_many": ("bnsl.plotting", "plot_many"),
    "enable_compilation_cache": ("bnsl._jax", "enable_compilation_cache"),
    "fixtures": ("bnsl.fixtures", None),
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'bnsl' has no attribute {name!r}")
    module_name, attribute = _PUBLIC[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


if TYPE_CHECKING:  # static tools see the real names
    from bnsl import fixtures
    from bnsl._jax import enable_compilation_cache
    from bnsl.batch import FitFailure, Fits, fit_many
    from bnsl.fitting import fit
    from bnsl.law import BNSLParams, log_predict, predict
    from bnsl.plotting import plot_evidence, plot_many
    from bnsl.plotting import plot_fit as plot
    from bnsl.priors import Normal, Priors, StudentT
    from bnsl.result import Candidate, Fit, Mode
