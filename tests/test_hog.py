"""HOG as a network (M&V Sect. 4.1): equal to scikit-image's reference, differentiable where
it matters, and invertible with the same pre-image machinery as a CNN layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color, data
from skimage.feature import hog

from tests.conftest import make_context
from vizlab.methods.inversion import Inversion
from vizlab.models.hog import HOG


def _photo(h: int = 96, w: int = 120) -> np.ndarray:
    return data.chelsea()[40 : 40 + h, 60 : 60 + w].astype(np.float64) / 255


def _as_skimage_layout(out: torch.Tensor) -> np.ndarray:
    """N x (2 2 9) x h x w -> skimage's ravel order (block row, block col, 2, 2, 9)."""
    return out[0].permute(1, 2, 0).reshape(*out.shape[2:], 2, 2, 9).detach().numpy().ravel()


def test_hard_hog_equals_skimage():
    img = _photo()
    ref = hog(
        color.rgb2gray(img),
        orientations=9,
        pixels_per_cell=(8, 8),
        cells_per_block=(2, 2),
        block_norm="L2-Hys",
    )
    x = torch.from_numpy(img).permute(2, 0, 1)[None] - 0.5  # the model input: unit - 0.5
    ours = _as_skimage_layout(HOG().double()(x))
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_bilinear_votes_keep_the_cell_mass_and_give_finite_gradients():
    x = torch.from_numpy(_photo()).permute(2, 0, 1)[None].float() - 0.5
    x[..., :16, :16] = 0.0  # a flat patch: zero gradients, where atan2 / sqrt are singular
    hard, soft = HOG(binning="hard"), HOG(binning="bilinear")
    cells_hard = hard.cells(hard.gradient(hard.gray(x)))
    cells_soft = soft.cells(soft.gradient(soft.gray(x)))
    torch.testing.assert_close(cells_hard.sum(1), cells_soft.sum(1), atol=1e-6, rtol=1e-5)
    assert not torch.equal(cells_hard, cells_soft)
    for net in (hard, soft):
        xg = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(net(xg).square().sum(), xg)
        assert torch.isfinite(g).all() and g.abs().sum() > 0
    with pytest.raises(ValueError, match="binning"):
        HOG(binning="nearest")


@pytest.mark.parametrize("model", ["hog", "hogb"])
def test_hog_inversion_runs_like_a_cnn_layer(model):
    ctx = make_context(
        "experiment=hog_inversion", f"model={model}", "data.size=64", "method.iterations=60",
        "method.finetune_iterations=10",
    )  # fmt: skip
    assert ctx.model.receptive_field("blocks").stride == 8
    assert ctx.regularizers.jitter(8).T == 1  # the paper inverts HOG without jitter
    m = Inversion().run(ctx).metrics
    assert m["layer"] == "blocks" and "classification_consistency" not in m
    assert m["reconstruction_error"] < (45.0 if model == "hog" else 20.0), m  # measured 29 / 11
