"""Plots of BNSL fits sized for papers: the fit with its band, the evidence, small multiples.

Every function draws on a given Axes or creates a figure with constrained
layout, and returns what it drew on. Nothing here touches ``matplotlib.rcParams``:
font sizes, colours and line styles are set on the artists themselves, so the
plots look the same on any backend and under any style, and a user's settings
are left as they were.

Colours come from the Okabe-Ito palette (safe for the common forms of colour
blindness and in greyscale print). Each :func:`plot_fit` on the same Axes takes
the next colour, so several fits share one Axes cleanly.

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, bnsl
    >>> from bnsl.plotting import plot_fit
    >>> x = np.logspace(2, 5, 20)
    >>> fit = bnsl.fit(x, 0.1 + 3 * x**-0.3, n_breaks=0)
    >>> ax = plot_fit(fit, extrapolate_to=1e7)
    >>> ax.get_xscale()
    'log'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (Formatter, Locator, LogFormatterSciNotation, LogLocator,
                               MaxNLocator, NullFormatter)

__all__ = ["PALETTE", "plot_evidence", "plot_fit", "plot_many", "segment_laws", "update_legend"]

# Okabe & Ito (2008), "Color Universal Design", ordered for lines on white:
# yellow, the palette's weakest colour on white, comes last.
PALETTE = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
MUTED = "0.72"  # grey for what is not highlighted

# Sizes in points, for figures printed at single-column width (about 3.3 in).
LABEL_SIZE = 8
TICK_SIZE = 7
LEGEND_SIZE = 7
TITLE_SIZE = 8
SINGLE_COLUMN = (3.3, 2.4)
DOUBLE_COLUMN_WIDTH = 7.0

FIT_WIDTH = 1.3
BAND_ALPHA = 0.22
N_GRID = 256
COMPONENT_REACH = 10.0  # segments are drawn this factor in x beyond their breaks

_GID = "bnsl"


def _gid(kind: str, k: int) -> str:
    return f"{_GID}-{kind}-{k}"


def _fit_index(ax: Axes) -> int:
    """How many fits :func:`plot_fit` has drawn on ``ax`` already."""
    return sum(1 for line in ax.get_lines() if (line.get_gid() or "").startswith(f"{_GID}-fit-"))


# Matplotlib labels the minor ticks of a log axis spanning few decades as
# "3 x 10^2  4 x 10^2", which collide at 3.3 in. Instead, ticks go at a few round
# multiples of 10^k, written as plain numbers (200, 0.5) where they are short; the
# tiers below are (decades spanned above which they apply, multiples), densest
# last. Above the first tier the axis has matplotlib's ticks at powers of ten.
_PLAIN_LO, _PLAIN_HI = 1e-3, 1e5  # numbers in this range are written out (0.002, 20000)
_TIERS = {
    # y axes: labels stack vertically, so more of them fit.
    "plain-y": ((2.2, None), (1.2, (1, 2, 5)), (0.8, (1, 2, 3, 5)),
                (0.3, (1, 1.5, 2, 3, 4, 5, 6, 8)), (0.0, tuple(range(1, 10)))),
    "plain-x": ((1.6, None), (0.8, (1, 2, 5)), (0.3, (1, 2, 3, 5)), (0.0, tuple(range(1, 10)))),
    # "2x10^7" is three times as wide as "200": fewer of them fit.
    "sci": ((1.2, None), (0.6, (1, 3)), (0.3, (1, 2, 5)), (0.0, tuple(range(1, 10)))),
}


class LogTicks(Locator):
    """Major ticks of a log axis that stay readable however few decades it spans."""

    def __init__(self, horizontal: bool = True):
        self.horizontal = horizontal
        self._wide = LogLocator(base=10.0)

    def set_axis(self, axis):
        super().set_axis(axis)
        self._wide.set_axis(axis)

    def subs(self, vmin, vmax):
        """The multiples of 10^k to tick between vmin and vmax; None for powers of ten."""
        vmin, vmax = sorted((vmin, vmax))
        if not (vmin > 0 and vmax > 0):
            return None
        decades = math.log10(vmax / vmin)
        plain = _PLAIN_LO <= vmin and vmax < _PLAIN_HI
        tiers = _TIERS["sci" if not plain else "plain-x" if self.horizontal else "plain-y"]
        for threshold, subs in tiers:
            if decades > threshold:
                return subs
        return tiers[-1][1]

    def __call__(self):
        vmin, vmax = sorted(self.axis.get_view_interval())
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((vmin, vmax))
        subs = self.subs(vmin, vmax)
        if subs is None:
            return self._wide.tick_values(vmin, vmax)
        lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
        ticks = np.array([m * 10.0**e for e in range(lo, hi + 1) for m in subs])
        # One tick beyond each end, as matplotlib's locators give, for limits to snap to.
        inside = (ticks >= vmin * (1 - 1e-9)) & (ticks <= vmax * (1 + 1e-9))
        idx = np.flatnonzero(inside)
        if idx.size < 3:
            # A sliver of a decade: evenly spaced round numbers, as on a linear axis.
            return MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(vmin, vmax)
        return ticks[max(idx[0] - 1, 0):idx[-1] + 2]

    def view_limits(self, vmin, vmax):
        return self._wide.view_limits(vmin, vmax)


class LogLabels(Formatter):
    """Plain numbers (``200``, ``0.5``) where :class:`LogTicks` ticks multiples, else ``10^k``."""

    def __init__(self):
        self._sci = LogFormatterSciNotation(labelOnlyBase=False)

    def set_axis(self, axis):
        super().set_axis(axis)
        self._sci.set_axis(axis)

    def set_locs(self, locs):
        super().set_locs(locs)
        self._sci.set_locs(locs)

    def __call__(self, x, pos=None):
        locator = self.axis.get_major_locator() if self.axis is not None else None
        if (not isinstance(locator, LogTicks)
                or locator.subs(*self.axis.get_view_interval()) is None):
            return self._sci(x, pos)
        if x <= 0:
            return ""
        if _PLAIN_LO <= x < _PLAIN_HI:
            return f"{x:g}"
        exponent = math.floor(math.log10(x) + 1e-9)
        mantissa = x / 10.0**exponent
        lead = "" if abs(mantissa - 1) < 1e-9 else f"{mantissa:g}\\times"
        return f"${lead}10^{{{exponent}}}$"


def _tidy_log_axis(axis) -> None:
    if axis.get_scale() == "log" and not isinstance(axis.get_major_locator(), LogTicks):
        axis.set_major_locator(LogTicks(horizontal=axis.axis_name == "x"))
        axis.set_major_formatter(LogLabels())
        axis.set_minor_formatter(NullFormatter())


def _style_axes(ax: Axes) -> None:
    _tidy_log_axis(ax.xaxis)
    _tidy_log_axis(ax.yaxis)
    ax.tick_params(which="both", labelsize=TICK_SIZE)
    ax.xaxis.label.set_fontsize(LABEL_SIZE)
    ax.yaxis.label.set_fontsize(LABEL_SIZE)
    ax.title.set_fontsize(TITLE_SIZE)


def _new_axes(figsize=SINGLE_COLUMN) -> Axes:
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def segment_laws(params, x) -> np.ndarray:
    """The asymptotic power law of each segment of a BNSL, evaluated at ``x``.

    Away from the breaks the law is ``a + B_k x**-(c0 + ... + c_k)`` on segment
    ``k``: before the first break ``B_0 = b``, and each break ``i`` multiplies
    the excess ``y - a`` by ``(x / d_i)**-c_i``, so ``B_k = B_{k-1} d_k**c_k``.

    Args:
        params: a :class:`bnsl.BNSLParams`.
        x: positive values.

    Returns:
        Array of shape ``(n_breaks + 1, len(x))``.
    """
    x = np.asarray(x, dtype=float)
    a, b, c0 = (float(np.asarray(v)) for v in params[:3])
    c = np.atleast_1d(np.asarray(params.c, dtype=float))
    d = np.atleast_1d(np.asarray(params.d, dtype=float))
    log_b, slope, rows = math.log(b), c0, []
    log_x = np.log(x)
    rows.append(a + np.exp(log_b - slope * log_x))
    for ci, di in zip(c, d):
        log_b += ci * math.log(di)
        slope += ci
        rows.append(a + np.exp(np.clip(log_b - slope * log_x, -700, 700)))
    return np.array(rows)


def _span(lo: float, hi: float, yscale: str, fraction: float) -> tuple[float, float]:
    """``(lo, hi)`` widened by ``fraction`` of its width on each side, in log or linear units."""
    if yscale == "log":
        l, h = math.log10(lo), math.log10(hi)
        pad = fraction * max(h - l, math.log10(2.0))
        return 10 ** (l - pad), 10 ** (h + pad)
    pad = fraction * max(hi - lo, 0.1 * abs(hi) or 1.0)
    return lo - pad, hi + pad


def _grid(x_lo: float, x_hi: float, extrapolate_to: float | None):
    """:data:`N_GRID` log-spaced points from the data's range out to ``extrapolate_to``.

    Returns the grid and the slice ``(start, stop)`` of it that covers the data;
    the data's edges are grid points, so the dashed part starts where the solid ends.
    """
    lo, hi = x_lo, x_hi
    if extrapolate_to is not None:
        lo, hi = min(lo, extrapolate_to), max(hi, extrapolate_to)
    if lo == x_lo and hi == x_hi:
        return np.geomspace(x_lo, x_hi, N_GRID), (0, N_GRID)
    share = math.log(x_hi / x_lo) / math.log(hi / lo)
    n_in = min(max(int(round(share * N_GRID)), N_GRID // 4), N_GRID - N_GRID // 4)
    inside = np.geomspace(x_lo, x_hi, n_in)
    if hi > x_hi:
        outside = np.geomspace(x_hi, hi, N_GRID - n_in + 1)[1:]
        return np.concatenate([inside, outside]), (0, n_in)
    outside = np.geomspace(lo, x_lo, N_GRID - n_in + 1)[:-1]
    return np.concatenate([outside, inside]), (N_GRID - n_in, N_GRID)


def _same_data(line: Line2D, x, y) -> bool:
    lx, ly = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    return lx.shape == x.shape and np.array_equal(lx, x) and np.array_equal(ly, y)


def update_legend(ax: Axes, **kwargs) -> None:
    """Redraw ``ax``'s legend: one entry per labelled artist, a fit's entry with its band.

    Fits come first, then the data, then other labelled artists (held-back
    points, say), then one "extrapolation" entry if a dashed extrapolation is
    drawn. :func:`plot_fit` calls it; call it again after adding labelled
    artists. ``kwargs`` go to :meth:`~matplotlib.axes.Axes.legend`.
    """
    def kind(artist) -> str:
        gid = artist.get_gid() or ""
        return gid.split("-")[1] if gid.startswith(f"{_GID}-") else ""

    bands = {c.get_gid().rsplit("-", 1)[1]: c for c in ax.collections if kind(c) == "band"}
    data_colors = {to_rgba(ln.get_markeredgecolor()) for ln in ax.get_lines() if kind(ln) == "data"}
    entries = []  # (rank, handle, label)
    for handle, label in zip(*ax.get_legend_handles_labels()):
        if kind(handle) == "fit":
            band = bands.get(handle.get_gid().rsplit("-", 1)[1])
            entries.append((0, handle if band is None else (band, handle), label))
        elif kind(handle) == "data":
            if len(data_colors) > 1:
                # Data of several fits, each in its fit's colour: a neutral marker stands for all.
                handle = Line2D([], [], ls="none", marker=handle.get_marker(),
                                ms=handle.get_markersize(), mfc=to_rgba("0.35", 0.45), mec="0.35",
                                mew=handle.get_markeredgewidth())
            entries.append((1, handle, label))
        else:
            entries.append((2, handle, label))
    # Dashed means extrapolated: one entry says so, in the fit's colour if there is one fit.
    extrapolated = [ln for ln in ax.get_lines() if kind(ln) == "extrapolation"]
    if extrapolated and entries:
        colors = {to_rgba(ln.get_color()) for ln in extrapolated}
        color = extrapolated[0].get_color() if len(colors) == 1 else "0.35"
        entries.append((3, Line2D([], [], color=color, lw=FIT_WIDTH,
                                  ls=extrapolated[0].get_linestyle()), "extrapolation"))
    if entries:
        entries.sort(key=lambda entry: entry[0])
        options = dict(fontsize=LEGEND_SIZE, frameon=False, loc="best", handlelength=1.8,
                       borderaxespad=0.3, labelspacing=0.3)
        ax.legend([e[1] for e in entries], [e[2] for e in entries], **(options | kwargs))


def plot_fit(fit, *, ax: Axes | None = None, extrapolate_to: float | None = None,
             level: float | None = 0.9, data: bool = True, breaks: bool = True,
             components: bool = False, label: str | None = None, color: Any = None,
             yscale: Literal["log", "linear"] = "log") -> Axes:
    """Draw a fit: its data, the law, the extrapolation and the credible band.

    On a log-log Axes (log x always; ``yscale="linear"`` suits error rates) the
    data are points, the law at its posterior mode a solid line over the data
    and a dashed line beyond them up to ``extrapolate_to``, and the central
    credible band of the curve (:meth:`bnsl.Fit.interval` with
    ``kind="curve"``, averaged over the numbers of breaks) is shaded. Each call
    on the same Axes takes the next colour of :data:`PALETTE` and adds one
    legend entry; the data are labelled once, and data already drawn (the same
    curve fitted twice) are not drawn again.

    Args:
        fit: a :class:`bnsl.Fit`.
        ax: the Axes to draw on; default a new single-column figure (3.3 x 2.4 in).
        extrapolate_to: an x beyond the data (either side) to extend the law to.
        level: the band's probability; None draws no band.
        data: draw the fitted points.
        breaks: mark each break ``d_i`` inside the plotted range with a dotted
            vertical line.
        components: draw each segment's asymptotic power law
            (:func:`segment_laws`) as a faint dashed line, over its stretch
            between breaks and a decade beyond.
        label: the fit's legend entry; default ``"BNSL, 1 break"`` and so on.
        color: the fit's colour; default the next one of :data:`PALETTE`.
        yscale: ``"log"`` or ``"linear"``.

    Returns:
        The Axes.
    """
    if yscale not in ("log", "linear"):
        raise ValueError(f"yscale: must be 'log' or 'linear', got {yscale!r}.")
    if level is not None and not 0 < level < 1:
        raise ValueError(f"level: must be between 0 and 1 (e.g. 0.9) or None, got {level!r}.")
    x, y = np.asarray(fit.x, float), np.asarray(fit.y, float)
    x_lo, x_hi = float(x.min()), float(x.max())
    if extrapolate_to is not None:
        extrapolate_to = float(extrapolate_to)
        if not (math.isfinite(extrapolate_to) and extrapolate_to > 0):
            raise ValueError(f"extrapolate_to: must be a positive x value, got {extrapolate_to!r}.")
    if ax is None:
        ax = _new_axes()
    k = _fit_index(ax)
    color = PALETTE[k % len(PALETTE)] if color is None else color
    n = fit.n_breaks
    label = f"BNSL, {n} break{'' if n == 1 else 's'}" if label is None else label
    ax.set_xscale("log")
    ax.set_yscale(yscale)

    # The law over the data (solid) and beyond it (dashed), on one grid of fixed
    # length (the compiled evaluation is then reused from plot to plot).
    x_all, n_data = _grid(x_lo, x_hi, extrapolate_to)
    y_all = np.asarray(fit.predict(x_all), float)
    data_part = slice(n_data[0], n_data[1])
    ax.plot(x_all[data_part], y_all[data_part], color=color, lw=FIT_WIDTH, solid_capstyle="butt",
            zorder=2.6, label=label, gid=_gid("fit", k))
    if n_data != (0, N_GRID):
        ext = slice(n_data[1] - 1, None) if n_data[0] == 0 else slice(0, n_data[0] + 1)
        ax.plot(x_all[ext], y_all[ext], color=color, lw=FIT_WIDTH, ls=(0, (4, 2)), zorder=2.6,
                label="_nolegend_", gid=_gid("extrapolation", k))

    # The fitted points, once per curve and per Axes.
    ref_y = np.concatenate([y, y_all])
    if data:
        data_lines = [ln for ln in ax.get_lines()
                      if (ln.get_gid() or "").startswith(f"{_GID}-data-")]
        if not any(_same_data(ln, x, y) for ln in data_lines):
            ax.plot(x, y, ls="none", marker="o", ms=3.0 if len(x) <= 40 else 2.2,
                    mfc=to_rgba(color, 0.45), mec=color, mew=0.6, zorder=2.4,
                    label="_nolegend_" if data_lines else "data", gid=_gid("data", k))

    # The band: drawn without moving the limits, then allowed to widen them by
    # at most half the span of the data and the law, so a band that blows up far
    # from the data does not squash the plot.
    y_lo_ref, y_hi_ref = float(np.min(ref_y)), float(np.max(ref_y))
    if level is not None:
        band_lo, band_hi = (np.asarray(v, float) for v in fit.interval(x_all, level=level,
                                                                          kind="curve"))
        verts = np.concatenate([np.column_stack([x_all, band_lo]),
                                np.column_stack([x_all[::-1], band_hi[::-1]])])
        band = PolyCollection([verts], facecolors=[to_rgba(color, BAND_ALPHA)],
                              edgecolors="none", zorder=2, gid=_gid("band", k),
                              label="_nolegend_")
        ax.add_collection(band, autolim=False)
        lim_lo, lim_hi = _span(y_lo_ref, y_hi_ref, yscale, 0.5)
        clipped = np.clip(np.concatenate([band_lo, band_hi]), lim_lo, lim_hi)
        finite = np.isfinite(clipped) & (clipped > 0 if yscale == "log" else True)
        x_twice = np.concatenate([x_all, x_all])
        ax.update_datalim(np.column_stack([x_twice[finite], clipped[finite]]))

    x_view_lo, x_view_hi = float(x_all.min()), float(x_all.max())
    params = fit.params
    if breaks:
        for i, d in enumerate(np.atleast_1d(np.asarray(params.d, float))):
            if x_view_lo <= d <= x_view_hi:
                ax.axvline(d, color=color, lw=0.8, ls=":", alpha=0.8, zorder=1.5,
                           label="_nolegend_", gid=_gid(f"break{i + 1}", k))
    if components:
        # Each segment over its own stretch between breaks and a decade either side,
        # and only where it stays near the plotted values.
        lim_lo, lim_hi = _span(y_lo_ref, y_hi_ref, yscale, 0.05)
        x_comp = np.geomspace(x_view_lo, x_view_hi, N_GRID)
        edges = np.concatenate([[0.0], np.atleast_1d(np.asarray(params.d, float)), [np.inf]])
        for i, seg in enumerate(segment_laws(params, x_comp)):
            near = ((x_comp >= edges[i] / COMPONENT_REACH)
                    & (x_comp <= edges[i + 1] * COMPONENT_REACH))
            seg = np.where(near & (seg >= lim_lo) & (seg <= lim_hi), seg, np.nan)
            if np.isfinite(seg).any():
                ax.plot(x_comp, seg, color=color, lw=0.8, ls=(0, (3, 2)), alpha=0.55, zorder=1.8,
                        label="_nolegend_", gid=_gid(f"segment{i}", k))

    ax.autoscale_view()
    if not ax.get_xlabel():
        ax.set_xlabel(fit.x_name)
    if not ax.get_ylabel():
        ax.set_ylabel(fit.y_name)
    _style_axes(ax)
    update_legend(ax)
    return ax


def plot_evidence(fit, ax: Axes | None = None,
                  kind: Literal["probability", "log_evidence"] = "probability") -> Axes:
    """Bar chart of the posterior probability (or log evidence) of each number of breaks.

    The chosen number of breaks is drawn in colour, the others in grey, and
    each bar carries its value. Log evidences that could not be estimated
    (not finite) get no bar and the text ``"n/a"``.

    Args:
        fit: a :class:`bnsl.Fit`.
        ax: the Axes to draw on; default a new single-column figure.
        kind: ``"probability"`` (``P(n | data)``) or ``"log_evidence"``
            (``log p(data | n)`` in nats).

    Returns:
        The Axes; ``ax.containers[-1]`` holds the bars, in increasing n.
    """
    if kind not in ("probability", "log_evidence"):
        raise ValueError(f"kind: must be 'probability' or 'log_evidence', got {kind!r}.")
    if ax is None:
        ax = _new_axes((SINGLE_COLUMN[0], 2.0))
    ns = sorted(fit.candidates)
    source = fit.probabilities if kind == "probability" else fit.log_evidence
    values = np.array([float(source[n]) for n in ns])
    finite = np.isfinite(values)
    heights = np.where(finite, values, 0.0)
    colors = [PALETTE[0] if n == fit.n_breaks else MUTED for n in ns]
    bars = ax.bar(ns, heights, width=0.6, color=colors, edgecolor="none", zorder=2)
    for n, bar in zip(ns, bars):
        bar.set_gid(f"{_GID}-evidence-{n}{'-chosen' if n == fit.n_breaks else ''}")
    if kind == "probability":
        texts = [("<0.01" if v < 0.01 else f"{v:.2f}") for v in values]
        ax.set_ylim(0, 1.15)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.set_ylabel("posterior probability")
    else:
        digits = 0 if np.max(np.abs(heights), initial=0.0) >= 100 else 1
        texts = [f"{v:.{digits}f}" if ok else "n/a" for v, ok in zip(values, finite)]
        ax.set_ylabel("log evidence (nats)")
        ax.axhline(0, color="0.3", lw=0.6, zorder=1)
        top = float(np.max(heights, initial=0.0))
        bottom = float(np.min(heights, initial=0.0))
        pad = 0.14 * max(top - bottom, 1.0)
        ax.set_ylim(bottom - (pad if bottom < 0 else 0), top + (pad if top > 0 else 0))
    for bar, text, v in zip(bars, texts, heights):
        below = v < 0
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, v), xytext=(0, -2 if below else 2),
                    textcoords="offset points", ha="center", va="top" if below else "bottom",
                    fontsize=TICK_SIZE,
                    fontweight="bold" if bar.get_gid().endswith("-chosen") else "normal")
    ax.set_xticks(ns)
    ax.set_xlim(min(ns) - 0.6, max(ns) + 0.6)
    ax.set_xlabel("number of breaks")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _style_axes(ax)
    return ax


def _per_fit(value, keys: list, name: str) -> list:
    """A scalar (or None) for every fit, or one value per fit from a mapping or sequence."""
    if isinstance(value, Mapping):
        return [value.get(key) for key in keys]
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != len(keys):
            raise ValueError(f"{name}: got {len(value)} values for {len(keys)} fits.")
        return list(value)
    return [value] * len(keys)


def plot_many(fits, *, ncols: int = 4, sharex: bool = False, sharey: bool = False,
              titles=None, extrapolate_to=None, figsize: tuple[float, float] | None = None,
              level: float | None = 0.9, yscale: Literal["log", "linear"] = "log") -> np.ndarray:
    """Small multiples: one panel per fit, with one legend for the whole figure.

    Args:
        fits: a mapping key -> :class:`bnsl.Fit` (panels titled by key) or a sequence.
        ncols: panels per row (fewer if there are fewer fits).
        sharex, sharey: share the axes' limits across panels.
        titles: panel titles, a sequence or a mapping by key; default the keys of
            a mapping, and none for a sequence.
        extrapolate_to: one x for every panel, or one per fit (sequence or mapping).
        figsize: default 7 in wide (double column) for 4 columns, 1.6 in per row.
        level, yscale: as in :func:`plot_fit`.

    Returns:
        The Axes, an array of shape ``(nrows, ncols)`` in row-major order of the
        fits; panels left over in the last row are switched off.
    """
    if isinstance(fits, Mapping):
        keys, items = list(fits), list(fits.values())
        default_titles = [str(key) for key in keys]
    else:
        items = list(fits)
        keys = list(range(len(items)))
        default_titles = [None] * len(items)
    if not items:
        raise ValueError("fits: is empty; pass at least one fit.")
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols: must be a positive integer, got {ncols!r}.")
    ncols = min(int(ncols), len(items))
    nrows = -(-len(items) // ncols)
    if titles is None:
        titles = default_titles
    titles = _per_fit(titles, keys, "titles")
    extrapolate = _per_fit(extrapolate_to, keys, "extrapolate_to")
    if figsize is None:
        width = min(DOUBLE_COLUMN_WIDTH, max(SINGLE_COLUMN[0], 1.75 * ncols))
        figsize = (width, 1.6 * nrows + 0.35)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, sharex=sharex, sharey=sharey,
                             squeeze=False, layout="constrained")
    for ax, fit, title, to in zip(axes.flat, items, titles, extrapolate):
        plot_fit(fit, ax=ax, extrapolate_to=to, level=level, yscale=yscale)
        ax.get_legend().remove()
        if title is not None:
            ax.set_title(str(title), fontsize=TITLE_SIZE, pad=3)
    for ax in axes.flat[len(items):]:
        ax.set_axis_off()

    # Axis names once for the figure when every panel shares them.
    used = axes.flat[:len(items)]
    for axis, names, suplabel in (("x", {f.x_name for f in items}, fig.supxlabel),
                                  ("y", {f.y_name for f in items}, fig.supylabel)):
        if len(names) == 1:
            for ax in used:
                getattr(ax, f"set_{axis}label")("")
            suplabel(names.pop(), fontsize=LABEL_SIZE)

    # One legend for the figure, in the first colour every panel uses.
    c = PALETTE[0]
    handles = [Line2D([], [], ls="none", marker="o", ms=3, mfc=to_rgba(c, 0.45), mec=c, mew=0.6),
               Line2D([], [], color=c, lw=FIT_WIDTH)]
    labels = ["data", "BNSL fit"]
    if any(to is not None for to in extrapolate):
        handles.append(Line2D([], [], color=c, lw=FIT_WIDTH, ls=(0, (4, 2))))
        labels.append("extrapolation")
    if level is not None:
        handles.append(Patch(facecolor=to_rgba(c, BAND_ALPHA), edgecolor="none"))
        labels.append(f"{level:.0%} band")
    fig.legend(handles, labels, loc="outside upper center", ncols=len(handles), frameon=False,
               fontsize=LEGEND_SIZE, handlelength=1.8, columnspacing=1.2)
    return axes
