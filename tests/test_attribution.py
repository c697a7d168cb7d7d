"""vizlab.attribution and the attribution method plugins (saliency, occlusion, grabcut, cam,
gradcam, guided_gradcam) on tiny random timm models, plus short end-to-end checks on the
offline pretrained EfficientNet-Lite0. Agreement with captum / pytorch-grad-cam is in
test_attribution_peers.py."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from torch import nn

from vizlab.attribution import (
    CAM,
    GradCAM,
    Gradient,
    GuidedBackprop,
    IntegratedGradients,
    Occlusion,
    SmoothGrad,
    default_cam_layer,
    final_feature_layer,
    guided_activations,
    select_target,
    tokens_to_grid,
)
from vizlab.attribution.integrated_gradients import METHODS, quadrature
from vizlab.attribution.occlusion import occlusion_masks
from vizlab.errors import VizlabError
from vizlab.registry import load

SMALL = ("data.size=64",)


@pytest.fixture(autouse=True, scope="module")
def _flush_denormals():
    """The random tiny models drive activations into denormal floats, which make a CPU
    forward pass ~20x slower; flushing them to zero changes no compared digit."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


@pytest.fixture(scope="module")
def cnn() -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model("test_efficientnet").eval()


@pytest.fixture(scope="module")
def vit() -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model("test_vit", reg_tokens=4, dynamic_img_size=True).eval()


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 64, 64, generator=g), torch.tensor([3, 7])


class Linear(nn.Module):
    """f(x) = sum(w * x) per image (+ a second, unused output column): attributions are known
    in closed form."""

    def __init__(self, shape=(3, 8, 8)):
        super().__init__()
        self.w = nn.Parameter(torch.randn(shape, generator=torch.Generator().manual_seed(2)))

    def forward(self, x):
        s = (x * self.w).flatten(1).sum(1)
        return torch.stack([s, -s], 1)


# ----- targets and quadrature -------------------------------------------------------------
def test_select_target_per_image_and_errors():
    out = torch.arange(12.0).view(3, 4)
    assert select_target(out, 1).tolist() == [1.0, 5.0, 9.0]
    assert select_target(out, [0, 1, 2]).tolist() == [0.0, 5.0, 10.0]
    assert select_target(torch.ones(3), None).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        select_target(out, None)
    with pytest.raises(ValueError):
        select_target(out, [0, 1])


@pytest.mark.parametrize("method", METHODS)
def test_quadrature_weights_sum_to_one_on_unit_interval(method):
    alphas, weights = quadrature(16, method)
    assert len(alphas) == len(weights) == 16
    assert sum(weights) == pytest.approx(1.0)
    assert min(alphas) >= 0 and max(alphas) <= 1
    # int_0^1 a da = 1/2: exact except for the one-sided Riemann sums (error 1/(2n))
    expected_error = {"riemann_left": -1 / 32, "riemann_right": 1 / 32}.get(method, 0.0)
    integral = sum(a * w for a, w in zip(alphas, weights))
    assert integral == pytest.approx(0.5 + expected_error, abs=1e-6)


# ----- gradients, IG, SmoothGrad ----------------------------------------------------------
def test_gradient_and_integrated_gradients_of_a_linear_model_are_exact():
    model = Linear()
    x = torch.randn(2, 3, 8, 8)
    grad = Gradient(model).attribute(x, 0)
    assert torch.allclose(grad, model.w.detach().expand_as(x))
    for method in ("gausslegendre", "riemann_trapezoid"):
        ig, gap = IntegratedGradients(model).attribute(
            x, 0, n_steps=4, method=method, return_convergence_delta=True
        )
        assert torch.allclose(ig, x * model.w.detach(), atol=1e-5)
        assert gap.abs().max() < 1e-4


def test_integrated_gradients_completeness_and_batching(cnn, batch):
    x, t = batch[0][:1, :, :32, :32], 3
    ig = IntegratedGradients(cnn)
    full, gap = ig.attribute(x, t, n_steps=8, return_convergence_delta=True)
    change = ig.scores(x, t) - ig.scores(torch.zeros_like(x), t)
    assert (gap.abs() / change.abs()).max() < 0.05  # Sundararajan et al. Prop. 1
    chunked = ig.attribute(x, t, n_steps=8, internal_batch_size=3)
    assert torch.allclose(chunked, full, atol=1e-6 * full.abs().max().item())


