"""bnsl: fit broken neural scaling laws, choose the number of breaks by marginal likelihood.

Example:
    >>> import numpy as np, bnsl
    >>> x = np.logspace(2, 7, 40)
    >>> y = bnsl.predict(bnsl.BNSLParams(0.05, 3.0, 0.1, [0.5], [1e4], [0.2]), x)
    >>> fit = bnsl.fit(x, y)
    >>> fit.n_breaks
    1
"""

from bnsl._jax import enable_compilation_cache
from bnsl.batch import FitFailure, Fits, fit_many
from bnsl.fitting import fit
from bnsl.law import BNSLParams, log_predict, predict
from bnsl.priors import Normal, Priors, StudentT
from bnsl.result import Candidate, Fit, Mode

__version__ = "0.1.0"

# Plotting pulls in matplotlib (about a second): load it on first use only.
_LAZY = {"plot": "plot_fit", "plot_evidence": "plot_evidence", "plot_many": "plot_many"}


def __getattr__(name: str):
    if name in _LAZY:
        from bnsl import plotting

        return getattr(plotting, _LAZY[name])
    raise AttributeError(f"module 'bnsl' has no attribute {name!r}")

__all__ = [
    "BNSLParams",
    "Candidate",
    "Fit",
    "FitFailure",
    "Fits",
    "Mode",
    "Normal",
    "Priors",
    "StudentT",
    "enable_compilation_cache",
    "fit",
    "fit_many",
    "log_predict",
    "plot",
    "plot_evidence",
    "plot_many",
    "predict",
]
