"""filters (lecture 21.1) and activation_maps (21.3) on tiny CNN/ViT models, plus end-to-end
runs on the offline pretrained EfficientNet-Lite0."""

from __future__ import annotations

import json

import pytest
import torch

from vizlab.analysis.weights import normalize
from vizlab.errors import VizlabError
from vizlab.methods.activation_maps import ActivationMaps
from vizlab.methods.filters import Filters


def test_first_layer_filters_as_rgb_tiles(ctx_factory):
    ctx = ctx_factory("model=tiny_cnn", "data.size=64", "method=filters")
    assert ctx.cfg.target.layer == "conv_stem"  # the method's default layer
    result = Filters().run(ctx)
    weight = ctx.model.module.conv_stem.weight
    assert torch.equal(result.tensors["weight"], weight)
    m = result.metrics
    assert m["weight_shape"] == "24x3x3x3" and m["num_shown"] == 24
    tile = 48  # 3x3 kernels enlarged x16 (nearest) to >= tile_px
    rows, cols = 3, 8
    assert result.images["filters"].shape == (rows * (tile + 2) + 2, cols * (tile + 2) + 2, 3)
    assert "filters_labelled" in result.figures


def test_per_filter_normalization():
    w = torch.randn(4, 3, 5, 5)
    w[1] *= 100
    per_filter = normalize(w, "filter").flatten(1)
    assert torch.allclose(per_filter.amin(1), torch.zeros(4))
    assert torch.allclose(per_filter.amax(1), torch.ones(4))
    layer = normalize(w, "layer").flatten(1)
    assert layer[0].max() - layer[0].min() < 0.2  # dwarfed by filter 1 without per-filter
    sym = normalize(torch.zeros(1, 3, 1, 1), "symmetric")
    assert torch.allclose(sym, torch.full_like(sym, 0.5))
    with pytest.raises(VizlabError, match="normalize"):
        normalize(w, "max")


def test_deeper_conv_as_per_channel_slices_and_index(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_cnn",
        "data.size=64",
        "method=filters",
        "target.layer=blocks.1.0.conv_exp",
        "target.index=[0,2,5]",
        "method.max_channels=4",
    )
    result = Filters().run(ctx)
    m = result.metrics
    assert m["in_channels_per_filter"] == 16 and m["num_shown"] == 3
    assert m["num_channels_shown"] == 4


def test_filters_errors_name_conv_layers(ctx_factory):
    ctx = ctx_factory("model=tiny_cnn", "data.size=64", "method=filters", "target.layer=blocks.1")
    with pytest.raises(VizlabError, match=r"not a convolution.*blocks\.1\.0\.conv_exp"):
        Filters().run(ctx)
    ctx = ctx_factory("model=tiny_cnn", "data.size=64", "method=filters", "target.layer=conv_stm")
    with pytest.raises(VizlabError, match="conv_stem"):
        Filters().run(ctx)


def test_vit_patch_embedding_filters(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_vit", "data.size=64", "method=filters", "target.layer=patch_embed.proj"
    )
    m = Filters().run(ctx).metrics
    assert m["weight_shape"] == "64x3x16x16" and m["num_shown"] == 64


def test_activation_maps_are_the_layer_output_min_max_normalized(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_cnn",
        "data.size=64",
        "method=activation_maps",
        "target.layer=blocks.1",
        "method.max_channels=6",
        "method.ncols=3",
        "method.tile_px=16",
    )
    result = ActivationMaps().run(ctx)
    model, image = ctx.model, ctx.references.images[:1]
    with torch.no_grad():
        expected = model.features(model.units.unit_to_model(image), ["blocks.1"])["blocks.1"][0]
    assert torch.allclose(result.tensors["maps"], expected, atol=1e-5)
    assert result.metrics["map_shape"] == "24x16x16"
    assert result.metrics["channels_shown"] == list(range(6))
    tiles = result.images["activations"]  # 2 rows x 3 cols of 16 px gray tiles, 2 px gutters
    assert tiles.shape == (2 * 18 + 2, 3 * 18 + 2, 3)
    first = tiles[2:18, 2:18, 0]
    assert first.min() == pytest.approx(0, abs=1e-6) and first.max() == pytest.approx(1)
    assert {"overlay", "overlay_labelled", "activations_labelled"} <= set(result.images) | set(
        result.figures
    )


def test_activation_maps_top_channels_and_errors(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_cnn",
        "data.size=64",
        "method=activation_maps",
        "method.select=top",
        "method.max_channels=3",
        "method.overlay=false",
    )
    result = ActivationMaps().run(ctx)
    maps = result.tensors["maps"]
    assert result.metrics["channels_shown"] == maps.flatten(1).mean(1).topk(3).indices.tolist()
    assert "overlay" not in result.images
    bad = ctx_factory("model=tiny_cnn", "data.size=64", "method=activation_maps",
                      "method.image_index=3")  # fmt: skip
    with pytest.raises(VizlabError, match="image_index=3"):
        ActivationMaps().run(bad)
    bad = ctx_factory("model=tiny_cnn", "data.size=64", "method=activation_maps",
                      "target.layer=global_pool")  # fmt: skip
    with pytest.raises(VizlabError, match="no spatial layout"):
        ActivationMaps().run(bad)


def test_activation_maps_on_vit_patch_grid(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_vit", "data.size=64", "method=activation_maps", "target.layer=blocks.1"
    )
    result = ActivationMaps().run(ctx)
    assert result.metrics["map_shape"] == "64x4x4"
    assert result.tensors["maps"].shape == (64, 4, 4)


@pytest.mark.pretrained
def test_lite0_end_to_end_filters_and_activation_maps(compose_cfg, tmp_path):
    """`python run.py method=filters` / `method=activation_maps target.layer=blocks.2` on the
    offline pretrained model write their PNGs and metrics."""
    from vizlab.runner import run

    cfg = compose_cfg("model=efficientnet_lite0", "method=filters", "data.size=64", "logger=local")
    result = run(cfg, tmp_path / "filters")
    assert result.metrics["weight_shape"] == "32x3x3x3"
    assert {"filters.png", "filters_labelled.png", "metrics.json"} <= {
        p.name for p in (tmp_path / "filters").iterdir()
    }
    cfg = compose_cfg(
        "model=efficientnet_lite0",
        "method=activation_maps",
        "target.layer=blocks.2",
        "data.size=128",
        "method.max_channels=8",
        "logger=local",
        "progress=false",
    )
    run(cfg, tmp_path / "maps")
    metrics = json.loads((tmp_path / "maps" / "metrics.json").read_text())
    assert metrics["map_shape"] == "40x16x16"
    assert (tmp_path / "maps" / "overlay_labelled.png").is_file()


@pytest.mark.parametrize(
    ("method", "bad", "valid"),
    [
        ("activation_maps", "method.select=topp", "did you mean top"),
        ("activation_maps", "method.colormap=jett", "did you mean jet"),
        ("activation_maps", "method.max_channels=0", "max_channels"),
        ("activation_maps", "method.tile_px=big", "whole number"),
        ("filters", "method.normalize=max", "filter, layer, symmetric"),
        ("filters", "method.ncols=-2", "ncols"),
    ],
)
def test_bad_options_are_refused_before_the_run(ctx_factory, method, bad, valid):
    with pytest.raises(VizlabError, match=valid):
        ctx_factory("model=tiny_cnn", "data.size=64", f"method={method}", bad)
