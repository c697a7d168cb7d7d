"""Metrics of SPEC §3 on hand-made cases."""

import math

import numpy as np
import torch

from vizlab.metrics import (
    classification_consistency,
    gradient_histogram_intersection,
    mean_ci95,
    normalized_error,
)


def test_normalized_error_hand_case_and_mask():
    phi0 = torch.tensor([[3.0, 4.0, 0.0]])
    phi = torch.tensor([[3.0, 0.0, 3.0]])
    # ||phi - phi0||^2 = 16 + 9 = 25, ||phi0||^2 = 25 -> 1.0
    assert torch.allclose(normalized_error(phi, phi0), torch.tensor([1.0]))
    mask = torch.tensor([1.0, 0.0, 0.0])
    assert torch.allclose(normalized_error(phi, phi0, mask), torch.tensor([0.0]))


def test_mean_ci95():
    values = [1.0, 2.0, 3.0, 4.0]
    mean, half = mean_ci95(values)
    assert mean == 2.5
    assert math.isclose(half, 1.96 * np.std(values, ddof=1) / 2)


def test_classification_consistency():
    a = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    b = torch.tensor([[0.0, 3.0], [0.0, 1.0]])
    assert classification_consistency(a, b).tolist() == [1.0, 0.0]


def test_gradient_histogram_intersection():
    g = torch.Generator().manual_seed(0)
    natural = torch.rand(3, 32, 32, generator=g)
    assert math.isclose(gradient_histogram_intersection(natural, natural), 1.0)
    flat = torch.full((3, 32, 32), 0.5)
    assert gradient_histogram_intersection(flat, natural) < 0.2


def test_sweep_summary_of_a_one_layer_sweep_over_models(tmp_path):
    """Table 2's form: one layer, several models -> one row per model, plotted by model;
    the std-over-inits panel appears only when some job had several starts."""
    import json
    from unittest import mock

    from vizlab import sweep

    for i, (model, err) in enumerate([("hog", 38.0), ("hogb", 15.0), ("dsift", 9.0)]):
        job = tmp_path / f"{i}_model={model}"
        job.mkdir()
        m = {"model": model, "layer": "blocks", "C": 100.0, "num_inits": 1,
             "reconstruction_error": err, "reconstruction_error_ci95": 2.0,
             "reconstruction_error_std_inits": 0.0}  # fmt: skip
        (job / "metrics.json").write_text(json.dumps(m))
    from matplotlib.figure import Figure

    with mock.patch.object(
        Figure, "subplots", autospec=True, side_effect=Figure.subplots
    ) as subplots:
        written = sweep.write_summary(tmp_path)
    assert subplots.call_args.args[1:3] == (1, 1)  # no all-zero std panel for single starts
    assert [p.name for p in written][-1] == "reconstruction_error_by_layer.png"
    rows = json.loads((tmp_path / "sweep_summary.json").read_text())
    assert sorted(r["model"] for r in rows) == ["dsift", "hog", "hogb"]