def test_smoothgrad_zero_noise_is_the_gradient_and_seeded(cnn, batch):
    x, t = batch[0][:1, :, :32, :32], 3
    grad = Gradient(cnn).attribute(x, t)
    smooth = SmoothGrad(Gradient(cnn))
    zero = smooth.attribute(x, t, n_samples=3, noise_level=0.0, batch_size=2)
    assert torch.allclose(zero, grad, atol=1e-6 * grad.abs().max().item())

    def run(batch_size):
        g = torch.Generator().manual_seed(5)
        return smooth.attribute(x, t, n_samples=4, batch_size=batch_size, generator=g)

    a, b = run(None), run(3)
    assert torch.allclose(a, b, atol=1e-6 * a.abs().max().item())
    assert not torch.allclose(a, grad, atol=1e-3 * grad.abs().max().item())
    squared = smooth.attribute(x, t, n_samples=4, squared=True)
    assert (squared >= 0).all()


# ----- guided backprop ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("act", "derivative"),
    [
        (nn.ReLU(inplace=True), lambda x: (x > 0).float()),
        (nn.ReLU6(), lambda x: ((x > 0) & (x < 6)).float()),
        (nn.SiLU(), lambda x: torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x)))),
        (
            nn.GELU(),
            lambda x: (
                0.5 * (1 + torch.erf(x / 2**0.5))
                + x * torch.exp(-0.5 * x**2) / (2 * torch.pi) ** 0.5
            ),
        ),
    ],
)
def test_guided_rule_is_clamped_local_derivative_times_clamped_upstream(act, derivative):
    x = torch.linspace(-8, 8, 401)
    upstream = torch.sin(3 * x)  # both signs
    model = nn.Sequential(act)
    with guided_activations(model) as names:
        assert names == ["0"]
        leaf = x.clone().requires_grad_(True)
        out = model(leaf.clone())
        (grad,) = torch.autograd.grad(out, leaf, upstream)
    expected = (derivative(x) * upstream.clamp(min=0)).clamp(min=0)
    assert torch.allclose(grad, expected, atol=1e-5)
    assert torch.allclose(out.detach(), act(x.clone()))  # forward unchanged


def test_guided_activations_are_restored_even_after_an_error(cnn, batch):
    x, t = batch
    before = Gradient(cnn).attribute(x, t)
    guided = GuidedBackprop(cnn).attribute(x, t)
    assert not torch.allclose(guided, before)
    assert len(GuidedBackprop(cnn).guided_modules) == 0  # filled on attribute
    with pytest.raises(RuntimeError, match="boom"), guided_activations(cnn):
        raise RuntimeError("boom")
    assert not any("forward" in m.__dict__ for m in cnn.modules())
    assert torch.equal(Gradient(cnn).attribute(x, t), before)
    # squeeze-excite gates (sigmoid) are not rectifiers and keep their gradient
    with guided_activations(cnn) as names:
        modules = dict(cnn.named_modules())
        assert names and not any(isinstance(modules[n], nn.Sigmoid) for n in names)


def test_guided_backprop_without_rectifiers_is_an_error():
    with pytest.raises(ValueError, match="no rectifier"):
        GuidedBackprop(Linear()).attribute(torch.randn(1, 3, 8, 8), 0)


# ----- occlusion ----------------------------------------------------------------------------
def test_occlusion_of_a_linear_model_with_one_pixel_patches_is_w_times_x():
    model = Linear()
    x = torch.randn(1, 3, 8, 8)
    attr = Occlusion(model).attribute(x, 0, patch=1, stride=1, baselines=0.0, batch_size=7)
    expected = (x * model.w.detach()).sum(1, keepdim=True).expand_as(x)
    assert torch.allclose(attr, expected, atol=1e-5)


def test_occlusion_windows_cover_every_pixel_and_batching_is_exact(cnn, batch):
    masks = occlusion_masks(64, 64, (15, 15), (7, 7))
    assert masks.shape[0] == (int(np.ceil((64 - 15) / 7)) + 1) ** 2
    assert (masks.sum(0) >= 1).all()
    x, t = batch
    occ = Occlusion(lambda z: cnn(z).softmax(-1))
    one = occ.attribute(x, t, patch=32, stride=16, batch_size=1)
    many = occ.attribute(x, t, patch=32, stride=16, batch_size=100)
    assert torch.allclose(one, many, atol=1e-7)
    assert one.abs().max() > 0
    with pytest.raises(ValueError):
        occ.attribute(x, t, patch=16, stride=17)


