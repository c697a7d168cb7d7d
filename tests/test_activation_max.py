"""Activation maximization of logits logs the SPEC §3 quality metrics: the target probability
and rank, the activation relative to the unit's maximum over the built-in photos, and the
transferability of the image to other models (tiny random models here)."""

from __future__ import annotations

from vizlab.methods.activation_max import ActivationMax, transfer_labels


def test_logit_visualization_logs_probability_and_transfer(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_cnn",
        "data.size=64",
        "method=activation_max",
        "target=logit",
        "target.index=[3,7]",
        "method.iterations=10",
        "method.transfer_models=[tiny_vit,tiny_cnn]",
    )
    m = ActivationMax().run(ctx).metrics
    assert len(m["target_probability_per_image"]) == 2
    assert all(r >= 1 for r in m["target_rank_per_image"])
    assert m["transfer_models"] == ["tiny_vit"]  # the visualized model itself is skipped
    ranks = m["transfer_tiny_vit_target_rank_per_image"]
    probs = m["transfer_tiny_vit_target_probability_per_image"]
    assert len(ranks) == 2 and all(1 <= r <= 1000 for r in ranks)
    assert all(0.0 < p < 1.0 for p in probs)
    assert 0.0 <= m["transfer_top5_rate"] <= 1.0
    assert "activation_relative_to_max" in m


def test_channel_visualization_has_no_transfer_metric(ctx_factory):
    ctx = ctx_factory(
        "model=tiny_cnn",
        "data.size=64",
        "method=activation_max",
        "target=channel",
        "target.index=0",
        "method.iterations=3",
    )
    m = ActivationMax().run(ctx).metrics
    assert not any(k.startswith("transfer") for k in m)


def test_transfer_labels_show_probability_and_ranks():
    metrics = {
        "transfer_models": ["efficientnet_lite1"],
        "transfer_efficientnet_lite1_target_rank_per_image": [1, 12],
    }
    labels = transfer_labels(
        ["301:ladybug, ladybeetle", "323:monarch, milkweed #1"], [0.97, 0.5], metrics
    )
    assert labels == ["301:ladybug\np=0.97  lite1 #1", "323:monarch #1\np=0.50  lite1 #12"]


def test_auto_C_balances_the_gradients_and_does_not_depend_on_the_chunking(ctx_factory):
    """method.C=auto: per unit, C * |grad data| equals C_balance * |grad prior| on the photos
    (mean over pixels and photos), whether the network runs on 1 or all images at a time."""
    import torch

    from vizlab.data.reference_set import photo_set
    from vizlab.preimage import balanced_C, unit_C

    ctx = ctx_factory(
        "model=tiny_cnn",
        "data.size=32",
        "target=channel",
        "target.layer=blocks.1",
        "target.index=[0,2,5]",
    )
    objective, Z = ctx.target.objective, torch.tensor([1.0, 2.0, 0.5])
    C = unit_C(ctx.model, ctx.regularizers, objective, Z, balance=0.5, photos=2, chunk=1)
    torch.testing.assert_close(
        C, unit_C(ctx.model, ctx.regularizers, objective, Z, balance=0.5, photos=2, chunk=64)
    )
    model = ctx.model
    x = model.units.unit_to_paper(photo_set(model.spec, crops=False)[0][:2])
    for u in range(3):  # unit u alone on the same photos gives the same C
        one = ctx.target.objective.__class__("blocks.1", [[0, 2, 5][u]])

        def loss(xp, one=one, z=Z[u]):
            return -one(model.features(model.units.paper_to_model(xp), ["blocks.1"])) / z

        assert torch.allclose(balanced_C(ctx.regularizers, loss, x, 0.5).mean(), C[u], rtol=1e-4)
    C1 = unit_C(
        ctx.model, ctx.regularizers, objective, Z, balance=0.5, photos=1
    )  # exact on one photo
    xg = x[:1].clone().requires_grad_(True)
    (g_prior,) = torch.autograd.grad(ctx.regularizers(xg)[0].sum(), xg)
    xg = x[:1].clone().requires_grad_(True)
    (g_data,) = torch.autograd.grad(loss(xg).sum(), xg)  # unit 2
    torch.testing.assert_close(C1[2] * g_data.abs().mean(), 0.5 * g_prior.abs().mean())


