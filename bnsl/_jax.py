"""JAX settings scoped to this package, and the opt-in persistent compilation cache.

bnsl computes in float64 (recovery to 1e-4 in RMSLE needs it) but never flips
the user's global ``jax_enable_x64``: every entry point runs inside
:func:`float64`, a thread-local scope that JAX restores on exit.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import jax


def float64():
    """A context in which JAX computes in float64; the global setting is untouched."""
    return jax.enable_x64(True)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/bnsl/jax`` (or ``~/.cache/bnsl/jax``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bnsl" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Keep compiled programs on disk so later processes skip compilation.

    This sets JAX's persistent compilation cache, a process-wide setting, so the
    library never calls it by itself: the ``bnsl-fit`` command does, and scripts
    that fit in many short processes should. A cache the user configured already
    is left as it is and returned.

    Args:
        path: the cache folder; defaults to :func:`default_cache_dir`.

    Returns:
        The folder in use, or None if it could not be created (then nothing changes).

    Example:
        >>> import bnsl
        >>> folder = bnsl.enable_compilation_cache()
    """
    current = jax.config.jax_compilation_cache_dir
    if current:
        return Path(current)
    folder = Path(path) if path is not None else default_cache_dir()
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
    if not folder.is_dir():
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # bnsl's programs compile in about a second each: cache them all.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