def test_occlusion_batch_size_bounds_every_forward_pass_whatever_the_image_count(cnn, batch):
    """``batch_size`` is images per forward pass in total (captum's perturbations_per_eval is
    per input, so 10 photos at 32 would make 320-image passes); per-image targets follow."""
    x, t = batch
    sizes = []

    def forward(z):
        sizes.append(z.shape[0])
        return cnn(z).softmax(-1)

    together = Occlusion(forward).attribute(x, t, patch=32, stride=16, batch_size=4)
    assert max(sizes[1:]) <= 4  # sizes[0]: the unoccluded reference scores of all images
    for i in range(len(x)):
        alone = Occlusion(forward).attribute(x[i : i + 1], t[i : i + 1], patch=32, stride=16)
        torch.testing.assert_close(together[i : i + 1], alone, atol=1e-6, rtol=0)


# ----- CAMs and ViT tokens ------------------------------------------------------------------
def test_tokens_to_grid_drops_prefix_tokens_and_keeps_row_major_order(vit):
    h, w, prefix = 4, 5, vit.num_prefix_tokens
    assert prefix == 5  # class token + 4 register tokens
    patches = torch.arange(h * w).float().view(1, -1, 1).expand(1, -1, 2)
    tokens = torch.cat([-torch.ones(1, prefix, 2), patches], 1)
    grid = tokens_to_grid(tokens, vit, (64, 80))
    assert grid.shape == (1, 2, h, w)
    assert torch.equal(grid[0, 0], torch.arange(h * w).float().view(h, w))
    with pytest.raises(ValueError, match="patch grid"):
        tokens_to_grid(tokens, vit, (64, 64))


def test_default_layers_from_timm(cnn, vit):
    assert final_feature_layer(cnn, (64, 64)) == "bn2"
    assert default_cam_layer(cnn, (64, 64)) == "bn2"
    assert final_feature_layer(vit, (64, 64)) == "norm"
    assert default_cam_layer(vit, (64, 64)) == "blocks.5.norm1"
    avg = timm.create_model("test_vit", global_pool="avg", dynamic_img_size=True)
    assert default_cam_layer(avg, (64, 64)) == "blocks.5"


def test_cam_sums_to_the_logit_and_gradcam_is_its_rectified_mean(cnn, batch):
    """Zhou et al. Eq. 2 and Selvaraju et al. Sect. 3.1 ('Grad-CAM generalizes CAM')."""
    x, t = batch
    layer = dict(cnn.named_modules())["bn2"]
    with CAM(cnn, layer, cnn.get_classifier()) as cam:
        cam_map, logits = cam.maps(x, t)
    bias = cnn.get_classifier().bias[t].detach()
    assert torch.allclose(cam_map.flatten(1).mean(1) + bias, logits, atol=1e-6)
    with GradCAM(cnn, layer) as gradcam:
        grad_map, _ = gradcam.maps(x, t)
        up = gradcam.attribute(x, t)
    hw = cam_map.shape[-1] * cam_map.shape[-2]
    assert torch.allclose(grad_map, cam_map / hw, atol=1e-6 * cam_map.abs().max().item())
    assert up.shape == (2, 1, 64, 64) and (up >= 0).all()
    assert not layer._forward_hooks  # hook removed on exit
    with pytest.raises(RuntimeError, match="with"):
        GradCAM(cnn, layer).maps(x, t)


def test_gradcam_hook_is_removed_after_an_error(cnn, batch):
    layer = dict(cnn.named_modules())["bn2"]
    with pytest.raises(ValueError), GradCAM(cnn, layer) as gradcam:
        gradcam.maps(batch[0], [1, 2, 3])  # three targets for two images
    assert not layer._forward_hooks


def test_vit_gradcam_at_last_block_output_is_zero_but_not_at_norm1(vit):
    x, t = torch.randn(1, 3, 64, 80), 3
    mods = dict(vit.named_modules())
    with GradCAM(vit, mods["blocks.5"]) as cam:
        dead, _ = cam.maps(x, t)
    with GradCAM(vit, mods["blocks.5.norm1"]) as cam:
        alive, _ = cam.maps(x, t)
    assert dead.shape == alive.shape == (1, 4, 5)
    assert dead.abs().max() == 0 and alive.abs().max() > 0


# ----- method plugins on tiny models --------------------------------------------------------
def _check_images(result):
    assert result.images and result.figures
    for name, image in result.images.items():
        assert image.ndim == 3 and image.shape[-1] == 3, name
        assert image.min() >= 0 and image.max() <= 1, name


