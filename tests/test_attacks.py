"""Adversarial attacks (vizlab.attacks) and the ``adversarial`` method on tiny models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizlab.attacks import (
    as_classifier,
    attack_loss,
    bim,
    cw_l2,
    fgsm,
    perturbation_norms,
    pgd,
    run_attack,
    universal,
)
from vizlab.attacks.universal import universal_delta
from vizlab.errors import VizlabError

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny workloads: one torch thread


@pytest.fixture(scope="module")
def net() -> nn.Module:
    """A tiny nonlinear 10-class CNN on 16 x 16 images (seeded random weights, conv weights
    scaled up so the decision function is far from linear)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(512, 10),
    )
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, nn.Conv2d):
                layer.weight.mul_(3)
    return model.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    x[:, :, :3] = 0.0  # saturated pixels exercise the [0, 1] clipping
    x[:, :, -3:] = 1.0
    return x


def test_fgsm_equals_hand_computed_sign_gradient_on_linear_model():
    torch.manual_seed(0)
    w = torch.randn(5, 3 * 4 * 4)
    x = torch.rand(2, 3, 4, 4)
    y = torch.tensor([1, 3])
    eps = 0.03
    # d CE / d x for logits W x: W^T (softmax(W x) - onehot(y))
    p = (x.flatten(1) @ w.T).softmax(-1)
    grad = (p - F.one_hot(y, 5).float()) @ w
    expected = (x + eps * grad.view_as(x).sign()).clamp(0, 1)
    out = fgsm(lambda t: t.flatten(1) @ w.T, x, y, eps=eps)
    torch.testing.assert_close(out, expected)
    # targeted: step down the target's cross-entropy
    t = torch.tensor([0, 0])
    grad_t = (p - F.one_hot(t, 5).float()) @ w
    expected_t = (x - eps * grad_t.view_as(x).sign()).clamp(0, 1)
    torch.testing.assert_close(
        fgsm(lambda t_: t_.flatten(1) @ w.T, x, eps=eps, target=0), expected_t
    )


def test_fgsm_on_vision_model_applies_its_normalization(ctx_factory):
    model = ctx_factory("model=tiny_cnn", "data.size=32").model
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    xr = x.clone().requires_grad_(True)
    logits = model.module(model.units.unit_to_model(xr))
    y = logits.argmax(-1).detach()
    F.cross_entropy(logits, y).backward()
    expected = (x + (2 / 255) * xr.grad.sign()).clamp(0, 1)
    torch.testing.assert_close(fgsm(model, x, eps=2 / 255), expected)


@pytest.mark.parametrize("attack", ["fgsm", "bim", "pgd"])
def test_linf_attacks_stay_in_the_ball_and_the_valid_range(net, images, attack):
    eps = 8 / 255
    kwargs = {"steps": 5} if attack != "fgsm" else {}
    x_adv = run_attack(attack, net, images, eps=eps, **kwargs)
    delta = x_adv - images
    assert delta.abs().max() <= eps + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert delta.abs().max() > eps / 2  # it did move


def test_pgd_l2_stays_in_the_l2_ball(net, images):
    eps = 0.5
    x_adv = pgd(net, images, eps=eps, steps=5, norm="l2", generator=torch.Generator())
    norms = perturbation_norms(x_adv - images)["l2"]
    assert (norms <= eps + 1e-5).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_pgd_random_start_differs_from_bim(net, images):
    a = pgd(net, images, eps=4 / 255, steps=1, generator=torch.Generator().manual_seed(0))
    b = bim(net, images, eps=4 / 255, steps=1)
    assert not torch.allclose(a, b)


def test_pgd_raises_the_loss_more_than_fgsm(net, images):
    eps = 16 / 255
    y = net(images).argmax(-1)
    with torch.no_grad():
        loss_fgsm = attack_loss(net(fgsm(net, images, y, eps=eps)), y, False).mean()
        x_pgd = pgd(net, images, y, eps=eps, steps=20, generator=torch.Generator())
        loss_pgd = attack_loss(net(x_pgd), y, False).mean()
        loss_clean = attack_loss(net(images), y, False).mean()
    assert loss_fgsm > loss_clean
    assert loss_pgd > loss_fgsm * 1.01


@pytest.mark.parametrize("attack", ["bim", "pgd", "cw"])
def test_targeted_attacks_reach_the_target(net, images, attack):
    target = int(net(images).mean(0).argmin())  # the class the model believes least
    if attack == "cw":
        x_adv = cw_l2(net, images, target=target, steps=60, lr=0.05, c=10.0)
    else:
        x_adv = run_attack(attack, net, images, eps=32 / 255, steps=30, target=target)
    assert (net(x_adv).argmax(-1) == target).float().mean() >= 5 / 6


