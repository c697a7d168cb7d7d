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


def test_bilinear_spatial_pooling_is_a_tent_at_the_cell_centres():
    from vizlab.models.hog import bilinear_pool

    ones = bilinear_pool(torch.ones(1, 1, 32, 32), 8)
    assert ones.shape == (1, 1, 4, 4)
    torch.testing.assert_close(ones[..., 1:3, 1:3], torch.ones(1, 1, 2, 2))  # interior cells
    dot = torch.zeros(1, 1, 32, 32)
    dot[0, 0, 11, 20] = 1.0  # 0.5 px above / below cell centres 11.5 and 19.5
    w = bilinear_pool(dot, 8)[0, 0] * 64
    torch.testing.assert_close(w[1, 2], torch.tensor(0.9375**2))
    torch.testing.assert_close(w[0, 2], torch.tensor(0.0625 * 0.9375))
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))  # the vote is shared, not lost


def test_dsift_descriptors_are_normalized_128_vectors_blind_to_brightness():
    from vizlab.models.hog import build_handcrafted

    net = build_handcrafted("dsift").double()
    x = torch.from_numpy(_photo()).permute(2, 0, 1)[None] - 0.5
    out = net(x)
    assert out.shape == (1, 128, 96 // 8 - 3, 120 // 8 - 3)
    torch.testing.assert_close(out.square().sum(1), torch.ones(1, *out.shape[2:]).double())
    assert out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(net(x + 0.1), out)  # gradients ignore a brightness offset
    flipped = net(x.flip(-1))  # signed orientations: a mirror image has other histograms
    assert not torch.allclose(flipped.flip(-1), out, atol=1e-3)
    assert net.receptive_field("blocks").size == 5 * 8 + 2


@pytest.mark.parametrize("model", ["hog", "hogb", "dsift"])
def test_hog_inversion_runs_like_a_cnn_layer(model):
    ctx = make_context(
        "experiment=hog_inversion", f"model={model}", "data.size=64", "method.iterations=60",
        "method.finetune_iterations=10",
    )  # fmt: skip
    assert ctx.model.receptive_field("blocks").stride == 8
    assert ctx.regularizers.jitter(8).T == 1  # the paper inverts HOG without jitter
    m = Inversion().run(ctx).metrics
    assert m["layer"] == "blocks" and "classification_consistency" not in m
    limit = {"hog": 45.0, "hogb": 20.0, "dsift": 15.0}[model]  # measured 29 / 11 / 4
    assert m["reconstruction_error"] < limit, m


def test_bad_handcrafted_arguments_are_one_clear_error():
    from vizlab.errors import VizlabError
    from vizlab.models.hog import build_handcrafted

    for kwargs in ({"orientation": 9}, {"binning": "nearest"}):
        with pytest.raises(VizlabError, match="model=hog does not take model.kwargs"):
            build_handcrafted("hog", **kwargs)
