"""Agreement with the reference implementations on PyPI, on the same model and input:
vanilla gradient, integrated gradients (same rule, steps and baseline), occlusion and guided
backprop against captum; Grad-CAM and guided backprop against pytorch-grad-cam.

Tolerances: all compared quantities are computed from the same float32 forward/backward
graphs; differences come only from summation order (captum stacks the IG path step-major,
batches differ in size, so convolution kernels may reduce in another order) and from the
final bilinear resize (cv2.resize vs torch.interpolate, both half-pixel centred). We therefore
require agreement to 1e-5 of the largest attribution magnitude (attributions of the random
tiny models are ~1e-4, so absolute tolerances would be meaningless), and 1e-5 absolute for
pytorch-grad-cam's maps, which it normalizes to [0, 1].
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F

from vizlab.attribution import (
    GradCAM,
    Gradient,
    GuidedBackprop,
    IntegratedGradients,
    Occlusion,
    default_cam_layer,
)

captum_attr = pytest.importorskip("captum.attr")
RTOL = 1e-5


def assert_close(ours: torch.Tensor, theirs: torch.Tensor, rtol: float = RTOL) -> None:
    scale = theirs.abs().max().item()
    assert scale > 0
    err = (ours - theirs).abs().max().item()
    assert err <= rtol * scale, f"max |diff| {err:.3g} > {rtol} x {scale:.3g}"


@pytest.fixture(autouse=True, scope="module")
def _flush_denormals():
    """The random tiny models drive activations into denormal floats, which make a CPU
    forward pass ~20x slower; flushing them to zero changes no compared digit."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("test_efficientnet").eval()


@pytest.fixture(scope="module")
def photo_128(lite0) -> tuple[torch.nn.Module, torch.Tensor, int]:
    """The offline pretrained EfficientNet-Lite0, chelsea at 128 px in model space, top-1."""
    from vizlab.data.images import builtin_photo, preprocess
    from vizlab.models.wrapper import InputSpec

    spec = InputSpec((128, 128), lite0.spec.mean, lite0.spec.std)
    x = lite0.units.unit_to_model(preprocess(builtin_photo("chelsea"), spec).unsqueeze(0))
    with torch.no_grad():
        top1 = int(lite0.module(x).argmax())
    return lite0.module, x, top1


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.randn(2, 3, 64, 64, generator=g), torch.tensor([11, 500])


# ----- captum -------------------------------------------------------------------------------
def test_gradient_matches_captum_saliency(tiny, batch):
    x, t = batch
    ours = Gradient(tiny).attribute(x, t)
    theirs = captum_attr.Saliency(tiny).attribute(x, target=t, abs=False)
    assert_close(ours, theirs)
    assert_close(Gradient(tiny).attribute(x, t, abs=True), theirs.abs())


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_middle"])
def test_integrated_gradients_match_captum(tiny, batch, method):
    x, t = batch
    baseline = torch.full_like(x, -0.5)
    ours = IntegratedGradients(tiny).attribute(
        x, t, baselines=baseline, n_steps=8, method=method, internal_batch_size=5
    )
    theirs = captum_attr.IntegratedGradients(tiny).attribute(
        x, baselines=baseline, target=t, n_steps=8, method=method
    )
    assert_close(ours, theirs)


def test_integrated_gradients_trapezoid_is_captums_rescaled(tiny, batch):
    """Same nodes; captum's trapezoid weights sum to (n-1)/n instead of 1."""
    x, t = batch
    n = 8
    ours, gap = IntegratedGradients(tiny).attribute(
        x, t, n_steps=n, method="riemann_trapezoid", return_convergence_delta=True
    )
    theirs, their_gap = captum_attr.IntegratedGradients(tiny).attribute(
        x, target=t, n_steps=n, method="riemann_trapezoid", return_convergence_delta=True
    )
    assert_close(ours * (n - 1) / n, theirs)
    assert gap.abs().max() < their_gap.abs().max()  # closer to completeness


@pytest.mark.parametrize(("patch", "stride"), [(32, 16), (20, 12)])  # 20/12: cut-off windows
def test_occlusion_matches_captum(tiny, batch, patch, stride):
    x, t = batch
    ours = Occlusion(tiny).attribute(x, t, patch, stride, baselines=0.25, batch_size=13)
    theirs = captum_attr.Occlusion(tiny).attribute(
        x, sliding_window_shapes=(3, patch, patch), strides=(3, stride, stride),
        baselines=0.25, target=t, perturbations_per_eval=5,
    )  # fmt: skip
    assert_close(ours, theirs)


