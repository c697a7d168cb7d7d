"""Labelled grids: every title stays inside the figure, whatever the number of tiles."""

import pytest
import torch
from matplotlib import ticker

from vizlab.plotting import curves, labelled_grid


@pytest.mark.parametrize("n", [1, 3, 16])
def test_labelled_grid_titles_fit_inside_the_figure(n):
    title = "Activation maximization: token_dim blocks.6[0, 1, 2] over all tokens of the image"
    fig = labelled_grid(torch.rand(n, 3, 16, 16), [f"unit {i}\np=0.50" for i in range(n)], 4, title)
    fig.canvas.draw()
    box = fig.bbox
    for text in [fig._suptitle, *(ax.title for ax in fig.axes)]:
        extent = text.get_window_extent()
        assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1, text.get_text()
        assert box.y0 - 1 <= extent.y0 and extent.y1 <= box.y1 + 1, text.get_text()


@pytest.mark.parametrize("lines", [1, 2])
def test_labelled_grid_tile_titles_clear_the_images_and_the_suptitle(lines):
    labels = ["\n".join(["unit 0"] + ["p=0.50"] * (lines - 1))] * 5
    fig = labelled_grid(torch.rand(5, 3, 16, 16), labels, 3, "a title\nof two lines")
    fig.draw_without_rendering()  # places every text
    images = [ax.get_window_extent() for ax in fig.axes]
    suptitle = fig._suptitle.get_window_extent()
    for ax in fig.axes:
        title = ax.title.get_window_extent().padded(-1)  # touching is not overlapping
        assert title.y1 <= suptitle.y0
        assert not any(title.overlaps(image) for image in images)


@pytest.mark.parametrize(
    "history",
    [
        {"energy": [10.0, 1.0, 1e-12], "data": [1.0, 0.5, 0.25]},  # log scale
        {"objective": [-1.0, -2.0, -12345.678]},
        {"loss": [1e7, 2e7, 3.5e7]},
    ],
)
def test_curves_keep_every_label_inside_the_figure(history):
    fig = curves(history, "a title")
    fig.draw_without_rendering()  # places every text
    box = fig.bbox
    for ax in fig.axes:
        drawn = ax.get_tightbbox()  # the axes with its tick labels, labels and title
        assert box.x0 - 1 <= drawn.x0 and drawn.x1 <= box.x1 + 1
        assert box.y0 - 1 <= drawn.y0 and drawn.y1 <= box.y1 + 1


def test_the_unweighted_data_term_gets_its_own_axis():
    """energy = penalties + C * data with C in the thousands: on the energy's axis the data term
    would be a flat line at zero, so it is drawn against a right axis of its own scale."""
    history = {"energy": [5.0, -3.0, -10.5], "data": [-1e-4, -2e-4, -2.4e-4], "tv": [1.6, 1.5, 1.5]}
    fig = curves(history)
    left, right = fig.axes
    assert [line.get_label() for line in left.get_lines()] == ["energy", "tv"]
    assert [line.get_label() for line in right.get_lines()] == ["data (right axis)"]
    low, high = right.get_ylim()
    assert low <= -2.4e-4 and high >= -1e-4 and high - low < 1e-3  # its own scale
    legend = [text.get_text() for text in left.get_legend().get_texts()]
    assert legend == ["energy", "tv", "data (right axis)"]
    assert len(curves({"data": [1.0, 0.5]}).axes) == 1  # alone, it needs no second axis


def test_log_axes_label_every_decade_in_range_and_keep_minor_ticks_when_narrow():
    wide = curves({"energy": [1e3, 1.0, 1e-3], "tv": [2.0, 1.0, 0.5]})
    wide.draw_without_rendering()
    (ax,) = wide.axes
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    labels = {
        tick.label1.get_text()
        for tick in ax.yaxis.get_major_ticks()
        if low <= tick.get_loc() <= high
    }
    assert {"10⁻³", "10⁰", "10³"} <= labels  # every decade, plain text (no mathtext)
    assert not ax.yaxis.get_minorticklocs().size
    narrow = curves({"energy": [3.0, 2.0, 1.5]})
    narrow.draw_without_rendering()
    assert narrow.axes[0].get_yscale() == "log"
    assert narrow.axes[0].yaxis.get_minorticklocs().size  # labels between the decades
    flat = curves({"objective": [-1.0, 2.0, float("nan")]})
    assert flat.axes[0].get_yscale() == "linear"


def test_narrow_log_axes_keep_matplotlibs_labels_in_plain_text():
    """The ticks matplotlib labels on a narrow log axis, with its words, minus the mathtext."""
    fig = curves({"energy": [3.0, 2.0, 1.5], "tv": [2.2, 2.0, 1.9]})
    fig.draw_without_rendering()
    axis = fig.axes[0].yaxis
    for ticks, default in (
        (axis.get_major_ticks(), ticker.LogFormatterSciNotation(10)),
        (axis.get_minor_ticks(), ticker.LogFormatterSciNotation(10, labelOnlyBase=False)),
    ):
        locs = [tick.get_loc() for tick in ticks]
        default.set_axis(axis)
        default.set_locs(locs)
        expected = [default(loc) for loc in locs]
        plain = [
            text.removeprefix("$\\mathdefault{").removesuffix("}$").replace("\\times", "×")
            for text in expected
        ]
        for old, new in (("^{-1}", "⁻¹"), ("^{0}", "⁰"), ("^{1}", "¹")):
            plain = [text.replace(old, new) for text in plain]
        assert [tick.label1.get_text() for tick in ticks] == plain
    labelled = [t.label1.get_text() for t in axis.get_minor_ticks() if t.label1.get_text()]
    assert "2×10⁰" in labelled and not any("$" in text for text in labelled)


def test_narrow_log_axes_build_only_the_ticks_in_view():
    fig = curves({"energy": [3.0, 2.0, 1.5]})
    fig.draw_without_rendering()
    axis = fig.axes[0].yaxis
    low, high = axis.get_view_interval()
    minor = axis.get_minorticklocs()
    assert minor.size and all(low <= loc <= high for loc in minor)
    assert len(axis.get_minor_ticks()) == minor.size  # no tick objects built for a loc out of view
    assert {2.0, 3.0} <= {round(loc, 6) for loc in minor}  # the labelled ones
