"""Image parameterizations: round trips, the 1/f spectrum of Fourier images, MaCo's fixed
magnitude and alpha map, their use by every pre-image method, and batched == separate renders."""

from __future__ import annotations

import pytest
import torch

from vizlab.errors import VizlabError
from vizlab.params import PARAMS, FourierParam, MacoParam, PixelParam, build_param

TINY = ("model=tiny_cnn", "data.size=64")


@pytest.fixture(autouse=True)
def _close_figures():
    """Methods return matplotlib figures; close them so many short runs stay cheap."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def tiny_ctx():
    """One context for the module (conftest's ``ctx_factory`` is per test)."""
    from vizlab.cli import compose
    from vizlab.methods.base import RunContext
    from vizlab.runner import load_model

    cfg = compose([*TINY, "data.images=[chelsea,coffee]", "progress=false", "logger=local"])
    return RunContext(cfg, load_model(cfg, torch.device("cpu")), progress=False)


def _units(ctx):
    """The model's pixel units and input spec, as ``build_param`` takes them."""
    return ctx.model.units, ctx.model.spec


def photos_paper(ctx) -> torch.Tensor:
    """Two photos (kept inside the sigmoid's range) in paper units."""
    unit = ctx.references.images.clamp(0.02, 0.98)
    return ctx.model.units.unit_to_paper(unit)


@pytest.mark.parametrize("name", PARAMS)
@pytest.mark.parametrize("margin", [0, 3])
def test_an_image_set_into_a_param_comes_back_out(tiny_ctx, name, margin):
    x = photos_paper(tiny_ctx)
    param = build_param({"name": name}, *_units(tiny_ctx), 2, (64, 64), init=x, margin=margin)
    out = param.paper()
    assert out.shape == (2, 3, 64 + margin, 64 + margin)
    before = margin // 2
    centre = out[..., before : before + 64, before : before + 64]
    assert torch.allclose(centre, x, atol=0.05), (centre - x).abs().max()  # of 0..255
    units = tiny_ctx.model.units
    assert torch.allclose(param(), units.paper_to_model(out), atol=1e-5)  # model input space


def test_pixel_param_projects_to_the_pixel_norm_bound(tiny_ctx):
    x = torch.full((1, 3, 8, 8), 200.0)
    param = PixelParam(tiny_ctx.model.units, x, bound=160.0)
    param.project_()
    assert torch.allclose(param.paper().norm(dim=1), torch.full((1, 8, 8), 160.0))


def log_log_slope(images: torch.Tensor) -> float:
    """Slope of log |FFT| against log frequency (mid frequencies) of N x 3 x H x W images."""
    h, w = images.shape[-2:]
    x = images - images.mean(dim=(-2, -1), keepdim=True)
    amplitude = torch.fft.fft2(x).abs().mean(dim=(0, 1))
    f = (torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None, :] ** 2).sqrt()
    keep = (f > 2.0 / h) & (f < 0.4)
    design = torch.stack([f[keep].log(), torch.ones(int(keep.sum()))], 1).double()
    fit = torch.linalg.lstsq(design, amplitude[keep].log().double()[:, None]).solution
    return float(fit[0])


@pytest.mark.parametrize("decay", [1.0, 2.0])
def test_fourier_images_have_a_power_law_spectrum(tiny_ctx, decay):
    g = [torch.Generator().manual_seed(i) for i in range(16)]
    param = FourierParam(tiny_ctx.model.units, 16, (64, 64), decay_power=decay, generators=g)
    slope = log_log_slope(param.unit().detach())
    assert abs(slope + decay) < 0.2, slope
    noise = build_param({"name": "pixel"}, *_units(tiny_ctx), 16, (64, 64), generators=g).paper()
    assert abs(log_log_slope(noise.detach())) < 0.2  # white noise: flat


@pytest.fixture(scope="module")
def maco(tiny_ctx) -> MacoParam:
    g = [torch.Generator().manual_seed(i) for i in range(2)]
    return build_param({"name": "maco"}, *_units(tiny_ctx), 2, (64, 64), generators=g, margin=1)


