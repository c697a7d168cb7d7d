"""ViT attention capture (fused attention switched off and restored), attention rollout
(Abnar & Zuidema 2020) against hand computations, and the vit_attention method end to end."""

from __future__ import annotations

import pytest
import torch

from vizlab.attribution.attention import (
    attention_modules,
    attention_probabilities,
    attention_rollout,
    discard_lowest,
    fuse_heads,
)
from vizlab.errors import VizlabError
from vizlab.methods.vit_attention import ViTAttention

SIZE = 64


@pytest.fixture(scope="module")
def vit_ctx():
    from tests.conftest import make_context

    return make_context("model=tiny_vit", f"data.size={SIZE}", "method=vit_attention")


def test_capture_restores_fused_attention_and_hooks(vit_ctx):
    module = vit_ctx.model.module
    attns = [m for _, m in attention_modules(module)]
    assert len(attns) == len(module.blocks) and all(m.fused_attn for m in attns)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        fused = module(x)
        with attention_probabilities(module) as store:
            assert not any(m.fused_attn for m in attns)
            unfused = module(x)
    torch.testing.assert_close(unfused, fused, atol=1e-5, rtol=1e-5)
    assert all(m.fused_attn for m in attns)
    assert all(not m.attn_drop._forward_hooks for m in attns)
    assert list(store) == [f"blocks.{i}.attn" for i in range(len(attns))]
    for probs in store.values():
        assert probs.shape == (2, attns[0].num_heads, 17, 17)  # CLS + 4x4 patches
        torch.testing.assert_close(probs.sum(-1), torch.ones(2, attns[0].num_heads, 17))
    with pytest.raises(RuntimeError, match="boom"), attention_probabilities(module):
        raise RuntimeError("boom")
    assert all(m.fused_attn for m in attns) and all(not m.attn_drop._forward_hooks for m in attns)


def test_captured_attention_is_softmax_qk(vit_ctx):
    model = vit_ctx.model
    block = model.module.blocks[2].attn
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        tokens = model.features(x, ["blocks.2.norm1"])["blocks.2.norm1"]
    b, t, _ = tokens.shape
    qkv = block.qkv(tokens).reshape(b, t, 3, block.num_heads, -1).permute(2, 0, 3, 1, 4)
    q, k = block.q_norm(qkv[0]), block.k_norm(qkv[1])
    want = (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1)
    with attention_probabilities(model.module) as store, torch.no_grad():
        model.features(x, ["blocks.2"])
    torch.testing.assert_close(store["blocks.2.attn"], want, atol=1e-6, rtol=1e-5)


def row_stochastic(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g).softmax(-1)


def test_rollout_by_hand():
    a1, a2 = row_stochastic(1, 3, 5, 5, seed=1), row_stochastic(1, 3, 5, 5, seed=2)
    eye = torch.eye(5)
    r1 = 0.5 * a1[0].mean(0) + 0.5 * eye
    r2 = 0.5 * a2[0].mean(0) + 0.5 * eye
    torch.testing.assert_close(attention_rollout([a1, a2])[0], r2 @ r1)
    torch.testing.assert_close(attention_rollout([a1], residual=False)[0], a1[0].mean(0))
    m = a1[0].amax(0)
    want = 0.5 * m + 0.5 * eye
    torch.testing.assert_close(
        attention_rollout([a1], head_fusion="max")[0], want / want.sum(-1, keepdim=True)
    )
    torch.testing.assert_close(fuse_heads(a1, "min"), a1.amin(1))
    assert torch.allclose(attention_rollout([a1, a2]).sum(-1), torch.ones(1, 5))
    with pytest.raises(VizlabError, match="head_fusion='median'"):
        fuse_heads(a1, "median")


def test_discard_lowest_keeps_the_strongest_and_cls():
    attn = torch.arange(16.0).view(1, 4, 4) + 1
    attn[0, 0, 0] = 0.5  # the smallest, yet the CLS-to-CLS weight is kept
    out = discard_lowest(attn, 0.5)
    assert int((out == 0).sum()) == 7
    assert out[0, 0, 0] == 0.5
    torch.testing.assert_close(out[0, 2:], attn[0, 2:])  # the 8 largest survive
    assert discard_lowest(attn, 0.0) is attn


def test_vit_attention_method_on_tiny_vit(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_vit",
        f"data.size={SIZE}",
        "method=vit_attention",
        "data.images=[chelsea,coffee]",
        "method.block=2",
        "method.discard_ratio=0.5",
    )
    result = ViTAttention().run(ctx)
    heads = ctx.model.module.blocks[2].attn.num_heads
    assert result.tensors["cls_attention"].shape == (2, heads, 4, 4)
    assert result.tensors["rollout"].shape == (2, 4, 4)
    assert result.tensors["rollout_skip"].shape == (2, 4, 4)
    assert result.tensors["cls_attention_by_block"].shape == (2, 6, 4, 4)
    cls_plus_patches = result.tensors["cls_attention"].sum((-1, -2))
    assert torch.all(cls_plus_patches < 1) and torch.all(cls_plus_patches > 0)
    assert result.metrics["block"] == "blocks.2" and result.metrics["token_grid"] == [4, 4]
    assert len(result.metrics["head_entropy"]) == heads
    assert result.images["attention"].shape[-1] == 3
    axes = result.figures["attention_heads"].axes
    assert [ax.get_title() for ax in axes[: heads + 4]][-3:] == [
        "blocks.2 mean of heads",
        "rollout (mean, discard 0.5)",
        "rollout from blocks.1",
    ]
    assert axes[heads + 4].get_title() == "coffee"


def test_vit_attention_clear_errors(ctx_factory):
    with pytest.raises(VizlabError, match="not a Vision Transformer"):
        ViTAttention().run(
            ctx_factory("model=tiny_cnn", f"data.size={SIZE}", "method=vit_attention")
        )
    ctx = ctx_factory(
        "model=tiny_vit", f"data.size={SIZE}", "method=vit_attention", "method.block=6"
    )
    with pytest.raises(VizlabError, match="method.block=6 is out of range"):
        ViTAttention().run(ctx)
    for bad, valid in [
        ("method.head_fusion=meen", "did you mean mean"),
        ("method.discard_ratio=1", "discard_ratio"),
        ("method.upsample=cubic", "nearest, bilinear"),
        ("method.block=last", "whole number"),
    ]:
        with pytest.raises(VizlabError, match=valid):
            ctx_factory("model=tiny_vit", f"data.size={SIZE}", "method=vit_attention", bad)
