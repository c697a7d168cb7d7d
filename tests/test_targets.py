"""Targets on CNNs and ViTs: every kind raises its objective, token selection picks the right
tokens, objectives compose, diversity separates one unit's visualizations."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from vizlab.errors import VizlabError
from vizlab.targets import TokenLayout, build_target, select_tokens
from vizlab.targets.objectives import Diversity, gram_similarity
from vizlab.targets.tokens import parse_tokens

SIZE = 64
CNN_TARGETS = {
    "logit": {"kind": "logit", "index": [1, 7]},
    "channel": {"kind": "channel", "layer": "blocks.3", "index": [0, 5]},
    "neuron": {"kind": "neuron", "layer": "blocks.2", "index": 3, "position": [1, 2]},
    "layer": {"kind": "layer", "layer": "blocks.3"},
    "direction": {"kind": "direction", "layer": "blocks.3", "vector": "random", "seed": 1},
    "composite": {
        "kind": "composite",
        "terms": [
            {"kind": "channel", "layer": "blocks.3", "index": [0, 5]},
            {"kind": "layer", "layer": "blocks.2", "weight": 0.5},
        ],
    },
}
VIT_TARGETS = {
    **{k: v for k, v in CNN_TARGETS.items() if k != "composite"},  # same configs on a ViT
    "token_dim_all": {"kind": "token_dim", "layer": "blocks.3", "index": [10, 20]},
    "token_dim_patch": {"kind": "token_dim", "layer": "blocks.4", "index": 4, "tokens": [2, 1]},
    "vit_mlp": {"kind": "vit_mlp", "block": 2, "index": [0, 100], "tokens": "all"},
    "composite": {
        "kind": "composite",
        "terms": [
            {"kind": "token_dim", "layer": "blocks.3", "index": [10, 20]},
            {"kind": "vit_mlp", "block": 1, "index": 7, "weight": 0.5},
            {"kind": "channel", "layer": "blocks.0", "index": 1, "weight": -0.25},
        ],
    },
}


@pytest.fixture(scope="module")
def cnn():
    from tests.conftest import make_context

    return make_context("model=tiny_cnn", f"data.size={SIZE}").model


@pytest.fixture(scope="module")
def vit():
    from tests.conftest import make_context

    return make_context("model=tiny_vit", f"data.size={SIZE}").model


def target(model, **cfg):
    return build_target(OmegaConf.create(cfg), model)


def ascend(model, spec, steps: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Objective per image before and after a few Adam steps on the model input."""
    g = torch.Generator().manual_seed(0)
    x = (0.3 * torch.randn(spec.num_units, 3, SIZE, SIZE, generator=g)).requires_grad_()
    opt = torch.optim.Adam([x], lr=0.05)
    layers = list(spec.objective.layers)
    with torch.no_grad():
        before = spec.objective(model.features(x, layers))
    for _ in range(steps):
        opt.zero_grad()
        (-spec.objective(model.features(x, layers)).sum()).backward()
        opt.step()
    with torch.no_grad():
        after = spec.objective(model.features(x, layers))
    return before, after


@pytest.mark.parametrize("name", list(CNN_TARGETS))
def test_every_target_rises_on_tiny_cnn(cnn, name):
    spec = target(cnn, **CNN_TARGETS[name])
    before, after = ascend(cnn, spec)
    assert before.shape == (spec.num_units,)
    assert torch.all(after > before), (name, before, after)


@pytest.mark.parametrize("name", list(VIT_TARGETS))
def test_every_target_rises_on_tiny_vit(vit, name):
    spec = target(vit, **VIT_TARGETS[name])
    before, after = ascend(vit, spec)
    assert before.shape == (spec.num_units,)
    assert torch.all(after > before), (name, before, after)


# ----- token selection -------------------------------------------------------------------------
def hand_tokens(n: int, t: int, d: int) -> torch.Tensor:
    """act[i, tok, dim] = 1000 i + 100 tok + dim, so a selection's value names its tokens."""
    i = torch.arange(n).view(n, 1, 1) * 1000.0
    tok = torch.arange(t).view(1, t, 1) * 100.0
    return i + tok + torch.arange(d).view(1, 1, d).float()