def test_maco_optimizes_the_phase_under_a_fixed_natural_magnitude(tiny_ctx, maco):
    from vizlab.params import natural_magnitude
    from vizlab.params.color import correlation_matrix

    natural = natural_magnitude(tiny_ctx.model.spec, (65, 65), correlation_matrix())
    assert natural is natural_magnitude(tiny_ctx.model.spec, (65, 65), correlation_matrix())
    assert natural.shape == (3, 65, 33)
    assert (natural[:, 0, 1] > 4 * natural[:, 16, 16]).all()  # 1/f-like
    assert maco.parameters() == [maco.phase]
    opt = torch.optim.Adam(maco.parameters(), lr=0.5)
    maco.paper().pow(2).mean().backward()
    opt.step()
    rendered = torch.fft.rfft2(maco.decorrelated().detach(), norm="ortho").abs()
    # columns 1..W//2-1 are free of irfft's Hermitian symmetrization
    assert torch.allclose(rendered[..., 1:32], natural[..., 1:32].expand(2, -1, -1, -1), rtol=1e-3)


def test_maco_alpha_accumulates_gradient_magnitude(maco):
    grad = torch.zeros(2, 3, 65, 65)
    grad[0, :, 10:20, 10:20] = -2.0
    grad[1, :, 30:40, 5:15] = 3.0
    maco.observe(grad)
    maco.observe(grad)
    alpha = maco.extras()["alpha"]
    assert alpha.shape == (2, 1, 65, 65) and alpha.min() >= 0 and alpha.max() <= 1
    assert alpha[0, 0, 10:20, 10:20].min() == 1 and alpha[0].sum() == 100
    assert alpha[1, 0, 30:40, 5:15].min() == 1 and alpha[1].sum() == 100


def test_penalties_and_optimizer_come_from_the_param_config(compose_cfg, tiny_ctx):
    def built(*overrides: str):
        return build_param(compose_cfg(*overrides).param, *_units(tiny_ctx), 1, (64, 64))

    pixel, fourier = built(), built("param=fourier")
    assert pixel.penalties and pixel.optimizer is None  # Algorithm 1 + M&V prior, as before
    assert not fourier.penalties and fourier.optimizer.name == "adam"
    assert built("param=maco", "param.penalties=true").penalties


def test_bad_param_config_names_the_valid_choices(tiny_ctx):
    with pytest.raises(VizlabError, match="fourier, maco, pixel"):
        build_param({"name": "wavelet"}, *_units(tiny_ctx), 1, (64, 64))
    with pytest.raises(VizlabError, match="param.decay"):
        build_param({"name": "fourier", "decay": 1}, *_units(tiny_ctx), 1, (64, 64))
    with pytest.raises(VizlabError, match="expected"):
        build_param(
            {"name": "pixel"}, *_units(tiny_ctx), 2, (64, 64), init=torch.zeros(1, 3, 64, 64)
        )


METHODS = {
    "inversion": ("method=inversion", "method.finetune_iterations=1"),
    "caricature": ("method=caricature",),
    "activation_max": (
        "method=activation_max",
        "target=channel",
        "target.index=[1,4]",
        "method.reference_set=data",  # M over the data image: no photo set needed
    ),
}


@pytest.mark.parametrize("name", PARAMS)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_param_works_with_every_method(ctx_factory, name, method):
    from vizlab import registry

    ctx = ctx_factory(
        *TINY,
        *METHODS[method],
        f"param={name}",
        "target.layer=blocks.2",
        "method.iterations=2",
    )
    result = registry.load(method)().run(ctx)
    images = next(iter(result.tensors.values()))
    assert images.shape[1:] == (3, 64, 64) and torch.isfinite(images).all()
    assert ("alpha" in result.images) == (name == "maco" and method == "activation_max")


def test_fourier_on_a_vit(ctx_factory):
    from vizlab.methods.activation_max import ActivationMax

    ctx = ctx_factory(
        "model=tiny_vit",
        "data.size=64",
        "method=activation_max",
        "target=logit",
        "target.index=3",
        "param=fourier",
        "transforms=standard",
        "method.iterations=2",
        "method.reference_set=data",
    )
    result = ActivationMax().run(ctx)
    assert result.tensors["visualization"].shape == (1, 3, 64, 64)