@pytest.mark.parametrize("model", ["tiny_cnn", "tiny_vit"])
def test_saliency_all_kinds(ctx_factory, model):
    ctx = ctx_factory(
        f"model={model}",
        *SMALL,
        "method=saliency",
        "method.kind=all",
        "method.n_samples=3",
        "method.n_steps=8",
        "method.class_index=5",
    )
    result = load("saliency")().run(ctx)
    _check_images(result)
    for kind in ("gradient", "guided_backprop", "smoothgrad", "integrated_gradients"):
        assert f"{kind}_overlay" in result.images
        assert result.tensors[kind].shape == (1, 3, 64, 64)
        assert result.tensors[kind].abs().max() > 0
    m = result.metrics
    assert m["class_index"] == 5 and len(m["top5"]) == 5
    assert m["ig_completeness_rel"] < 0.5
    assert m["guided_backprop_modules"] > 0


def test_saliency_errors_name_the_bad_value(ctx_factory):
    """Bad values are refused when the options are typed, before the model loads; the
    class range needs the model and is checked at run time."""
    for bad, valid in [
        ("method.kind=gradients", "gradient, guided_backprop"),
        ("method.baseline=meen", "mean, black"),
        ("method.n_samples=five", "whole number"),
        ("method.noise_level=-1", "noise_level"),
        ("method.integration=gauss", "riemann_trapezoid"),
        ("method.batch_size=0", "batch_size"),
    ]:
        with pytest.raises(VizlabError, match=valid):
            ctx_factory("model=tiny_cnn", *SMALL, "method=saliency", bad)
    ctx = ctx_factory("model=tiny_cnn", *SMALL, "method=saliency", "method.class_index=1000")
    with pytest.raises(VizlabError, match="0..999"):
        load("saliency")().run(ctx)


def test_headless_vit_needs_a_unit_target(ctx_factory):
    ctx = ctx_factory("model=tiny_vit", *SMALL, "+model.kwargs.num_classes=0", "method=gradcam")
    with pytest.raises(VizlabError, match="no classification head"):
        load("gradcam")().run(ctx)


@pytest.mark.parametrize("kind", ["channel", "token_dim"])
def test_headless_vit_gradcam_of_a_unit(ctx_factory, kind):
    ctx = ctx_factory(
        "model=tiny_vit",
        *SMALL,
        "+model.kwargs.num_classes=0",
        "method=gradcam",
        f"target={kind}",
        "target.layer=blocks.3",
        "target.index=2",
    )
    result = load("gradcam")().run(ctx)
    assert result.metrics["layer"] == "blocks.3.norm1"  # runs before the unit
    assert result.metrics["unit"].startswith(f"{kind} ")
    assert result.metrics["map_size"] == "4x4"
    assert result.tensors["map"].abs().max() > 0
    _check_images(result)


def test_occlusion_method(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_cnn",
        *SMALL,
        "method=occlusion",
        "method.patch=32",
        "method.stride=16",
        "method.batch_size=4",
    )
    result = load("occlusion")().run(ctx)
    _check_images(result)
    m = result.metrics
    assert m["windows"] == 9 and m["batch_size"] == 4
    assert m["forward_passes"] == 3 * len(ctx.references)
    assert not any(k.startswith("seconds_batch") for k in m)  # one computation per run
    for bad, valid in [
        ("method.stride=40", "stride"),
        ("method.batch_size=0", "batch_size"),
        ("method.batch_size=many", "batch_size"),
        ("method.baseline=meen", "did you mean mean"),
        ("method.score=prob", "probability"),
        ("method.patch=-3", "patch"),
    ]:
        with pytest.raises(VizlabError, match=valid):
            ctx_factory("model=tiny_cnn", *SMALL, "method=occlusion", bad)
    ctx = ctx_factory("model=tiny_cnn", *SMALL, "method=occlusion", "method.patch=65")
    with pytest.raises(VizlabError, match="patch"):
        load("occlusion")().run(ctx)


@pytest.mark.parametrize(
    ("model", "method"),
    [
        ("tiny_cnn", "cam"),
        ("tiny_cnn", "gradcam"),
        ("tiny_vit", "gradcam"),
        ("tiny_vit", "guided_gradcam"),
    ],
)
def test_cam_methods(ctx_factory, model, method):
    result = load(method)().run(ctx_factory(f"model={model}", *SMALL, f"method={method}"))
    _check_images(result)
    m = result.metrics
    assert m["layer"] == ("bn2" if model == "tiny_cnn" else "blocks.5.norm1")
    assert m["map_size"] == ("2x2" if model == "tiny_cnn" else "4x4")
    if method == "cam":
        assert m["cam_identity_rel_error"] < 1e-4