CHUNKED = (
    "model=tiny_cnn",
    "data.size=32",
    "method=activation_max",
    "method.iterations=2",
    "method.reference_set=data",
    "method.C=1",
    "target=channel",
    "target.layer=blocks.1",
    "target.index=0:6",
)


def test_many_units_are_chunked_to_the_memory_budget(ctx_factory, monkeypatch):
    """target.index=0:6 with room for two images at a time: three batches, the same images
    as one batch of six (each unit keeps its random streams)."""
    import torch

    import vizlab.preimage.memory as memory

    ctx = ctx_factory(*CHUNKED)
    whole_ctx = ctx_factory(*CHUNKED, "method.batch_size=6")  # before the budget shrinks
    per_image = memory.SAFETY * memory.bytes_per_image(ctx.model, ["blocks.1"])
    monkeypatch.setattr(memory, "free_memory", lambda device: int(2.5 * per_image / memory.USABLE))
    chunked = ActivationMax().run(ctx)
    assert chunked.metrics["batch_size"] == 2
    whole = ActivationMax().run(whole_ctx)
    assert whole.metrics["batch_size"] == 6
    a, b = chunked.tensors["visualization"], whole.tensors["visualization"]
    assert a.shape == (6, 3, 32, 32)
    torch.testing.assert_close(a, b, atol=1e-3, rtol=0)
    assert chunked.metrics["units"] == list(range(6))


def test_out_of_memory_halves_the_batch_with_a_warning(ctx_factory, monkeypatch, caplog):
    import vizlab.methods.activation_max as am

    real = am.solve

    def small_device(model, settings, problem, iterations, desc=""):
        if problem.batch > 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, settings, problem, iterations, desc=desc)

    monkeypatch.setattr(am, "solve", small_device)
    result = ActivationMax().run(ctx_factory(*CHUNKED, "method.batch_size=6"))
    assert result.metrics["batch_size"] == 3
    assert result.tensors["visualization"].shape == (6, 3, 32, 32)
    assert "out of memory with 6 units" in caplog.text and "retrying with 3 units" in caplog.text


def test_auto_C_for_one_neuron_balances_inside_its_receptive_field(ctx_factory):
    """A neuron's gradient reaches only its receptive field; C=auto compares the two gradients
    there, not over the whole image (which would make C larger by the image / field ratio)."""
    import torch

    from vizlab.data.reference_set import photo_set
    from vizlab.preimage import balanced_C

    ctx = ctx_factory(
        "model=tiny_cnn",
        "data.size=32",
        "target=neuron",
        "target.layer=conv_stem",
        "target.index=0",
    )
    model, objective = ctx.model, ctx.target.objective
    x = model.units.unit_to_paper(photo_set(model.spec, crops=False)[0][:1])

    def loss(xp):
        return -objective(model.features(model.units.paper_to_model(xp), ["conv_stem"]))

    C = balanced_C(ctx.regularizers, loss, x, 1.0)
    xg = x.clone().requires_grad_(True)
    (g_data,) = torch.autograd.grad(loss(xg).sum(), xg)
    xg = x.clone().requires_grad_(True)
    (g_prior,) = torch.autograd.grad(ctx.regularizers(xg)[0].sum(), xg)
    reached = g_data.abs() > 0
    assert 0 < int(reached[0].any(0).sum()) <= 9  # inside conv_stem's 3 x 3 field
    torch.testing.assert_close(
        C[0] * g_data.abs()[reached].mean(), g_prior.abs()[reached].mean(), rtol=1e-5, atol=0
    )
    whole_image = g_prior.abs().mean() / g_data.abs().mean()
    assert C[0] < whole_image / 10  # 32 x 32 px against at most 3 x 3