def test_cw_finds_smaller_l2_than_pgd_l2_at_success(net, images):
    y = net(images).argmax(-1)
    x_pgd = pgd(net, images, y, eps=1.0, steps=10, norm="l2", generator=torch.Generator())
    x_cw = cw_l2(net, images, y, steps=50, lr=0.05, c=1.0, binary_search_steps=2)
    both = (net(x_pgd).argmax(-1) != y) & (net(x_cw).argmax(-1) != y)
    assert both.sum() >= 4
    l2_pgd = perturbation_norms(x_pgd - images)["l2"][both]
    l2_cw = perturbation_norms(x_cw - images)["l2"][both]
    assert l2_cw.mean() < 0.5 * l2_pgd.mean()
    assert x_cw.min() >= 0 and x_cw.max() <= 1


def test_unknown_attack_and_norm_are_clear_errors(net, images):
    with pytest.raises(VizlabError, match="pgdd.*Valid"):
        run_attack("pgdd", net, images, eps=0.1)
    with pytest.raises(VizlabError, match="l3"):
        pgd(net, images, eps=0.1, norm="l3")


def test_as_classifier_uses_units(ctx_factory):
    model = ctx_factory("model=tiny_cnn", "data.size=32").model
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(as_classifier(model)(x), model.module(model.units.unit_to_model(x)))


def test_adversarial_method_untargeted_with_transfer(ctx_factory):
    from vizlab.methods.adversarial import Adversarial

    ctx = ctx_factory(
        "model=tiny_cnn",
        "method=adversarial",
        "data.size=32",
        "data.images=[chelsea,coffee,astronaut]",
        "method.attack=bim",
        "method.steps=3",
        "method.transfer_models=[tiny_vit,tiny_cnn]",
    )
    result = Adversarial().run(ctx)
    m = result.metrics
    assert m["num_images"] == 3 and m["targeted"] is False
    assert m["linf_max"] <= 4 / 255 + 1e-6
    assert 0.0 <= m["success_rate"] <= 1.0
    assert "transfer_tiny_vit_fooling_rate" in m
    assert not any(k.startswith("transfer_tiny_cnn") for k in m)  # the attacked model itself
    assert len(m["chelsea_adv_top5"]) == 5
    # 3 x 3 tiles of 32 px with 2 px gutters: original | perturbation | adversarial per row
    assert result.images["adversarial"].shape == (104, 104, 3)
    assert result.tensors["adversarial"].shape == (3, 3, 32, 32)


def test_adversarial_method_targeted_cw_and_bad_input(ctx_factory):
    from vizlab.methods.adversarial import Adversarial

    base = ("model=tiny_cnn", "method=adversarial", "data=chelsea", "data.size=32")
    ctx = ctx_factory(
        *base,
        "method.attack=cw",
        "method.target_class=7",
        "method.cw.steps=5",
        "method.transfer_models=[]",
    )
    m = Adversarial().run(ctx).metrics
    assert m["targeted"] is True and m["target_class"] == 7 and m["norm"] == "l2"
    assert "target_prob_mean" in m
    with pytest.raises(VizlabError, match="target_class=1000"):
        Adversarial().run(ctx_factory(*base, "method.target_class=1000"))
    for bad, valid in [
        ("method.eps=-1", "eps"),
        ("method.eps=0", "eps"),
        ("method.attack=pgdd", "did you mean pgd"),
        ("method.norm=l3", "linf"),
        ("method.steps=ten", "whole number"),
        ("method.cw.steps=0", "cw.steps"),
        ("method.universal.holdout=1", "holdout"),
    ]:
        with pytest.raises(VizlabError, match=valid):
            ctx_factory(*base, bad)
    with pytest.raises(VizlabError, match="no_such_model"):
        Adversarial().run(
            ctx_factory(*base, "method.attack=fgsm", "method.transfer_models=[no_such_model]")
        )


def test_adversarial_default_data_is_the_colour_photos(compose_cfg):
    cfg = compose_cfg("method=adversarial")
    assert len(cfg.data.images) == 10
    assert compose_cfg("method=adversarial", "data=chelsea").data.image == "chelsea"


def test_pgd_fools_pretrained_lite0_on_chelsea(lite0):
    from vizlab.data import builtin_photo, preprocess
    from vizlab.models.wrapper import InputSpec

    spec = InputSpec((128, 128), lite0.spec.mean, lite0.spec.std, "bicubic", 0.875)
    x = preprocess(builtin_photo("chelsea"), spec)[None]
    classify = as_classifier(lite0)
    y = classify(x).argmax(-1)
    x_adv = pgd(lite0, x, eps=2 / 255, steps=3, generator=torch.Generator())
    assert (x_adv - x).abs().max() <= 2 / 255 + 1e-6
    assert classify(x_adv).argmax(-1) != y