def test_cam_method_errors(ctx_factory):
    with pytest.raises(VizlabError, match="gradcam"):
        load("cam")().run(ctx_factory("model=tiny_vit", *SMALL, "method=cam"))
    ctx = ctx_factory("model=tiny_cnn", *SMALL, "method=cam", "method.layer=blocks.2")
    with pytest.raises(VizlabError, match="bn2"):
        load("cam")().run(ctx)
    ctx = ctx_factory("model=tiny_cnn", *SMALL, "method=gradcam", "method.layer=blocks.9")
    with pytest.raises(VizlabError, match="blocks"):
        load("gradcam")().run(ctx)
    ctx = ctx_factory("model=tiny_vit", *SMALL, "method=gradcam", "method.layer=blocks.5")
    with pytest.raises(VizlabError, match="zero everywhere"):
        load("gradcam")().run(ctx)


# ----- GrabCut ------------------------------------------------------------------------------
def test_grabcut_recovers_a_square_from_a_noisy_saliency_map():
    from vizlab.attribution.segment import grabcut, seed_mask

    rng = np.random.default_rng(0)
    photo = np.zeros((64, 64, 3))
    photo[..., 2] = 0.8  # blue background
    inside = np.zeros((64, 64), bool)
    inside[16:48, 20:52] = True
    photo[inside] = [0.9, 0.2, 0.1]  # red square
    photo = (photo + rng.normal(0, 0.03, photo.shape)).clip(0, 1)
    saliency = inside * rng.uniform(0.5, 1, (64, 64)) + rng.uniform(0, 0.4, (64, 64))
    seeds = seed_mask(saliency, 0.95, 0.7, 0.3)
    assert abs((seeds == 1).mean() - 0.05) < 0.01 and abs((seeds == 0).mean() - 0.3) < 0.01
    mask = grabcut(photo, seeds, 5, 0)
    iou = (mask & inside).sum() / (mask | inside).sum()
    assert iou > 0.95


def test_grabcut_method(ctx_factory):
    ctx = ctx_factory("model=tiny_cnn", *SMALL, "method=grabcut")
    result = load("grabcut")().run(ctx)
    _check_images(result)
    assert {"mask", "masked_photo", "seeds"} <= set(result.images)
    kept = result.metrics["fraction_kept"]
    assert 0 < kept < 1
    assert result.tensors["mask"].mean().item() == pytest.approx(kept)
    with pytest.raises(VizlabError, match="bg_quantile"):
        ctx_factory("model=tiny_cnn", *SMALL, "method=grabcut", "method.fg_quantile=0.2")
    with pytest.raises(VizlabError, match="gradcam"):
        ctx_factory("model=tiny_cnn", *SMALL, "method=grabcut", "method.saliency=gradcamm")


# ----- end to end on the offline pretrained model --------------------------------------------
CUP = (0.0, 0.1, 0.6, 0.85)
"""The cup of skimage's coffee photo after the centre crop (top, left, bottom, right)."""


def _mass_in_box(heat: torch.Tensor, box: tuple[float, float, float, float]) -> float:
    """Fraction of a map's mass inside a box given as fractions (top, left, bottom, right)."""
    h, w = heat.shape[-2:]
    t, l, b, r = box
    inner = heat[..., int(t * h) : int(b * h), int(l * w) : int(r * w)].sum()
    return float(inner / heat.sum())


@pytest.mark.pretrained
def test_lite0_gradcam_finds_the_cup(ctx_factory):
    """On skimage's coffee photo (a cup of espresso right of centre) the top-1 class is espresso
    and the Grad-CAM mass concentrates on the cup."""
    ctx = ctx_factory("model=efficientnet_lite0", "data.image=coffee", "method=gradcam")
    result = load("gradcam")().run(ctx)
    assert result.metrics["class_label"] == "967 espresso"
    heat = result.tensors["heatmap"][0]
    assert _mass_in_box(heat, CUP) > 0.6  # the box is 45 % of the image
    y, x = divmod(int(heat.argmax()), heat.shape[1])
    assert 0.0 <= y / heat.shape[0] < 0.6 and 0.1 <= x / heat.shape[1] < 0.85


@pytest.mark.pretrained
def test_lite0_saliency_on_the_cat(ctx_factory):
    ctx = ctx_factory(
        "model=efficientnet_lite0",
        "data.size=128",
        "method=saliency",
        "method.kind=integrated_gradients",
        "method.n_steps=8",
    )
    result = load("saliency")().run(ctx)
    cats = ("282 tiger cat", "285 Egyptian cat", "281 tabby, tabby cat")
    assert result.metrics["class_label"] in cats
    assert result.metrics["ig_completeness_rel"] < 0.2