def test_token_selection_picks_the_right_tokens():
    layout = TokenLayout(num_prefix=2, has_cls=True, grid=(3, 4))  # CLS + 1 register token
    act = hand_tokens(2, layout.num_tokens, 5)  # 14 tokens
    dims = torch.arange(5).float()
    expect = {
        "cls": [0],
        "all": list(range(14)),
        "patch_mean": list(range(2, 14)),
        (1, 2): [2 + 1 * 4 + 2],
        5: [2 + 5],
        "center": [2 + 1 * 4 + 1],
        (2, 3): [13],
    }
    for selection, tokens in expect.items():
        got = select_tokens(act, layout, selection)
        want = torch.stack(
            [1000.0 * i + 100.0 * torch.tensor(tokens).float().mean() + dims for i in range(2)]
        )
        torch.testing.assert_close(got, want, msg=f"selection {selection!r}")
    # before the position embedding there are no prefix tokens: patch (1, 2) is token 6
    no_prefix = hand_tokens(1, layout.num_patches, 5)
    assert select_tokens(no_prefix, layout, (1, 2))[0, 0] == 600.0
    with pytest.raises(VizlabError, match="no CLS token"):
        select_tokens(no_prefix, layout, "cls")
    with pytest.raises(VizlabError, match="3x4 patch grid"):
        select_tokens(act, layout, (3, 0))
    with pytest.raises(VizlabError, match="13 tokens"):
        select_tokens(hand_tokens(1, 13, 5), layout, "all")


def test_parse_tokens():
    assert parse_tokens(None) == "all"
    assert parse_tokens("patch_mean") == "patch_mean"
    assert parse_tokens([2, 3]) == (2, 3)
    assert parse_tokens(OmegaConf.create({"t": [2, 3]}).t) == (2, 3)
    assert parse_tokens("7") == 7
    with pytest.raises(VizlabError, match="target.tokens='mean'"):
        parse_tokens("mean")