def test_bim_is_pgd_without_random_start_and_fgsm_one_step(net, images):
    kw = dict(eps=8 / 255, steps=4, step_size=2 / 255)
    torch.testing.assert_close(bim(net, images, **kw), pgd(net, images, **kw, random_start=False))
    torch.testing.assert_close(
        fgsm(net, images, eps=4 / 255),
        pgd(net, images, eps=4 / 255, steps=1, step_size=4 / 255, random_start=False),
    )
    with pytest.raises(VizlabError, match="step_size"):
        pgd(net, images, eps=4 / 255, steps=0)


def test_named_model_is_cached_apart_from_the_runner(ctx_factory, monkeypatch):
    """Transfer models load once and never evict the run's own model (the runner keeps one)."""
    from vizlab import runner
    from vizlab.models import loading

    ctx_factory("model=tiny_cnn", "data.size=32")
    kept = dict(runner._MODEL_CACHE)
    a = loading.load_named_model("tiny_vit", "cpu", option="method.transfer_models")
    b = loading.load_named_model("tiny_vit", "cpu", 48)
    assert a.module is b.module and b.spec.size == (48, 48)
    assert kept == runner._MODEL_CACHE
    with pytest.raises(VizlabError, match="not a model config.*tiny_vit"):
        loading.load_named_model("tiny_vitt", option="method.transfer_models")

    def broken(cfg):
        raise RuntimeError("no weights file")

    monkeypatch.setattr(loading, "build_model", broken)
    monkeypatch.setattr(loading, "_EXTRA_MODULES", {})
    with pytest.raises(VizlabError, match="Could not load model 'tiny_cnn'.*no weights file"):
        loading.load_named_model("tiny_cnn", option="method.transfer_models")


def test_adversarial_metrics_are_strict_json_and_step_size_takes_fractions(ctx_factory):
    import json

    from vizlab.methods.adversarial import Adversarial

    base = ("model=tiny_cnn", "method=adversarial", "data=chelsea", "data.size=32")
    ctx = ctx_factory(*base, "method.attack=cw", "method.cw.steps=3", "method.transfer_models=[]")
    m = Adversarial().run(ctx).metrics
    json.dumps(m, allow_nan=False)  # no NaN radius for cw (it has none)
    assert "eps" not in m and m["norm"] == "l2"
    ctx = ctx_factory(
        *base,
        "method.attack=bim",
        "method.steps=2",
        "method.step_size=1/255",
        "method.transfer_models=[]",
    )
    m = Adversarial().run(ctx).metrics
    json.dumps(m, allow_nan=False)
    assert m["linf_max"] <= 2 / 255 + 1e-6  # two steps of 1/255
    with pytest.raises(VizlabError, match="method.step_size"):
        ctx_factory(*base, "method.attack=bim", "method.step_size=-1")


def test_default_radius_follows_the_norm(ctx_factory):
    """The config default eps is per norm: 4/255 would make an L2 attack a no-op."""
    from vizlab.methods.adversarial import Adversarial

    base = ("model=tiny_cnn", "method=adversarial", "data=chelsea", "data.size=32")
    common = ("method.attack=fgsm", "method.transfer_models=[]")
    assert Adversarial().run(ctx_factory(*base, *common)).metrics["eps_255"] == pytest.approx(4)
    m = Adversarial().run(ctx_factory(*base, *common, "method.norm=l2")).metrics
    assert m["eps"] == 1.0 and m["l2_max"] > 0.5


def _lite0_photos(lite0, names, size=128):
    from vizlab.data import builtin_photo, preprocess
    from vizlab.models.wrapper import InputSpec

    spec = InputSpec((size, size), lite0.spec.mean, lite0.spec.std, "bicubic", 0.875)
    return torch.stack([preprocess(builtin_photo(n), spec) for n in names])


def test_cw_with_config_defaults_beats_pgd_l2_on_lite0(lite0, compose_cfg):
    """Carlini-Wagner exists to find *smaller* perturbations: with the shipped defaults it must
    beat PGD-L2 at a radius where PGD already succeeds (the paper's lr 0.01 did not at 128+ px)."""
    knobs = compose_cfg("method=adversarial").method.cw
    x = _lite0_photos(lite0, ["chelsea", "astronaut"])
    classify = as_classifier(lite0)
    y = classify(x).argmax(-1)
    x_pgd = pgd(lite0, x, y, eps=0.25, norm="l2", steps=10, generator=torch.Generator())
    x_cw = cw_l2(lite0, x, y, **knobs)
    assert (classify(x_pgd).argmax(-1) != y).all() and (classify(x_cw).argmax(-1) != y).all()
    l2_cw = perturbation_norms(x_cw - x)["l2"]
    assert l2_cw.mean() < 0.6 * 0.25, l2_cw.tolist()