def test_guided_backprop_matches_captum_on_a_relu_model(batch):
    torch.manual_seed(0)
    relu_model = timm.create_model("test_efficientnet", act_layer="relu").eval()
    x, t = batch
    ours = GuidedBackprop(relu_model).attribute(x, t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # captum warns that it sets hooks
        theirs = captum_attr.GuidedBackprop(relu_model).attribute(x, target=t)
    assert_close(ours, theirs)
    assert not torch.allclose(ours, Gradient(relu_model).attribute(x, t))


@pytest.mark.pretrained
def test_lite0_gradient_and_integrated_gradients_match_captum(photo_128):
    model, x, top1 = photo_128
    assert_close(
        Gradient(model).attribute(x, top1),
        captum_attr.Saliency(model).attribute(x, target=top1, abs=False),
    )
    ours = IntegratedGradients(model).attribute(x, top1, n_steps=4, internal_batch_size=4)
    theirs = captum_attr.IntegratedGradients(model).attribute(x, target=top1, n_steps=4)
    assert_close(ours, theirs, rtol=1e-4)


@pytest.mark.pretrained
def test_lite0_occlusion_matches_captum(photo_128):
    model, x, top1 = photo_128
    ours = Occlusion(model).attribute(x, top1, 64, 64, baselines=0.0, batch_size=4)
    theirs = captum_attr.Occlusion(model).attribute(
        x, sliding_window_shapes=(3, 64, 64), strides=(3, 64, 64), baselines=0.0, target=top1,
        perturbations_per_eval=4,
    )  # fmt: skip
    assert_close(ours, theirs, rtol=1e-4)


# ----- pytorch-grad-cam ---------------------------------------------------------------------
def _grad_cam_normalized(model, layer, x, t) -> torch.Tensor:
    """Our Grad-CAM post-processed the way pytorch-grad-cam does: ReLU, per-image min-max
    scaling to [0, 1], bilinear resize to the input, scaled again."""

    def scale(m):
        m = m - m.flatten(1).amin(1).view(-1, 1, 1)
        return m / (1e-7 + m.flatten(1).amax(1).view(-1, 1, 1))

    with GradCAM(model, layer) as cam:
        raw, _ = cam.maps(x, t)
    up = F.interpolate(scale(raw.clamp(min=0)).unsqueeze(1), size=x.shape[-2:], mode="bilinear")
    return scale(up[:, 0])


def _their_grad_cam(model, layer, x, t, reshape=None) -> torch.Tensor:
    pgc = pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    targets = [ClassifierOutputTarget(int(i)) for i in torch.as_tensor(t).flatten()]
    x = x.clone().requires_grad_(True)  # builds the graph also for frozen models
    with pgc.GradCAM(model=model, target_layers=[layer], reshape_transform=reshape) as cam:
        return torch.from_numpy(cam(input_tensor=x, targets=targets))


def test_grad_cam_matches_pytorch_grad_cam_on_a_cnn(tiny):
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    t = torch.tensor([2, 9])
    layer = dict(tiny.named_modules())[default_cam_layer(tiny, (64, 64))]
    ours = _grad_cam_normalized(tiny, layer, x, t)
    theirs = _their_grad_cam(tiny, layer, x, t)
    assert (ours - theirs).abs().max() < 1e-5


def test_grad_cam_matches_pytorch_grad_cam_on_a_vit_with_register_tokens():
    """Our token->grid layout comes from timm (5 prefix tokens, 4x5 grid of a 64x80 input);
    pytorch-grad-cam needs the reshape written by hand."""
    torch.manual_seed(0)
    vit = timm.create_model("test_vit", reg_tokens=4, dynamic_img_size=True).eval()
    x = torch.randn(1, 3, 64, 80, generator=torch.Generator().manual_seed(5))
    layer = dict(vit.named_modules())[default_cam_layer(vit, (64, 80))]

    def reshape(tokens, h=4, w=5):
        grid = tokens[:, 5:, :].reshape(tokens.size(0), h, w, tokens.size(2))
        return grid.permute(0, 3, 1, 2)

    ours = _grad_cam_normalized(vit, layer, x, 7)
    theirs = _their_grad_cam(vit, layer, x, 7, reshape)
    assert (ours - theirs).abs().max() < 1e-5


@pytest.mark.pretrained
def test_lite0_grad_cam_matches_pytorch_grad_cam(photo_128):
    model, x, top1 = photo_128
    layer = dict(model.named_modules())[default_cam_layer(model, (128, 128))]
    ours = _grad_cam_normalized(model, layer, x, top1)
    theirs = _their_grad_cam(model, layer, x, top1)
    assert (ours - theirs).abs().max() < 1e-5


def test_guided_backprop_matches_pytorch_grad_cam_on_a_relu_model():
    pgc = pytest.importorskip("pytorch_grad_cam")
    torch.manual_seed(0)
    relu_model = timm.create_model("test_efficientnet", act_layer="relu").eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    ours = GuidedBackprop(relu_model).attribute(x, 3)[0].permute(1, 2, 0)
    theirs = pgc.GuidedBackpropReLUModel(relu_model, device="cpu")(x, target_category=3)
    assert_close(ours, torch.from_numpy(np.ascontiguousarray(theirs)))
