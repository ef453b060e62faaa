"""bnsl.plotting: what is drawn, where, and that nothing global changes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

import bnsl  # noqa: E402
from bnsl.plotting import PALETTE, plot_evidence, plot_fit, plot_many, segment_laws  # noqa: E402

X = np.geomspace(1e2, 1e6, 20)
LAW_A = bnsl.BNSLParams(0.05, 3.0, 0.1, [0.5], [1e4], [0.2])
LAW_B = bnsl.BNSLParams(0.02, 5.0, 0.2, [0.4], [3e3], [0.3])
FAR = 1e8  # the extrapolation target, two decades beyond the data


def noisy(params, seed):
    rng = np.random.default_rng(seed)
    return np.asarray(bnsl.predict(params, X)) * np.exp(0.01 * rng.standard_normal(X.size))


@pytest.fixture(scope="module")
def fit_a():
    # "auto" over 0..2 breaks costs no extra compilation and gives plot_evidence candidates.
    return bnsl.fit(X, noisy(LAW_A, 0), n_breaks="auto", max_breaks=2, x_name="params",
                    y_name="loss")


@pytest.fixture(scope="module")
def fit_b():
    return bnsl.fit(X, noisy(LAW_B, 1), n_breaks=1, x_name="params", y_name="loss")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def by_gid(ax, kind):
    return [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith(f"bnsl-{kind}")]


def breaks_inside(fit, lo, hi):
    d = np.atleast_1d(fit.params.d)
    return int(np.sum((d >= lo) & (d <= hi)))


def test_default_plot_is_log_log_single_column(fit_a):
    ax = plot_fit(fit_a)
    assert isinstance(ax, matplotlib.axes.Axes)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.figure.get_size_inches()[0] == pytest.approx(3.3)
    assert ax.get_xlabel() == "params" and ax.get_ylabel() == "loss"


def test_lines_without_extrapolation(fit_a):
    ax = plot_fit(fit_a)
    n_breaks = breaks_inside(fit_a, X[0], X[-1])
    # the law, the data, one dotted line per break inside the data
    assert len(ax.get_lines()) == 2 + n_breaks
    (law,) = by_gid(ax, "fit")
    assert law.get_linestyle() == "-"
    assert law.get_xdata()[0] == pytest.approx(X[0]) and law.get_xdata()[-1] == pytest.approx(X[-1])
    np.testing.assert_allclose(law.get_ydata(), fit_a.predict(law.get_xdata()), rtol=1e-12)
    (data,) = by_gid(ax, "data")
    assert data.get_linestyle() == "None" and data.get_marker() == "o"
    np.testing.assert_array_equal(data.get_xdata(), fit_a.x)
    for line in ax.get_lines():
        if line not in (law, data):
            assert line.get_linestyle() == ":"
    assert not by_gid(ax, "extrapolation")
    assert len(ax.collections) == 1


def test_extrapolation_is_dashed_and_reaches_target(fit_a):
    ax = plot_fit(fit_a, extrapolate_to=FAR)
    (ext,) = by_gid(ax, "extrapolation")
    assert ext.get_linestyle() == "--"
    xs = np.asarray(ext.get_xdata())
    assert xs[0] == pytest.approx(X[-1]) and xs[-1] == pytest.approx(FAR)
    np.testing.assert_allclose(ext.get_ydata(), fit_a.predict(xs), rtol=1e-12)
    lo, hi = ax.get_xlim()
    assert lo <= X[0] and hi >= FAR
    assert len(ax.get_lines()) == 3 + breaks_inside(fit_a, X[0], FAR)


def test_extrapolation_to_smaller_x(fit_a):
    ax = plot_fit(fit_a, extrapolate_to=10.0)
    (ext,) = by_gid(ax, "extrapolation")
    assert sorted([ext.get_xdata()[0], ext.get_xdata()[-1]]) == pytest.approx([10.0, X[0]])
    assert ax.get_xlim()[0] <= 10.0


def test_band_is_the_curve_interval(fit_a):
    ax = plot_fit(fit_a, extrapolate_to=FAR, level=0.8)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    verts = bands[0].get_paths()[0].vertices
    n = (len(verts) - 1) // 2 if len(verts) % 2 else len(verts) // 2
    xs, lower, upper = verts[:n, 0], verts[:n, 1], verts[n:2 * n, 1][::-1]
    assert xs.min() == pytest.approx(X[0]) and xs.max() == pytest.approx(FAR)
    want_lo, want_hi = fit_a.interval(xs, level=0.8, kind="curve")
    np.testing.assert_allclose(lower, want_lo, rtol=1e-9)
    np.testing.assert_allclose(upper, want_hi, rtol=1e-9)
    assert np.all(lower < upper)
    assert 0 < bands[0].get_facecolor()[0][3] < 1  # shaded, not opaque


def test_switches(fit_a):
    ax = plot_fit(fit_a, level=None, data=False, breaks=False)
    assert len(ax.get_lines()) == 1 and not ax.collections
    ax = plot_fit(fit_a, yscale="linear")
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    with pytest.raises(ValueError, match="yscale"):
        plot_fit(fit_a, yscale="symlog")
    with pytest.raises(ValueError, match="level"):
        plot_fit(fit_a, level=1.5)
    with pytest.raises(ValueError, match="extrapolate_to"):
        plot_fit(fit_a, extrapolate_to=-1.0)


def test_components_draw_one_faint_dashed_line_per_segment(fit_b):
    ax = plot_fit(fit_b, components=True)
    segments = by_gid(ax, "segment")
    assert 1 <= len(segments) <= fit_b.n_breaks + 1
    for line in segments:
        assert line.get_linestyle() == "--" and line.get_alpha() < 1


def test_segment_laws_are_the_asymptotes():
    p = bnsl.BNSLParams(0.01, 2.0, 0.2, [0.6, -0.3], [1e3, 1e6], [0.05, 0.05])
    law = lambda x: np.asarray(bnsl.predict(p, np.asarray(x, float)))  # noqa: E731
    segs = segment_laws(p, [10.0, 3e4, 1e8])
    assert segs.shape == (3, 3)
    # Far from the breaks (f = 0.05: sharp) each segment matches the law on its own stretch.
    np.testing.assert_allclose(segs[0, 0], law(10.0), rtol=1e-6)
    np.testing.assert_allclose(segs[1, 1], law(3e4), rtol=1e-6)
    np.testing.assert_allclose(segs[2, 2], law(1e8), rtol=1e-6)
    # Log-log slopes of y - a: -c0, -(c0 + c1), -(c0 + c1 + c2).
    x = np.array([1.0, 10.0])
    slopes = np.diff(np.log(segment_laws(p, x) - p.a), axis=1)[:, 0] / np.log(10.0)
    np.testing.assert_allclose(slopes, p.slopes(), rtol=1e-9)


def test_two_fits_share_one_axes(fit_a, fit_b):
    ax = plot_fit(fit_a, extrapolate_to=FAR)
    assert plot_fit(fit_b, ax=ax, extrapolate_to=FAR) is ax
    fits = by_gid(ax, "fit")
    assert [to_rgba(f.get_color()) for f in fits] == [to_rgba(PALETTE[0]), to_rgba(PALETTE[1])]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    assert to_rgba(bands[0].get_facecolor()[0])[:3] != to_rgba(bands[1].get_facecolor()[0])[:3]
    # two data sets, labelled once; one entry per fit; one for the dashed extrapolations
    assert len(by_gid(ax, "data")) == 2
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == [f"BNSL, {fit_a.n_breaks} break{'' if fit_a.n_breaks == 1 else 's'}",
                     "BNSL, 1 break", "data", "extrapolation"]


def test_same_data_is_drawn_once(fit_a):
    ax = plot_fit(fit_a, label="first")
    plot_fit(fit_a, ax=ax, label="second", color="black")
    assert len(by_gid(ax, "data")) == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["first", "second", "data"]
    assert to_rgba(by_gid(ax, "fit")[1].get_color()) == to_rgba("black")


def test_existing_axes_and_user_labels_are_kept(fit_a):
    fig, ax = plt.subplots()
    ax.set_xlabel("my x")
    ax.plot([1e3, 1e4], [0.5, 0.4], label="mine")
    assert plot_fit(fit_a, ax=ax) is ax
    assert ax.get_xlabel() == "my x" and ax.get_ylabel() == "loss"
    assert "mine" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_rcparams_untouched(fit_a, fit_b):
    before = {k: repr(v) for k, v in matplotlib.rcParams.items()}
    plot_fit(fit_a, extrapolate_to=FAR, components=True)
    plot_evidence(fit_a)
    plot_many([fit_a, fit_b], extrapolate_to=FAR)
    after = {k: repr(v) for k, v in matplotlib.rcParams.items()}
    assert after == before


def visible_tick_labels(axis):
    lo, hi = sorted(axis.get_view_interval())
    return [t for t, loc in zip(axis.get_ticklabels(), axis.get_ticklocs())
            if t.get_text() and lo <= loc <= hi]


@pytest.mark.parametrize("extrapolate_to", [None, FAR, 2e6])
def test_readable_at_single_column(fit_a, extrapolate_to):
    ax = plot_fit(fit_a, extrapolate_to=extrapolate_to)
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for axis in (ax.xaxis, ax.yaxis):
        labels = visible_tick_labels(axis)
        assert len(labels) >= 2
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: (b.x0, b.y0))
        for first, second in zip(boxes, boxes[1:]):
            assert not first.overlaps(second)
        assert all(t.get_fontsize() == 7 for t in labels)
    assert ax.xaxis.label.get_fontsize() == 8 and ax.yaxis.label.get_fontsize() == 8
    # everything lies inside the figure (constrained layout)
    fig_box = fig.bbox
    for artist in (ax.xaxis.label, ax.yaxis.label, *visible_tick_labels(ax.xaxis),
                   *visible_tick_labels(ax.yaxis)):
        if artist.get_text():
            box = artist.get_window_extent(renderer)
            assert box.x0 >= fig_box.x0 - 1 and box.x1 <= fig_box.x1 + 1
            assert box.y0 >= fig_box.y0 - 1 and box.y1 <= fig_box.y1 + 1


def test_plot_evidence_probability(fit_a):
    ax = plot_evidence(fit_a)
    bars = ax.containers[-1]
    ns = sorted(fit_a.candidates)
    assert len(bars) == len(ns) == 3
    np.testing.assert_allclose([b.get_height() for b in bars], [fit_a.probabilities[n] for n in ns])
    chosen = ns.index(fit_a.n_breaks)
    colors = [to_rgba(b.get_facecolor()) for b in bars]
    assert colors[chosen] == to_rgba(PALETTE[0])
    assert all(c != colors[chosen] for i, c in enumerate(colors) if i != chosen)
    assert list(ax.get_xticks()) == ns
    assert ax.get_ylabel() == "posterior probability"


def test_plot_evidence_log_evidence(fit_a):
    ax = plot_evidence(fit_a, kind="log_evidence")
    bars = ax.containers[-1]
    ns = sorted(fit_a.candidates)
    np.testing.assert_allclose([b.get_height() for b in bars], [fit_a.log_evidence[n] for n in ns])
    with pytest.raises(ValueError, match="kind"):
        plot_evidence(fit_a, kind="bic")


def test_plot_many_grid(fit_a, fit_b):
    fits = {"A": fit_a, "B": fit_b, "C": fit_a}
    axes = plot_many(fits, ncols=2, extrapolate_to={"A": FAR, "B": None, "C": 2e6})
    assert isinstance(axes, np.ndarray) and axes.shape == (2, 2)
    assert [ax.get_title() for ax in axes.flat[:3]] == ["A", "B", "C"]
    assert not axes.flat[3].axison
    assert len(by_gid(axes[0, 0], "extrapolation")) == 1
    assert not by_gid(axes[0, 1], "extrapolation")
    assert axes[0, 0].get_xlim()[1] >= FAR
    fig = axes[0, 0].figure
    assert all(ax.get_legend() is None for ax in axes.flat)
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "data", "BNSL fit", "extrapolation", "90% band"]
    # shared names are written once for the figure
    figure_texts = [t.get_text() for t in fig.texts]
    assert "params" in figure_texts and "loss" in figure_texts
    assert axes[0, 0].get_xlabel() == "" and axes[0, 0].get_ylabel() == ""


def test_plot_many_list_and_defaults(fit_a, fit_b):
    axes = plot_many([fit_a, fit_b, fit_a, fit_b, fit_a])
    assert axes.shape == (2, 4)
    assert axes[0, 0].figure.get_size_inches()[0] == pytest.approx(7.0)
    assert all(ax.get_title() == "" for ax in axes.flat)
    axes = plot_many([fit_a], titles=["only"], sharey=True)
    assert axes.shape == (1, 1) and axes[0, 0].get_title() == "only"
    with pytest.raises(ValueError, match="titles"):
        plot_many([fit_a, fit_b], titles=["one"])
    with pytest.raises(ValueError, match="fits"):
        plot_many([])
