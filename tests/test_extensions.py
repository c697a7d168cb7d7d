"""Extension points of the pre-image engine: the example plugin (plugins/vizlab-layer-stats)
adds a target, a parameterization, a penalty and a transform through entry points; each
composes from its own conf/, is checked by its Options schema, and runs on the tiny model."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import textwrap

import pytest
import torch

from vizlab import registry
from vizlab.errors import VizlabError
from vizlab.params.schema import validate_param
from vizlab.regularizers.schema import validate_regularizers
from vizlab.targets.schema import validate_target
from vizlab.transforms.schema import validate_transforms

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("vizlab_layer_stats") is None,
        reason="pip install -e plugins/vizlab-layer-stats",
    ),
    pytest.mark.usefixtures("one_thread"),
]
TINY = (
    "model=tiny_cnn",
    "data.size=32",
    "method=activation_max",
    "method.iterations=3",
    "method.reference_set=data",
    "method.C=1",
    "target=channel",
    "target.layer=blocks.2",
    "target.index=1",
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _run(ctx_factory, *overrides: str):
    ctx = ctx_factory(*TINY, *overrides)
    return ctx, registry.load("activation_max")().run(ctx)


def test_the_plugin_registers_one_component_per_group():
    expected = {
        "vizlab.targets": "channel_contrast",
        "vizlab.params": "lowres",
        "vizlab.regularizers": "l1",
        "vizlab.transforms": "color_shift",
    }
    for group, name in expected.items():
        assert registry.available(group)[name].package == "vizlab-layer-stats"


def test_plugin_target_from_its_config_scores_the_contrast(ctx_factory):
    ctx, result = _run(
        ctx_factory, "target=channel_contrast", "target.layer=blocks.2", "target.index=[1,3]"
    )
    spec = ctx.target
    assert spec.kind == "channel_contrast" and spec.indices == [1, 3]
    feats = {"blocks.2": torch.randn(2, 32, 4, 4)}
    a = feats["blocks.2"][[0, 1], [1, 3]].mean(dim=(1, 2))
    b = feats["blocks.2"][:, 1].mean(dim=(1, 2))  # against=1, weight 1 (its YAML)
    torch.testing.assert_close(spec.objective(feats), a - b)
    assert result.tensors["visualization"].shape == (2, 3, 32, 32)


def test_plugin_param_from_its_config_renders_a_low_resolution_image(ctx_factory):
    ctx, result = _run(ctx_factory, "param=lowres", "param.factor=8")
    images = result.tensors["visualization"]
    assert images.shape == (1, 3, 32, 32) and torch.isfinite(images).all()
    from vizlab.params import build_param

    param = build_param(ctx.cfg.param, ctx.model.units, ctx.model.spec, 2, (32, 32))
    assert param.penalties and param.parameters()[0].shape == (2, 3, 4, 4)
    x = param.paper().detach()
    param.assign_(x)  # a bilinear upsampling comes back through area downsampling
    torch.testing.assert_close(param.paper().detach().mean(), x.mean(), atol=1e-3, rtol=0)


def test_plugin_penalty_from_its_config_is_in_the_energy(ctx_factory):
    ctx, result = _run(ctx_factory, "regularizers=sparse", "regularizers.l1.weight=2")
    assert "l1" in ctx.regularizers.names()
    x = torch.randn(1, 3, 8, 8) * 40
    total, terms = ctx.regularizers(x)
    torch.testing.assert_close(terms["l1"], x.abs().sum(dim=(1, 2, 3)) / (64 * 80))
    assert len(result.history["l1"]) == 3


def test_plugin_transform_from_its_config_shifts_colours_per_image(ctx_factory):
    ctx, result = _run(ctx_factory, "transforms=color_shift")
    from vizlab.transforms import build_transforms

    stack = build_transforms(ctx.cfg.transforms)
    shift = stack.transforms[-1]
    x = torch.zeros(2, 3, 4, 4)
    g = [torch.Generator().manual_seed(i) for i in range(2)]
    out = shift(x, g)
    assert out.abs().max() <= 8.0 and not torch.equal(out[0], out[1])
    assert torch.equal(out, shift(x, [torch.Generator().manual_seed(i) for i in range(2)]))
    assert result.tensors["visualization"].shape == (1, 3, 32, 32)


@pytest.mark.parametrize(
    ("check", "node", "key"),
    [
        (validate_param, {"name": "lowres", "factor": 0}, "param.factor"),
        (validate_param, {"name": "lowres", "fator": 2}, "param.fator"),
        (
            validate_target,
            {"kind": "channel_contrast", "layer": "a", "index": 1.5, "against": 2},
            "target.index",
        ),
        (validate_target, {"kind": "channel_contrast", "layer": "a", "index": 0}, "against"),
        (validate_regularizers, {"l1": {"B": 0}}, "regularizers.l1.B"),
        (validate_regularizers, {"l1": {"weight": -1}}, "regularizers.l1.weight"),
        (validate_transforms, {"color_shift": {"amount": -1}}, "transforms.color_shift.amount"),
    ],
)
def test_plugin_options_are_checked_before_the_model_loads(check, node, key):
    with pytest.raises(VizlabError, match=key.replace(".", r"\.")):
        check(node)


def test_unknown_names_list_the_plugin_components():
    with pytest.raises(VizlabError, match="lowres"):
        validate_param({"name": "wavelet"})
    with pytest.raises(VizlabError, match="channel_contrast"):
        validate_target({"kind": "chanel"})


def test_a_broken_component_plugin_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "vizlab_broken_param.py").write_text("import no_such_module_here\n")
    info = tmp_path / "vizlab_broken_param-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vizlab-broken-param\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [vizlab.params]
            broken = vizlab_broken_param:Nope
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        with pytest.raises(VizlabError, match="no_such_module_here") as err:
            validate_param({"name": "broken"})
        assert "parameterization plugin 'broken'" in str(err.value)
        assert validate_param({"name": "lowres"}).name == "lowres"  # others still work
    finally:
        sys.modules.pop("vizlab_broken_param", None)