def test_token_layout_comes_from_timm(vit, cnn):
    layout = TokenLayout.from_model(vit)
    out = vit.features(torch.zeros(1, 3, SIZE, SIZE), ["blocks.0"])["blocks.0"]
    assert layout.num_prefix == vit.module.num_prefix_tokens == 1
    assert layout.grid == (SIZE // 16, SIZE // 16)  # dynamic size: not the 160 px default grid
    assert out.shape[1] == layout.num_tokens
    with pytest.raises(VizlabError, match="not a Vision Transformer"):
        TokenLayout.from_model(cnn)


def test_token_targets_read_the_right_activations(vit):
    x = torch.randn(3, 3, SIZE, SIZE)
    out = vit.features(x, ["blocks.3", "blocks.3.mlp.fc1"])
    for tokens, tok in [("cls", 0), ([2, 1], 1 + 2 * 4 + 1), ("center", 1 + 1 * 4 + 1)]:
        spec = target(vit, kind="token_dim", layer="blocks.3", index=9, tokens=tokens)
        torch.testing.assert_close(spec.objective(out), out["blocks.3"][:, tok, 9])
    spec = target(vit, kind="token_dim", layer="blocks.3", index=9)  # the AM paper: all tokens
    torch.testing.assert_close(spec.objective(out), out["blocks.3"][:, :, 9].mean(1))
    spec = target(vit, kind="vit_mlp", block=3, index=150, tokens="patch_mean")
    assert spec.layer == "blocks.3.mlp.fc1"
    torch.testing.assert_close(spec.objective(out), out["blocks.3.mlp.fc1"][:, 1:, 150].mean(1))
    spec = target(vit, kind="neuron", layer="blocks.3", index=9, position=[3, 0])
    torch.testing.assert_close(spec.objective(out), out["blocks.3"][:, 1 + 3 * 4, 9])


def test_direction_is_a_projection(cnn, vit, tmp_path):
    x = torch.randn(2, 3, SIZE, SIZE)
    act = cnn.features(x, ["blocks.3"])["blocks.3"]
    spec = target(cnn, kind="direction", layer="blocks.3", channels=[3, 7], vector=[3.0, -4.0])
    want = (0.6 * act[:, 3] - 0.8 * act[:, 7]).flatten(1).mean(1)
    torch.testing.assert_close(spec.objective({"blocks.3": act}), want)
    assert spec.num_units == 1
    file = tmp_path / "v.pt"
    torch.save(torch.ones(act.shape[1]), file)
    spec = target(cnn, kind="direction", layer="blocks.3", vector=str(file))
    want = act.sum(1).flatten(1).mean(1) / act.shape[1] ** 0.5
    torch.testing.assert_close(spec.objective({"blocks.3": act}), want)
    tokens = vit.features(x, ["blocks.2"])["blocks.2"]
    v = torch.randn(tokens.shape[-1])
    spec = target(vit, kind="direction", layer="blocks.2", vector=v.tolist(), tokens="cls")
    torch.testing.assert_close(spec.objective({"blocks.2": tokens}), tokens[:, 0] @ (v / v.norm()))
    with pytest.raises(VizlabError, match="needs 48"):
        target(cnn, kind="direction", layer="blocks.3", vector=[1.0, 2.0])


# ----- composition -------------------------------------------------------------------------------
def test_objectives_compose(vit):
    a = target(vit, kind="token_dim", layer="blocks.3", index=[10, 20]).objective
    b = target(vit, kind="vit_mlp", block=1, index=7).objective
    c = target(vit, kind="channel", layer="blocks.0", index=1).objective
    layers = ["blocks.3", "blocks.1.mlp.fc1", "blocks.0"]
    feats = vit.features(torch.randn(4, 3, SIZE, SIZE), layers)
    torch.testing.assert_close((a + 0.5 * b)(feats), a(feats) + 0.5 * b(feats))
    torch.testing.assert_close((a - b)(feats), a(feats) - b(feats))
    assert set((a + b).layers) == {"blocks.3", "blocks.1.mlp.fc1"}
    spec = target(vit, **VIT_TARGETS["composite"])
    torch.testing.assert_close(spec.objective(feats), a(feats) + 0.5 * b(feats) - 0.25 * c(feats))
    assert spec.num_units == 2 and spec.layer == "blocks.3"
    labels = spec.unit_labels(vit)
    assert (
        labels[0].startswith("blocks.3:10 all + 0.5*blocks.1.mlp.fc1:7") and "- 0.25*" in labels[0]
    )


def test_composite_from_the_config_group(compose_cfg, vit):
    spec = build_target(compose_cfg("model=tiny_vit", "target=composite").target, vit)
    assert spec.kind == "composite" and spec.layer == "blocks.3"
    cfg = compose_cfg(
        "model=tiny_vit",
        "target=composite",
        "target.terms=[{kind:token_dim,layer:blocks.2,index:1},{kind:layer,layer:blocks.1,"
        "weight:-0.5}]",
    )
    spec = build_target(cfg.target, vit)
    assert spec.kind == "composite" and spec.layer == "blocks.2"
    assert spec.unit_labels(vit) == ["blocks.2:1 all - 0.5*blocks.1"]
    with pytest.raises(VizlabError, match="different numbers of units"):
        target(
            vit,
            kind="composite",
            terms=[
                {"kind": "channel", "layer": "blocks.3", "index": [1, 2]},
                {"kind": "channel", "layer": "blocks.3", "index": [1, 2, 3]},
            ],
        )
    with pytest.raises(VizlabError, match="target.terms"):
        target(vit, kind="composite", terms=None)


# ----- errors ------------------------------------------------------------------------------------
def test_clear_errors(cnn, vit):
    from tests.conftest import make_context

    with pytest.raises(VizlabError, match="not a Vision Transformer"):
        target(cnn, kind="token_dim", layer="blocks.3", index=0)
    with pytest.raises(VizlabError, match="not a Vision Transformer"):
        target(cnn, kind="vit_mlp", block=1, index=0)
    with pytest.raises(VizlabError, match="64 hidden dimensions"):
        target(vit, kind="token_dim", layer="blocks.3", index=64)
    with pytest.raises(VizlabError, match="outputs tokens"):
        target(vit, kind="token_dim", layer="head", index=0)
    with pytest.raises(VizlabError, match="4x4 feature map"):
        target(cnn, kind="neuron", layer="blocks.3", index=0, position=[4, 0])
    headless = make_context("model=tiny_vit", f"data.size={SIZE}", "+model.kwargs.num_classes=0")
    with pytest.raises(VizlabError, match="classification head"):
        target(headless.model, kind="logit", index=0)


# ----- diversity ---------------------------------------------------------------------------------
def test_gram_similarity_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).view(1, 2, 2, 1)  # Gram diag(1, 0)
    b = torch.tensor([[0.0, 0.0], [0.0, 1.0]]).view(1, 2, 2, 1)  # Gram diag(0, 1)
    c = torch.tensor([[1.0, 0.0], [1.0, 0.0]]).view(1, 2, 2, 1)  # Gram all ones
    batch = torch.cat([a, a, a, b, a, c])  # three units x two inits
    torch.testing.assert_close(
        gram_similarity(batch, 2), torch.tensor([1.0, 1.0, 0.0, 0.0, 0.5, 0.5])
    )
    div = Diversity("x", group=3)
    torch.testing.assert_close(
        div({"x": batch}), -torch.tensor([1.0, 1.0, 1.0, 0.25, 0.25, 0.5]), atol=1e-6, rtol=0
    )
    assert torch.all(gram_similarity(batch, 1) == 0)


