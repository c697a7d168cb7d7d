"""Labelled grids: every title stays inside the figure, whatever the number of tiles."""

import pytest
import torch

from vizlab.plotting import labelled_grid


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