def test_transfer_counts_only_images_the_other_model_moved(monkeypatch):
    """An image the other model already put in the adversarial class is no transfer."""
    from vizlab.attacks import metrics as adversarial

    clean, adv = torch.tensor([1, 0, 0]), torch.tensor([1, 1, 2])
    outputs = iter([F.one_hot(clean, 3).float(), F.one_hot(adv, 3).float()])
    monkeypatch.setattr(adversarial, "model_logits", lambda model, images: next(outputs))
    x = torch.zeros(3, 3, 8, 8)
    m = adversarial.adversarial_transfer(
        "other", None, x, x, torch.tensor([0, 0, 0]), torch.tensor([1, 1, 1]), target=1
    )
    assert m["transfer_other_adv_class_rate"] == pytest.approx(1 / 3)  # not 2/3
    assert m["transfer_other_target_rate"] == pytest.approx(1 / 3)
    assert m["transfer_other_fooling_rate"] == pytest.approx(2 / 3)
    assert m["transfer_other_clean_agreement"] == pytest.approx(2 / 3)


def test_auto_perturbation_gain_is_per_image():
    from vizlab.attacks.metrics import perturbation_gain

    delta = torch.zeros(3, 3, 4, 4)
    delta[0, 0, 0, 0], delta[1, 1, 1, 1] = 0.1, -0.01  # image 2: no perturbation
    torch.testing.assert_close(perturbation_gain(None, delta), torch.tensor([4.5, 45.0, 1.0]))
    torch.testing.assert_close(perturbation_gain(10.0, delta), torch.full((3,), 10.0))


def test_universal_is_one_perturbation_for_all_images_within_eps(net, images):
    eps = 8 / 255
    delta = universal_delta(net, images, eps=eps, steps=8, batch_size=4)
    assert delta.shape == (1, *images.shape[1:]) and delta.abs().max() <= eps + 1e-7
    x_adv = universal(net, images, eps=eps, steps=8, batch_size=4)
    torch.testing.assert_close(x_adv, (images + delta).clamp(0, 1))
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    # batching inside the attack changes nothing: the step uses the gradient summed over all
    torch.testing.assert_close(delta, universal_delta(net, images, eps=eps, steps=8, batch_size=6))
    y = net(images).argmax(-1)
    fooled = (net(x_adv).argmax(-1) != y).float().mean()
    assert fooled > (net((images + 0.0).clamp(0, 1)).argmax(-1) != y).float().mean()
    l2 = universal_delta(net, images, eps=0.5, norm="l2", steps=4)
    assert float(l2.norm()) <= 0.5 + 1e-5
    with pytest.raises(VizlabError, match="positive radius"):
        universal_delta(net, images, eps=0.0)


def test_universal_method_reports_fit_and_held_out_success(ctx_factory):
    from vizlab.methods.adversarial import Adversarial

    ctx = ctx_factory(
        "model=tiny_cnn", "method=adversarial", "data=photos", "data.size=32",
        "method.attack=universal", "method.steps=3", "method.eps=16/255",
        "method.transfer_models=[]",
    )  # fmt: skip
    result = Adversarial().run(ctx)
    m = result.metrics
    n = len(ctx.references)
    assert m["universal_fit_images"] == round(0.7 * n)
    assert m["universal_heldout_images"] == n - m["universal_fit_images"]
    assert len(m["universal_heldout"]) == m["universal_heldout_images"]
    delta = result.tensors["adversarial"] - ctx.references.images
    inside = (ctx.references.images > 16 / 255) & (ctx.references.images < 1 - 16 / 255)
    same = (delta[0] - delta[1]).abs()[inside[0] & inside[1]]  # unclipped pixels: one delta
    assert same.max() < 1e-6
    with pytest.raises(VizlabError, match="holdout"):
        bad = ctx_factory(
            "model=tiny_cnn", "method=adversarial", "data.size=32", "method.attack=universal",
            "method.universal.holdout=1.5",
        )  # fmt: skip
        Adversarial().run(bad)


def test_project_linf_clips_to_the_ball_with_scalar_or_tensor_radius():
    from vizlab.attacks import project, project_linf

    delta = torch.tensor([[2.0, -3.0, 0.5]])
    torch.testing.assert_close(project_linf(delta, 1.0), torch.tensor([[1.0, -1.0, 0.5]]))
    radius = torch.tensor([[3.0, 2.0, 0.25]])
    torch.testing.assert_close(project_linf(delta, radius), torch.tensor([[2.0, -2.0, 0.25]]))
    torch.testing.assert_close(project(delta, 1.0, "linf"), project_linf(delta, 1.0))
