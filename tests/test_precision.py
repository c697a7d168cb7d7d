"""Mixed precision (``precision=bf16|fp16``): the model's forward pass runs under autocast,
its outputs come back as fp32, and bf16 agrees with fp32 on the CPU (logits, features and an
inversion's reconstruction error)."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import make_context
from vizlab.devices import autocast
from vizlab.methods.inversion import Inversion


def test_autocast_runs_the_convolutions_in_bf16_and_returns_fp32():
    ctx = make_context("model=tiny_cnn", "data.size=32", "precision=bf16")
    model = ctx.model
    assert model.precision == "bf16"
    model.execution_order  # noqa: B018 - its traced forward (fp32, no grad) runs first
    seen = []
    handle = model.module.conv_stem.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    try:
        x = torch.randn(2, 3, 32, 32)
        feats = model.features(x, ["blocks.1"])
        logits = model.logits(x)
    finally:
        handle.remove()
    assert seen == [torch.bfloat16, torch.bfloat16]
    assert feats["blocks.1"].dtype == torch.float32 and logits.dtype == torch.float32


def test_fp32_is_untouched():
    ctx = make_context("model=tiny_cnn", "data.size=32")
    assert ctx.model.precision == "fp32"
    with autocast(ctx.device, "fp32"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(ctx.device, "bf16"):
        assert torch.is_autocast_enabled("cpu")


def test_bf16_logits_and_features_agree_with_fp32_on_the_pretrained_model(lite0):
    x = lite0.units.unit_to_model(
        make_context("model=efficientnet_lite0", "data.size=96").references.images
    )
    try:
        ref_logits = lite0.logits(x)
        ref_feats = lite0.features(x, ["blocks.3"])["blocks.3"]
        lite0.precision = "bf16"
        logits = lite0.logits(x)
        feats = lite0.features(x, ["blocks.3"])["blocks.3"]
    finally:
        lite0.precision = "fp32"
    assert logits.argmax(-1).tolist() == ref_logits.argmax(-1).tolist()
    assert torch.nn.functional.cosine_similarity(logits, ref_logits).min() > 0.99
    rel = (feats - ref_feats).norm() / ref_feats.norm()
    assert rel < 0.05, float(rel)


def test_bf16_inversion_reaches_the_fp32_error_within_a_few_points():
    errors = {}
    for precision in ("fp32", "bf16"):
        ctx = make_context(
            "target.layer=blocks.1",
            "method.C=300",
            "data.size=64",
            "method.iterations=40",
            "method.finetune_iterations=5",
            f"precision={precision}",
        )
        errors[precision] = Inversion().run(ctx).metrics["reconstruction_error"]
    assert errors["fp32"] < 60.0, errors  # the optimization did something
    assert errors["bf16"] == pytest.approx(errors["fp32"], abs=4.0), errors
