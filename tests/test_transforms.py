"""Per-step transforms: shapes, differentiability, per-image random streams, the post-step
hooks of Yosinski et al., config building, and their wiring into the pre-image engine."""

from __future__ import annotations

import pytest
import torch

from vizlab.errors import VizlabError
from vizlab.regularizers import build_regularizers
from vizlab.transforms import (
    BlurEvery,
    ClipSmallContribution,
    ClipSmallNorm,
    Jitter,
    Pad,
    RandomCrop,
    RandomRotate,
    RandomScale,
    build_transforms,
    fit,
)

RANDOM = {
    "jitter": Jitter(pixels=8),
    "scale": RandomScale(0.8, 1.2),
    "rotate": RandomRotate(20),
    "crop": RandomCrop(0.5, 0.9),
}


@pytest.fixture(autouse=True)
def _close_figures():
    """Methods return matplotlib figures; close them so many short runs stay cheap."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(3, 3, 24, 32, generator=torch.Generator().manual_seed(0)) * 40


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_transform_keeps_shape_and_is_differentiable(name, images):
    x = images.clone().requires_grad_(True)
    y = RANDOM[name](x, gens(1, 2, 3))
    assert y.shape == images.shape
    weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(5))
    (y * weights).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_pad_grows_by_width_and_is_differentiable(images):
    x = images.clone().requires_grad_(True)
    y = Pad(width=5)(x)
    assert y.shape == (3, 3, 34, 42)
    assert torch.equal(y[..., :5, :], torch.zeros_like(y[..., :5, :]))  # mean colour
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    assert fit(y, (24, 32)).equal(images)


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_each_image_has_its_own_random_stream(name, images):
    t = RANDOM[name]
    batched = t(images, gens(11, 12, 13))
    separate = torch.cat([t(images[i : i + 1], gens(s)) for i, s in enumerate((11, 12, 13))])
    assert torch.allclose(batched, separate, atol=1e-5)
    assert not torch.allclose(t(images, gens(11, 12, 13)), t(images, gens(21, 22, 23)))


def test_jitter_is_an_integer_translation():
    x = torch.arange(1, 1 + 20 * 20, dtype=torch.float32).view(1, 1, 20, 20).expand(1, 3, -1, -1)
    shifted = Jitter(pixels=5)(x, gens(3))
    # the interior is x moved by one offset in [-2, 2] per axis
    found = [
        (dy, dx)
        for dy in range(-2, 3)
        for dx in range(-2, 3)
        if torch.equal(shifted[..., 4:16, 4:16], x[..., 4 + dy : 16 + dy, 4 + dx : 16 + dx])
    ]
    assert len(found) == 1


def test_blur_every_k_steps_only():
    x = torch.randn(2, 3, 16, 16)
    blur = BlurEvery(every=4, sigma=1.0)
    assert blur(0, x) is None and blur(2, x) is None
    y = blur(3, x)
    assert y.shape == x.shape and y.std() < 0.8 * x.std()


def test_clip_small_norm_zeroes_the_given_fraction():
    x = torch.randn(2, 3, 20, 20, generator=torch.Generator().manual_seed(0))
    y = ClipSmallNorm(percentile=30)(0, x)
    zero = (y.norm(dim=1) == 0).float().mean(dim=(1, 2))
    assert torch.allclose(zero, torch.full((2,), 0.30), atol=0.01)
    kept = y.norm(dim=1) > 0
    assert torch.equal(y.permute(0, 2, 3, 1)[kept], x.permute(0, 2, 3, 1)[kept])


def test_clip_small_contribution_uses_the_gradient():
    x = torch.ones(1, 3, 10, 10)
    grad = torch.zeros_like(x)
    grad[..., :5, :] = 1.0  # only the top half contributes
    y = ClipSmallContribution(percentile=50)(0, x, grad)
    assert torch.equal(y[..., :5, :], x[..., :5, :]) and y[..., 5:, :].abs().sum() == 0
    assert ClipSmallContribution(percentile=50)(0, x, None) is None


def test_composed_configs_build_the_documented_stacks(compose_cfg):
    assert not build_transforms(compose_cfg().transforms).transforms
    standard = build_transforms(compose_cfg("transforms=standard").transforms)
    kinds = [type(t).__name__ for t in standard.transforms]
    assert kinds == ["Pad", "Jitter", "RandomScale", "RandomRotate", "Jitter"]
    assert standard.transforms[-1].pixels == 4 and not standard.hooks
    cfg = compose_cfg("transforms=yosinski")
    yosinski = build_transforms(cfg.transforms)
    assert [type(h) for h in yosinski.hooks] == [BlurEvery, ClipSmallNorm, ClipSmallContribution]
    assert yosinski.wants_grad
    assert [type(t).__name__ for t in yosinski.transforms] == ["Jitter"]
    regs = build_regularizers(cfg.regularizers)
    assert [name for name, _, _ in regs.penalties] == ["l2"] and regs.jitter_T is None
    edited = build_transforms(
        compose_cfg(
            "transforms=standard", "~transforms.rotate", "transforms.jitter.pixels=3"
        ).transforms
    )
    assert len(edited.transforms) == 4 and edited.transforms[1].pixels == 3


def test_bad_transform_config_names_the_valid_choices():
    with pytest.raises(VizlabError, match="transforms.twirl.*Valid: .*rotate"):
        build_transforms({"twirl": {}})
    with pytest.raises(VizlabError, match="transforms.jitter.pxels.*pixels"):
        build_transforms({"jitter": {"pxels": 3}})


def _am(ctx_factory, *overrides: str):
    from vizlab.methods.activation_max import ActivationMax

    ctx = ctx_factory(
        "model=tiny_cnn",
        "data.size=64",
        "method=activation_max",
        "target=channel",
        "target.layer=blocks.2",
        "method.iterations=4",
        "method.reference_set=data",  # M over the one data image: no photo set needed
        *overrides,
    )
    return ActivationMax().run(ctx), ctx


def test_engine_applies_transforms_and_hooks(ctx_factory):
    plain = _am(ctx_factory, "target.index=1")[0].tensors["visualization"]
    moved = _am(ctx_factory, "target.index=1", "transforms=standard")[0].tensors["visualization"]
    assert not torch.allclose(plain, moved, atol=1e-4)
    clipped, ctx = _am(ctx_factory, "target.index=1", "+transforms.clip_norm.percentile=60")
    image = clipped.tensors["visualization"]
    mean = torch.tensor(ctx.model.spec.mean).view(1, 3, 1, 1)  # paper-unit zero
    at_mean = ((image - mean).abs().amax(dim=1) < 1e-6).float().mean()
    assert at_mean > 0.5
