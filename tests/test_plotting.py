"""Labelled grids: every title stays inside the figure, whatever the number of tiles."""

import pytest
import torch

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
    drawn = fig.axes[0].get_tightbbox()  # the axes with its tick labels, labels and title
    box = fig.bbox
    assert box.x0 - 1 <= drawn.x0 and drawn.x1 <= box.x1 + 1
    assert box.y0 - 1 <= drawn.y0 and drawn.y1 <= box.y1 + 1