@pytest.fixture
def few_photos(monkeypatch):
    """Three photos as the reference set for M (all photos and crops are slow to load)."""
    import vizlab.methods.activation_max as am
    from vizlab.data.images import builtin_photo, preprocess
    from vizlab.models.wrapper import InputSpec

    spec = InputSpec((SIZE, SIZE), (0.5,) * 3, (0.5,) * 3)
    names = ["chelsea", "coffee", "astronaut"]
    images = torch.stack([preprocess(builtin_photo(n), spec) for n in names])
    monkeypatch.setattr(am, "photo_set", lambda spec: (images, names))
    am._MAX_CACHE.clear()
    yield images
    am._MAX_CACHE.clear()


def test_unit_maxima_batches_one_index_per_image(ctx_factory, few_photos):
    from vizlab.methods.activation_max import unit_maxima

    ctx = ctx_factory("model=tiny_vit", f"data.size={SIZE}", "method=activation_max")
    ctx.__dict__["target"] = target(ctx.model, **VIT_TARGETS["composite"])
    got = unit_maxima(ctx, ctx.target, batch=2)
    feats = ctx.model.features(
        ctx.model.units.unit_to_model(few_photos), list(ctx.target.objective.layers)
    )
    b = target(ctx.model, kind="vit_mlp", block=1, index=7).objective
    c = target(ctx.model, kind="channel", layer="blocks.0", index=1).objective
    rest = 0.5 * b(feats) - 0.25 * c(feats)
    per_unit = []
    for unit in (10, 20):
        single = target(ctx.model, kind="token_dim", layer="blocks.3", index=unit).objective
        per_unit.append((single(feats) + rest).max())
    torch.testing.assert_close(got, torch.stack(per_unit))


def test_activation_max_raises_token_target_and_diversity_separates(ctx_factory, few_photos):
    from vizlab.methods.activation_max import ActivationMax

    common = (
        "model=tiny_cnn",
        f"data.size={SIZE}",
        "method=activation_max",
        "target=channel",
        "target.layer=blocks.2",
        "target.index=1",
        "regularizers=none",  # the paper's prior dominates the first hundred steps
        "method.num_inits=3",
        "method.iterations=10",
    )
    plain = ActivationMax().run(ctx_factory(*common))
    diverse = ActivationMax().run(ctx_factory(*common, "method.diversity=10"))
    assert diverse.metrics["gram_similarity"] < 0.5 * plain.metrics["gram_similarity"]
    with pytest.raises(VizlabError, match="num_inits >= 2"):
        ActivationMax().run(ctx_factory(*common[:-2], "method.diversity=1"))

    token_target = (
        "model=tiny_vit",
        f"data.size={SIZE}",
        "method=activation_max",
        "target=token_dim",
        "target.layer=blocks.3",
        "target.index=[5,9]",
        "target.tokens=patch_mean",
        "regularizers=none",  # the data term alone: the paper's prior needs ~300 steps
    )
    start = ActivationMax().run(ctx_factory(*token_target, "method.iterations=1"))
    end = ActivationMax().run(ctx_factory(*token_target, "method.iterations=10"))
    start = torch.tensor(start.metrics["achieved_activation_per_image"])
    achieved = torch.tensor(end.metrics["achieved_activation_per_image"])
    assert torch.all(achieved > start), (start, achieved)
