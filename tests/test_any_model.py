"""Models timm does not know: a torchvision classifier (random weights, built by its factory
from ``conf/model/torchvision.yaml``) and a small custom ``nn.Module`` from the example plugin
(``model=example_cnn``, and passed as an object). Inversion, activation maximization, Grad-CAM
and the layer listing work on both, at small sizes and few iterations."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from tests.conftest import make_context
from vizlab import cli, registry

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("vizlab_example_model") is None,
        reason="pip install -e plugins/vizlab-example-model",
    ),
    pytest.mark.usefixtures("one_thread"),
]

MODELS = {
    # overrides, a middle layer with a spatial map
    "torchvision": (("model=torchvision", "data.size=64"), "layer2"),
    "example_cnn": (("model=example_cnn",), "stages.0"),
}


def _run(overrides: tuple[str, ...], model=None):
    ctx = make_context(*overrides, model=model)
    return registry.load(ctx.cfg.method.name)().run(ctx), ctx


def _finite_image(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[-1] == 3 and bool(np.isfinite(image).all())


@pytest.mark.parametrize("which", sorted(MODELS))
def test_inversion(which):
    overrides, layer = MODELS[which]
    result, ctx = _run(
        (*overrides, f"target.layer={layer}", "method.iterations=4", "method.finetune_iterations=1")
    )
    error = result.metrics["reconstruction_error"]
    assert math.isfinite(error) and 0 < error < 200
    assert _finite_image(result.images["preimage"])
    assert result.images["preimage"].shape[:2] == ctx.model.spec.size


@pytest.mark.parametrize("which", sorted(MODELS))
def test_activation_maximization_of_a_channel(which):
    overrides, layer = MODELS[which]
    result, _ = _run(
        (
            *overrides,
            "method=activation_max",
            "target=channel",
            f"target.layer={layer}",
            "target.index=3",
            "method.iterations=4",
        )
    )
    assert _finite_image(result.images["visualization"])


@pytest.mark.parametrize("which", sorted(MODELS))
def test_gradcam_uses_the_last_spatial_map(which):
    overrides, _ = MODELS[which]
    result, _ = _run((*overrides, "method=gradcam"))
    assert result.metrics["layer"] == {"torchvision": "layer4", "example_cnn": "stages"}[which]
    heat = np.asarray(result.images["gradcam_heatmap"])
    assert np.isfinite(heat).all() and heat.std() > 0


def test_layer_listing_of_the_torchvision_model(capsys):
    assert cli.main(["layers", "model=torchvision", "data.size=64", "--no-rf"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("torchvision.models.resnet18: input 3x64x64")
    assert "layer4" in out and "256x4x4" in out  # layer3 at 64 px


def test_layer_listing_of_the_custom_model_with_receptive_fields(capsys):
    assert cli.main(["layers", "model=example_cnn"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    # 3x3 convolutions of stride 2: sizes 3, 7, 15 and strides 2, 4, 8; pooling sees all.
    assert rows["stem"] == ["16x32x32", "2", "3"]
    assert rows["stages.0"] == ["32x16x16", "4", "7"]
    assert rows["stages.1"] == ["64x8x8", "8", "15"]
    assert rows["pool"][-1] == "global" and rows["head"][-1] == "global"


def test_receptive_field_of_a_torchvision_resnet_layer():
    ctx = make_context("model=torchvision", "data.size=64")
    rf = ctx.model.receptive_field("layer1")  # 7x7/2 conv, 3x3/2 max-pool, four 3x3 convs
    assert (rf.stride, rf.size) == (4, 43)


def test_the_input_spec_comes_from_the_model_config_in_its_own_value_range():
    ctx = make_context("model=example_cnn")
    spec = ctx.model.spec  # example_cnn.yaml: mean and std in 0..255
    assert spec.size == (64, 64)
    assert spec.mean == pytest.approx((125.3 / 255, 123.0 / 255, 113.9 / 255))
    assert spec.std == pytest.approx((63.0 / 255, 62.1 / 255, 66.7 / 255))


def test_a_module_object_without_an_input_spec_gets_imagenets_with_a_notice(caplog):
    from vizlab_example_model import build

    with caplog.at_level("WARNING"):
        ctx = make_context(model=build())
    assert ctx.model.name == "SmallCNN" and ctx.cfg.model.name == "SmallCNN"
    assert ctx.model.spec.size == (224, 224)
    assert ctx.model.spec.mean == pytest.approx((0.485, 0.456, 0.406))
    assert "ImageNet" in caplog.text and "SmallCNN" in caplog.text


def test_a_module_object_runs_with_its_input_spec_from_overrides():
    from vizlab_example_model import build

    net = build(widths=(8, 16), num_classes=5)
    result, ctx = _run(
        ("method=gradcam", "model.input={size: 48, mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2]}"),
        model=net,
    )
    assert ctx.model.module is net and ctx.model.num_classes == 5
    assert ctx.model.spec.size == (48, 48) and ctx.model.spec.std == pytest.approx((0.2,) * 3)
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    assert result.metrics["layer"] == "stages"


def test_a_torchvision_checkpoint_loads_into_the_factory_model(tmp_path):
    import torchvision

    torch.manual_seed(1)
    trained = torchvision.models.resnet18(weights=None, num_classes=7)
    torch.save(trained.state_dict(), tmp_path / "r18.pth")
    ctx = make_context(
        "model=torchvision",
        "data.size=64",
        "+model.kwargs.num_classes=7",
        f"model.checkpoint={tmp_path / 'r18.pth'}",
    )
    assert torch.equal(ctx.model.module.fc.weight, trained.fc.weight)
    assert ctx.model.num_classes == 7
