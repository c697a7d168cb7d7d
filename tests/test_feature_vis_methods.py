"""DeepDream, class models, AM adversarial examples and the transfer metric, on the tiny random
CNN at 64 px (and a hand-built classifier for the transfer ranks)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from vizlab.errors import VizlabError
from vizlab.metrics.transfer import (
    class_rank_probability,
    transfer_metrics,
    transfer_model_names,
)
from vizlab.models.wrapper import VisionModel

TINY = ("model=tiny_cnn", "data.size=64")


def test_deepdream_raises_the_layer_energy(ctx_factory):
    from vizlab.methods.deepdream import DeepDream

    ctx = ctx_factory(
        *TINY,
        "method=deepdream",
        "target=layer",
        "target.layer=blocks.2",
        "method.octaves=2",
        "method.octave_scale=1.5",
        "method.iterations=4",
        "method.jitter=4",
    )
    result = DeepDream().run(ctx)
    m = result.metrics
    before, after = m["objective_before_per_image"], m["objective_after_per_image"]
    assert all(a > 1.05 * b for a, b in zip(after, before)), (before, after)
    assert m["octave_sizes"] == [[43, 43], [64, 64]]
    dream = result.tensors["dream"]
    assert dream.shape == ctx.references.images.shape
    assert dream.min() >= 0 and dream.max() <= 1
    assert not torch.allclose(dream, ctx.references.images)
    # original | dream side by side
    assert result.images["comparison"].shape[1] > result.images["dream"].shape[1]


def test_octave_sizes_round_to_the_patch_size():
    from vizlab.preimage.dream import octave_sizes

    assert octave_sizes((224, 224), 3, 2.0) == [(56, 56), (112, 112), (224, 224)]
    sizes = octave_sizes((64, 64), 4, 1.4, multiple=8, minimum=16)
    assert sizes[-1] == (64, 64) and all(h % 8 == 0 and h >= 16 for h, _ in sizes)


def test_class_model_raises_the_logit(ctx_factory):
    from vizlab.methods.class_model import ClassModel

    ctx = ctx_factory(
        *TINY,
        "method=class_model",
        "target.index=[3,7]",
        "method.iterations=15",
        "method.transfer_models=[]",
    )
    assert ctx.target.kind == "logit" and not ctx.cfg.regularizers  # the method's defaults
    with torch.no_grad():
        start = ctx.model.logits(ctx.model.units.unit_to_model(torch.full((1, 3, 64, 64), 0.5)))
    result = ClassModel().run(ctx)
    m = result.metrics
    assert m["l2_decay"] == 1.0
    achieved = m["achieved_logit_per_image"]
    assert achieved[0] > float(start[0, 3]) + 1e-4 and achieved[1] > float(start[0, 7]) + 1e-4
    assert len(m["target_rank_per_image"]) == 2 and "activation_relative_to_max" in m
    assert result.tensors["class_model"].shape == (2, 3, 64, 64)


def test_class_model_needs_a_logit_target(ctx_factory):
    from vizlab.methods.class_model import ClassModel

    ctx = ctx_factory(*TINY, "method=class_model", "target=channel", "method.iterations=1")
    with pytest.raises(VizlabError, match="target=logit"):
        ClassModel().run(ctx)


def _runner_up(ctx) -> int:
    with torch.no_grad():
        logits = ctx.model.logits(ctx.model.units.unit_to_model(ctx.references.images))
    return int(logits[0].argsort(descending=True)[1])


def test_am_adversarial_respects_eps_and_range_and_reaches_the_target(ctx_factory):
    from vizlab.methods.am_adversarial import AMAdversarial

    ctx = ctx_factory(*TINY, "method=am_adversarial", "data=chelsea")
    target = _runner_up(ctx)
    eps = 0.05
    ctx.cfg.method.merge_with(
        {"target_class": target, "eps": eps, "step_rule": "sign", "transfer_models": []}
    )
    ctx.options = None  # typed again from the edited cfg.method
    result = AMAdversarial().run(ctx)
    x, adv = result.tensors["original"], result.tensors["adversarial"]
    assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    m = result.metrics
    assert m["success_rate"] == 1.0 and m[f"chelsea_to_{target}_success"]
    assert m["linf_max"] <= eps + 1e-6 and m["l2_mean"] > 0
    assert m["target_rank_mean"] == 1 and m["target_rank_before_mean"] == 2
    # original | perturbation x10 | adversarial
    assert result.images["adversarial"].shape[1] > 3 * 64


def test_am_attack_gradient_rule_and_tv(ctx_factory):
    from vizlab.methods.am_adversarial import am_attack, tv_isotropic

    ctx = ctx_factory(*TINY, "data=chelsea")
    target = _runner_up(ctx)
    x = ctx.references.images
    # the tiny random model's logits are ~1e-3, so the paper's raw-gradient step needs scaling
    adv, history = am_attack(ctx.model, x, torch.tensor([target]), eps=0.05, step_size=50.0)
    with torch.no_grad():
        logits = ctx.model.logits(ctx.model.units.unit_to_model(adv))
    assert int(logits.argmax()) == target
    assert (adv - x).abs().max() <= 0.05 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert history["target_logit"][-1] > history["target_logit"][0]
    smooth, rough = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    rough[..., ::2, :] = 1.0
    assert float(tv_isotropic(smooth)) < 1e-3 and float(tv_isotropic(rough)) > 10


def test_am_adversarial_rejects_bad_targets(ctx_factory):
    from vizlab.methods.am_adversarial import AMAdversarial

    ctx = ctx_factory(*TINY, "method=am_adversarial", "data=chelsea")
    ctx.cfg.method.target_class = 5000
    ctx.options = None
    with pytest.raises(VizlabError, match="target_class=5000"):
        AMAdversarial().run(ctx)


class ColourClassifier(nn.Module):
    """Hand-built 4-class 'model': logits = 10 * mean R, G, B and a constant 4.5; it records the
    input size it saw."""

    num_classes = 4
    pretrained_cfg = {"input_size": (3, 40, 40), "mean": (0, 0, 0), "std": (1, 1, 1)}

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def forward(self, x):
        self.seen.append(tuple(x.shape[-2:]))
        rgb = 10 * x.mean((2, 3))
        return torch.cat([rgb, torch.full_like(rgb[:, :1], 4.5)], 1)


def test_class_rank_probability_on_hand_built_logits():
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 0.0, 5.0]])
    ranks, probs = class_rank_probability(logits, [2, 1])
    assert ranks.tolist() == [2, 2]  # a tie with class 0 counts in the class's favour
    assert torch.allclose(probs, logits.softmax(-1)[[0, 1], [2, 1]])


def test_transfer_metrics_rank_under_other_models():
    model = VisionModel(ColourClassifier(), "colour")
    assert model.spec.size == (40, 40)
    red = torch.zeros(1, 3, 64, 64)
    red[:, 0] = 1.0  # logits 10, 0, 0, 4.5
    grey = torch.full((1, 3, 64, 64), 0.4)  # logits 4, 4, 4, 4.5
    images = torch.cat([red, grey])
    ctx = SimpleNamespace(device=torch.device("cpu"))
    m = transfer_metrics(ctx, images, [0, 1], models={"colour": model})
    assert m["transfer_colour_target_rank_per_image"] == [1, 2]
    assert m["transfer_colour_top1_rate"] == 0.5 and m["transfer_colour_top5_rate"] == 1.0
    assert m["transfer_top1_rate"] == 0.5
    assert model.module.seen[-1] == (40, 40)  # scored at the other model's own input size
    expected = torch.softmax(torch.tensor([10.0, 0, 0, 4.5]), 0)[0]
    assert abs(m["transfer_colour_target_probability_per_image"][0] - float(expected)) < 1e-5


def test_transfer_model_list_skips_the_visualized_model():
    names = ["efficientnet_lite1", "efficientnet_lite2"]
    assert transfer_model_names(names, "tf_efficientnet_lite1") == ["efficientnet_lite2"]
    with pytest.raises(VizlabError, match="no_such_model"):
        transfer_model_names(["no_such_model"], "tf_efficientnet_lite1")
