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
