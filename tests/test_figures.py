"""Methods build their figures as matplotlib Figure objects, never through pyplot's global
state, so running them in-process (a notebook, a sweep) leaves no open figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from vizlab.registry import load

RUNS = [
    ("saliency", ("model=tiny_cnn", "data.size=32")),
    ("occlusion", ("model=tiny_cnn", "data.size=32", "method.patch=16")),
    ("filters", ("model=tiny_cnn", "data.size=32")),
    ("activation_maps", ("model=tiny_cnn", "data.size=32", "method.max_channels=4")),
    ("vit_attention", ("model=tiny_vit", "data.size=32")),
    ("embedding", ("model=tiny_cnn", "data.size=32", "method.max_images=8")),
    ("nearest_neighbors", ("model=tiny_cnn", "data.size=32", "method.max_images=8")),
]


@pytest.mark.parametrize(("method", "overrides"), RUNS, ids=[m for m, _ in RUNS])
def test_methods_leave_no_pyplot_figures(ctx_factory, method, overrides):
    plt.close("all")
    result = load(method)().run(ctx_factory(f"method={method}", *overrides))
    assert result.figures
    assert all(isinstance(f, Figure) for f in result.figures.values())
    assert plt.get_fignums() == []
