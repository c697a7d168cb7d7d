"""Gram matrices, perceptual losses, texture synthesis, style transfer and the fast-style
transformation network (vizlab.style and the texture / style_transfer / fast_style methods)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vizlab.errors import VizlabError
from vizlab.style import (
    PerceptualLoss,
    TransformerNet,
    gram_loss,
    gram_matrix,
    image_tensor,
    load_transformer,
    save_transformer,
)
from vizlab.style.layers import content_layers, style_layers

TINY = ("model=tiny_cnn", "data.size=32")

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny workloads: one torch thread


def test_gram_matrix_matches_a_hand_computation():
    f = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    expected = torch.zeros(2, 3, 3)
    for n in range(2):
        for c in range(3):
            for d in range(3):
                expected[n, c, d] = sum(
                    f[n, c, h, w] * f[n, d, h, w] for h in range(4) for w in range(5)
                ) / (4 * 5)
    torch.testing.assert_close(gram_matrix(f), expected)
    # ViT tokens (N x T x C) are positions x channels
    torch.testing.assert_close(gram_matrix(f.flatten(2).transpose(1, 2)), expected)


def test_gram_loss_is_gatys_eq4_on_unnormalized_grams():
    f = torch.randn(1, 6, 5, 5, generator=torch.Generator().manual_seed(1))
    a = torch.randn(1, 6, 5, 5, generator=torch.Generator().manual_seed(2))
    n_l, m_l = 6, 25
    raw_g = f.flatten(2) @ f.flatten(2).transpose(1, 2)
    raw_a = a.flatten(2) @ a.flatten(2).transpose(1, 2)
    expected = (raw_g - raw_a).pow(2).sum() / (4 * n_l**2 * m_l**2)
    torch.testing.assert_close(gram_loss(gram_matrix(f), gram_matrix(a))[0], expected)
    assert gram_loss(gram_matrix(f), gram_matrix(f)).item() == 0.0


def test_perceptual_loss_layers_and_errors(ctx_factory):
    model = ctx_factory(*TINY).model
    layers = style_layers(model, "auto")
    assert layers == ["bn1", "blocks.1.0.bn1", "blocks.2.0.bn1", "blocks.3.0.bn1"]
    assert content_layers(model, None) == ["blocks.2"]
    with pytest.raises(VizlabError, match="blocks.99"):
        PerceptualLoss(model, ["blocks.99"])
    with pytest.raises(VizlabError, match="style_weights"):
        PerceptualLoss(model, layers, style_weights=[1.0])
    loss = PerceptualLoss(model, layers, ["blocks.2"])
    x = torch.rand(2, 3, 32, 32)
    loss.set_style(x[:1])
    feats = loss.features(x)
    style = loss.style_loss(feats)
    assert style.shape == (2,) and style[0] < 1e-6 < style[1]
    assert loss.content_loss(feats, loss.content_targets(x)).abs().max() == 0


def test_unknown_families_need_explicit_layers():
    from types import SimpleNamespace

    model = SimpleNamespace(name="mystery_net", is_vit=False, layer_names=["stem", "body"])
    with pytest.raises(VizlabError, match="style layers are known for mystery_net"):
        style_layers(model, "auto")
    with pytest.raises(VizlabError, match="content layer is known for mystery_net"):
        content_layers(model, None)
    assert style_layers(model, ["stem", "body"]) == ["stem", "body"]
    assert content_layers(model, "body") == ["body"]


def test_vit_style_layers_drop_the_class_token(ctx_factory):
    model = ctx_factory("model=tiny_vit", "data.size=32").model
    layers = style_layers(model, "auto")
    assert layers[0] == "blocks.0.mlp.act"
    feats = PerceptualLoss(model, layers).features(torch.rand(1, 3, 32, 32))
    assert feats[layers[0]].shape[1] == 4  # 2 x 2 patches of 16 px, no class token


def test_vit_sizes_are_fitted_to_the_patch_grid(ctx_factory, caplog):
    from vizlab.methods.texture import Texture
    from vizlab.style.size import working_size

    model = ctx_factory("model=tiny_vit", "method=texture", "method.size=40").model
    assert working_size(model, 44) == (48, 48) and working_size(model, 20) == (16, 16)
    assert "not a multiple" in caplog.text
    assert working_size(model, 32) == (32, 32)
    ctx = ctx_factory("model=tiny_vit", "method=texture", "method.size=20", "method.iterations=2")
    assert Texture().run(ctx).tensors["texture"].shape[-2:] == (16, 16)


def test_unknown_style_image_is_a_clear_error():
    with pytest.raises(VizlabError, match="method.style=.grasss. is neither"):
        image_tensor("grasss", 32)
    assert image_tensor("grass", (24, 32)).shape == (1, 3, 24, 32)


@pytest.mark.parametrize("model", ["tiny_cnn", "tiny_vit"])
def test_texture_synthesis_lowers_the_gram_loss(ctx_factory, model):
    from vizlab.methods.texture import Texture

    ctx = ctx_factory(f"model={model}", "method=texture", "method.size=32", "method.iterations=30")
    result = Texture().run(ctx)
    m = result.metrics
    assert m["gram_loss_final"] < 0.1 * m["gram_loss_initial"]
    assert result.tensors["texture"].shape == (1, 3, 32, 32)
    assert result.images["comparison"].shape == (36, 70, 3)


def test_texture_with_adam(ctx_factory):
    from vizlab.methods.texture import Texture

    ctx = ctx_factory(
        *TINY,
        "method=texture",
        "method.size=32",
        "method.iterations=20",
        "method.optimizer=adam",
        "method.lr=0.01",
        "method.source=gravel",
    )
    assert Texture().run(ctx).metrics["gram_loss_ratio"] < 0.5
    with pytest.raises(VizlabError, match="sgd"):
        ctx_factory(*TINY, "method=texture", "method.optimizer=sgd")


def test_style_transfer_moves_towards_the_style(ctx_factory):
    from vizlab.methods.style_transfer import StyleTransfer

    ctx = ctx_factory(
        *TINY,
        "method=style_transfer",
        "method.size=32",
        "method.iterations=20",
        "method.style=gravel",
        "method.style_weight=1e4",
    )
    result = StyleTransfer().run(ctx)
    m = result.metrics
    assert m["style_loss_final"] < 0.5 * m["style_loss_content_image"]
    assert m["content_loss_final"] > 0
    stylized = result.tensors["stylized"]
    assert stylized.shape == (1, 3, 32, 32) and stylized.min() >= 0 and stylized.max() <= 1


def test_transformer_net_keeps_shapes_and_starts_as_identity():
    net = TransformerNet((8, 8, 16), 1)
    for shape in [(2, 3, 32, 32), (1, 3, 30, 42)]:
        x = torch.rand(shape) * 0.9 + 0.05
        y = net(x)
        assert y.shape == x.shape
        torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


def _tiny_training(ctx_factory, steps: int, lr: float = 0.01):
    from vizlab.style.train import train_transformer

    model = ctx_factory(*TINY).model
    loss = PerceptualLoss(model, style_layers(model, "auto"), ["blocks.2"])
    loss.set_style(image_tensor("gravel", 32))
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    net = TransformerNet((8, 8, 16), 1)
    torch.manual_seed(0)

    def evaluate() -> float:
        with torch.no_grad():
            out = net(images)
            feats = loss.features(out)
            total = loss.content_loss(feats, loss.content_targets(images))
            return float((total + 1e4 * loss.style_loss(feats)).mean())

    before = evaluate()
    train_transformer(
        net,
        loss,
        images,
        steps=steps,
        batch_size=4,
        lr=lr,
        content_weight=1.0,
        style_weight=1e4,
        tv_weight=0.0,
        generator=torch.Generator().manual_seed(0),
    )
    return net, before, evaluate()


def test_fast_style_training_lowers_the_loss(ctx_factory):
    _, before, after = _tiny_training(ctx_factory, steps=15)
    assert after < 0.8 * before


def test_transformer_save_load_round_trip(tmp_path: Path):
    net = TransformerNet((8, 8, 16), 2)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = save_transformer(net.eval(), tmp_path / "net.pt", style="gravel", steps=3)
    loaded, meta = load_transformer(path)
    x = torch.rand(1, 3, 20, 20)
    torch.testing.assert_close(loaded(x), net(x))
    assert meta == {"style": "gravel", "steps": 3}
    with pytest.raises(VizlabError, match="does not exist"):
        load_transformer(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(VizlabError, match="junk.pt"):
        load_transformer(tmp_path / "junk.pt")


def test_fast_style_method_trains_saves_and_reloads(ctx_factory, tmp_path: Path):
    from vizlab.methods.fast_style import FastStyle

    common = (*TINY, "method=fast_style", "method.channels=[8,8,16]", "method.residual_blocks=1")
    ctx = ctx_factory(
        *common, "method.steps=3", "method.train_size=32", f"method.output_dir={tmp_path}"
    )
    trained = FastStyle().run(ctx)
    m = trained.metrics
    assert m["trained"] is True and Path(m["checkpoint"]).is_file()
    assert Path(m["checkpoint"]).parent == tmp_path
    assert m["train_steps"] == 3 and m["stylize_ms_per_image"] > 0
    reused = FastStyle().run(ctx_factory(*common, f"method.checkpoint={m['checkpoint']}"))
    assert reused.metrics["trained"] is False
    assert reused.metrics["style"] == m["style"]
    torch.testing.assert_close(reused.tensors["stylized"], trained.tensors["stylized"])


def test_bad_method_values_are_clear_errors(ctx_factory):
    """Bad values are refused when the options are typed, before the model loads (zero
    training steps used to end in a KeyError ('total') after an empty training)."""
    cases = [
        (("method=fast_style", "method.steps=0"), "method.steps=0"),
        (("method=fast_style", "method.batch_size=-1"), "method.batch_size=-1"),
        (("method=fast_style", "method.channels=[8,8]"), "three positive widths"),
        (("method=style_transfer", "method.init=contnet"), "did you mean content"),
        (("method=style_transfer", "method.style_weight=-1"), "style_weight"),
        (("method=texture", "method.num_samples=0"), "method.num_samples=0"),
        (("method=texture", "method.iterations=0"), "method.iterations=0"),
        (("method=texture", "method.lr=fast"), "a number"),
    ]
    for overrides, message in cases:
        size = () if overrides[0] == "method=fast_style" else ("method.size=32",)
        with pytest.raises(VizlabError, match=message):
            ctx_factory(*TINY, *overrides, *size)


def test_texture_and_style_transfer_share_one_optimization_loop(ctx_factory):
    from vizlab.style.optimize import optimize_timed

    target = torch.full((1, 3, 8, 8), 0.7)

    def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"total": (x - target).pow(2).mean()}

    x0 = torch.full((1, 3, 8, 8), 0.2)
    run = optimize_timed(x0, objective, optimizer="lbfgs", iterations=20, lr=1.0)
    assert run.before["total"] == pytest.approx(0.25)
    assert run.after["total"] < 1e-6 and run.seconds > 0
    torch.testing.assert_close(run.image, target, atol=1e-3, rtol=0)
    assert len(run.history["total"]) <= 20


def test_stylize_timed_passes_each_image_once():
    from vizlab.style.train import stylize_timed

    net = TransformerNet((8, 8, 16), 1).eval()
    x = torch.rand(2, 3, 16, 16)
    out, seconds = stylize_timed(net, x)
    torch.testing.assert_close(out, net(x))
    assert len(seconds) == 2 and min(seconds) > 0


def test_style_total_variation_is_the_regularizer_tv2_per_channel():
    """One TV: the style prior is the pre-image TV^2 (beta 2) scaled by the channel count."""
    from vizlab.regularizers.penalties import TotalVariation
    from vizlab.style import total_variation

    x = torch.rand(2, 3, 9, 7)
    torch.testing.assert_close(total_variation(x), TotalVariation(2.0, V=1.0)(x) / 3)
    assert total_variation(torch.full((1, 3, 5, 5), 0.3)).item() == 0.0
