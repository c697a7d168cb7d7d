"""The transform stack applies a constant pad followed by jitters, zooms and rotations as one
resampling; these tests hold it to the transforms applied one by one (same random draws,
same maps, same pixels up to one interpolation)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vizlab.transforms import Jitter, Pad, RandomRotate, RandomScale, TransformStack, fit
from vizlab.transforms.spatial import resample

SIZE = (40, 48)


def gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def one_by_one(stack: TransformStack, x: torch.Tensor, generators) -> torch.Tensor:
    for t in stack.transforms:
        x = t(x, generators)
    return x


def smooth_images(n: int = 3) -> torch.Tensor:
    """Smooth images (two 7 x 7 box blurs of noise), so that one bilinear interpolation and
    two of them give nearly the same pixels."""
    shape = (n, 3, SIZE[0] + 12, SIZE[1] + 12)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    return F.avg_pool2d(F.avg_pool2d(noise, 7, 1), 7, 1) * 40


def standard(degrees: float = 10.0, low: float = 0.9, high: float = 1.1) -> TransformStack:
    return TransformStack(
        [Pad(12), Jitter(8), RandomScale(low, high), RandomRotate(degrees), Jitter(4)]
    )


def test_without_zoom_or_rotation_the_one_resampling_is_exact():
    x = smooth_images()
    stack = standard(degrees=0.0, low=1.0, high=1.0)
    expected = fit(one_by_one(stack, x, gens(1, 2, 3)), SIZE)
    assert torch.allclose(stack(x, gens(1, 2, 3), size=SIZE), expected, atol=1e-4)
    assert torch.allclose(fit(stack(x, gens(1, 2, 3)), SIZE), expected, atol=1e-4)


def test_the_standard_stack_matches_the_transforms_one_by_one():
    x = smooth_images()
    expected = fit(one_by_one(standard(), x, gens(1, 2, 3)), SIZE)
    fused = standard()(x, gens(1, 2, 3), size=SIZE)
    other_draws = standard()(x, gens(4, 5, 6), size=SIZE)
    error = (fused - expected).abs().mean()
    assert error < 0.05 * x.abs().mean()  # one bilinear interpolation instead of two
    assert error < 0.2 * (other_draws - expected).abs().mean()  # the same random transforms


def test_fusion_keeps_the_random_streams_in_step():
    """After the stack, each generator is where the transforms one by one leave it."""
    x = smooth_images()
    a, b = gens(1, 2, 3), gens(1, 2, 3)
    one_by_one(standard(), x, a)
    standard()(x, b, size=SIZE)
    assert [float(torch.rand((), generator=g)) for g in a] == [
        float(torch.rand((), generator=g)) for g in b
    ]


@pytest.mark.parametrize(
    "stack",
    [
        TransformStack([Pad(12, mode="reflect"), RandomRotate(10)]),  # not a constant pad
        TransformStack([Pad(2), Jitter(8), RandomRotate(10)]),  # jitter wider than the pad
        TransformStack([Pad(12, value=5.0), RandomRotate(10, fill=0.0)]),  # other fill
    ],
)
def test_stacks_that_one_resampling_would_change_run_one_by_one(stack):
    x = smooth_images()
    expected = one_by_one(stack, x, gens(1, 2, 3))
    assert torch.equal(stack(x, gens(1, 2, 3)), expected)


def test_a_nonzero_fill_surrounds_the_image():
    x = torch.zeros(1, 3, 16, 16)
    y = resample(x, [(1.0, 0.0, 100.0, 0.0, 1.0, 0.0)], (16, 16), fill=7.0)  # far outside
    assert torch.allclose(y, torch.full_like(y, 7.0))