def _render(tiny_ctx, name: str, units: list[int]) -> torch.Tensor:
    """The engine maximizing channel ``u`` of blocks.2 for each ``u`` (keys = units)."""
    from vizlab.config import compose
    from vizlab.preimage import EngineSettings, PreImageProblem, solve
    from vizlab.regularizers import build_regularizers
    from vizlab.transforms import build_transforms

    cfg = compose([*TINY, f"param={name}", "transforms=standard", "progress=false"])
    settings = EngineSettings(
        param=cfg.param,
        optimizer=cfg.optimizer,
        regularizers=build_regularizers(cfg.regularizers),
        transforms=build_transforms(cfg.transforms),
    )
    index = torch.tensor(units)

    def data_loss(feats):
        return -feats["blocks.2"][torch.arange(len(units)), index].mean(dim=(1, 2))

    problem = PreImageProblem(
        data_loss, ["blocks.2"], None, C=1.0, stride=8, keys=units, batch=len(units)
    )
    return solve(tiny_ctx.model, settings, problem, iterations=4).x


@pytest.mark.parametrize("name", PARAMS)
def test_batched_rendering_equals_separate_renders(tiny_ctx, name):
    batched = _render(tiny_ctx, name, [1, 4])
    separate = torch.cat([_render(tiny_ctx, name, [1]), _render(tiny_ctx, name, [4])])
    assert batched.shape == (2, 3, 64, 64)
    # The model's batched convolutions differ from single-image ones by ~1e-7, and Adam's
    # first, nearly sign-like steps amplify that; the engine itself is batch-invariant.
    assert torch.allclose(batched, separate, atol=2e-2), (batched - separate).abs().max()
    assert not torch.allclose(batched[0], batched[1], atol=1.0)  # paper units: 0..255


def test_activation_max_keys_images_by_unit(ctx_factory):
    """The method gives each image its unit's random streams: units [1, 4] in one batch are
    rendered as 1 and 4 alone."""
    from vizlab.methods.activation_max import ActivationMax

    def render(index: str) -> torch.Tensor:
        ctx = ctx_factory(
            *TINY,
            *METHODS["activation_max"][:2],
            f"target.index={index}",
            "target.layer=blocks.2",
            "param=fourier",
            "transforms=standard",
            "method.iterations=2",
            "method.reference_set=data",
        )
        return ActivationMax().run(ctx).tensors["visualization"]

    assert torch.allclose(render("[1,4]")[1], render("4")[0], atol=1e-4)


def test_pixel_path_reproduces_the_engine_before_parameterizations(ctx_factory):
    """Numbers recorded with the engine of commit a6806c8 (before params/transforms): the
    default param=pixel, transforms=none path must not change (jitter T=4 here)."""
    from vizlab.methods.inversion import Inversion

    ctx = ctx_factory(
        *TINY,
        "target.layer=blocks.3",
        "method.iterations=6",
        "method.finetune_iterations=2",
    )
    metrics = Inversion().run(ctx).metrics
    assert metrics["jitter_T"] == 4
    assert metrics["reconstruction_error"] == pytest.approx(81.64271712303162, abs=1e-3)
    assert metrics["final_energy"] == pytest.approx(89.36842346191406, rel=1e-4)


def test_fourier_image_is_one_graph_node_with_the_chained_numbers(tiny_ctx):
    """A Fourier parameterization's image is one autograd node (the inverse transform and the
    colour step together), with the same image and spectrum gradient, to the bit, as the
    two steps chained (the spectral base class's path, which MaCo takes)."""
    from vizlab.params.fourier import SpectralParam

    g = [torch.Generator().manual_seed(i) for i in range(2)]
    param = FourierParam(tiny_ctx.model.units, 2, (24, 30), generators=g)
    seed = torch.randn(2, 3, 24, 30, generator=torch.Generator().manual_seed(5))
    image = param.paper()
    assert type(image.grad_fn).__name__ == "_FourierPaperBackward"
    assert all(
        f is None or type(f).__name__ == "AccumulateGrad" for f, _ in image.grad_fn.next_functions
    )
    (grad,) = torch.autograd.grad(image, param.spectrum, seed)
    chained = SpectralParam.paper(param)
    (chained_grad,) = torch.autograd.grad(chained, param.spectrum, seed)
    assert torch.equal(image, chained) and torch.equal(grad, chained_grad)
