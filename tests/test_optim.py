"""Algorithm 1 (M&V Sect. 3.4) against a hand computation."""

import math

import torch

from vizlab.optim import PreImageSGD, initial_learning_rate
from vizlab.optim.preimage_sgd import project_pixels


def test_one_step_matches_hand_computation():
    x = torch.tensor([[[[1.0]], [[2.0]], [[-1.0]]]], requires_grad=True)  # 1x3x1x1
    lr, rho = 0.5, 0.9
    opt = PreImageSGD([x], lr=lr, rho=rho, bound=None)
    g = torch.tensor([0.2, -0.4, 1.0]).view(1, 3, 1, 1)
    x.grad = g.clone()
    opt.step()
    # G = g^2; m = -g / (1/lr + sqrt(G)) = -g / (2 + |g|)
    expected = torch.tensor([1.0, 2.0, -1.0]).view(1, 3, 1, 1) - g / (1 / lr + g.abs())
    assert torch.allclose(x.detach(), expected, atol=1e-6)
    # second step: G = rho g^2 + g^2, m = rho m - g / (1/lr + sqrt(G))
    x.grad = g.clone()
    m1 = -g / (1 / lr + g.abs())
    G2 = rho * g**2 + g**2
    m2 = rho * m1 - g / (1 / lr + G2.sqrt())
    opt.step()
    assert torch.allclose(x.detach(), expected + m2, atol=1e-6)


def test_projection_bounds_each_pixel_rgb_norm():
    x = torch.zeros(1, 3, 1, 2)
    x[0, :, 0, 0] = torch.tensor([300.0, 400.0, 0.0])  # norm 500
    x[0, :, 0, 1] = torch.tensor([30.0, 40.0, 0.0])  # norm 50
    project_pixels(x, 160.0)
    assert math.isclose(float(x[0, :, 0, 0].norm()), 160.0, rel_tol=1e-6)
    assert torch.allclose(x[0, :, 0, 1], torch.tensor([30.0, 40.0, 0.0]))


def test_step_projects_to_bound_and_momentum_reset():
    x = torch.full((1, 3, 2, 2), 100.0, requires_grad=True)
    opt = PreImageSGD([x], lr=1e6, bound=160.0)
    x.grad = -torch.ones_like(x)
    opt.step()
    assert (x.detach().norm(dim=1) <= 160.0 + 1e-3).all()
    opt.reset_momentum()
    assert all(float(s["m"].abs().sum()) == 0 for s in opt.state.values())


def test_learning_rate_rules():
    assert math.isclose(initial_learning_rate("paper", 80, 6, 100), 0.01 * 6400 / 6)
    assert math.isclose(initial_learning_rate("code", 80, 6, 100), 0.05 * 6400 / 6 * 100)


def test_fused_adam_takes_the_kernel_directly_with_the_same_numbers(monkeypatch):
    """``optimizer=adam`` builds FusedAdam: after its first step (torch's, which makes the
    state) a step of the plain case calls the fused kernel itself, without torch's grouping
    of tensors by device; the numbers equal torch's fused Adam to the bit, also after the
    learning rate changes (fine-tuning) and with a parameter that has no gradient."""
    from vizlab.optim import build_optimizer
    from vizlab.optim.lean import FusedAdam

    torch.manual_seed(0)
    start = [torch.randn(2, 3, 8, 5, 2), torch.randn(4)]
    grads = [[torch.randn_like(t) for t in start] for _ in range(6)]

    def run(make, refuse_grouping_after_first):
        params = [t.clone().requires_grad_(True) for t in start]
        opt = make(params)
        for step, g in enumerate(grads):
            for p, gi in zip(params, g):
                p.grad = None if step == 3 and p is params[1] else gi.clone()
            if step == 4:
                opt.param_groups[0]["lr"] *= 0.1
            if step == 1 and refuse_grouping_after_first:
                monkeypatch.setattr(
                    torch.optim.Optimizer, "_group_tensors_by_device_and_dtype", _refuse
                )
            opt.step()
        monkeypatch.undo()
        return opt, params

    reference, torch_p = run(
        lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.9, 0.999), fused=True), False
    )
    ours, ours_p = run(lambda ps: build_optimizer({"name": "adam", "lr": 0.05}, ps, 64), True)
    assert isinstance(ours, FusedAdam)
    for p, q in zip(ours_p, torch_p):
        assert torch.equal(p, q)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(ours.state[p][key], reference.state[q][key])


def _refuse(*args, **kwargs):
    raise AssertionError("went through torch's step")


def test_steps_skip_torchs_wrapper_but_still_run_hooks(monkeypatch):
    """Algorithm 1's and FusedAdam's steps are left out of torch's per-step wrapper (a
    profiler range and the hook loops) while no hook is registered and no profiler runs;
    with a hook registered, the hooks run once per step as usual."""
    from torch.autograd import profiler

    from vizlab.optim.lean import FusedAdam

    for opt in (
        PreImageSGD([torch.ones(1, 3, 2, 2, requires_grad=True)], lr=0.5),
        FusedAdam([torch.ones(1, 3, 2, 2, requires_grad=True)], lr=0.5),
    ):
        for p in opt.param_groups[0]["params"]:
            p.grad = torch.ones_like(p)
        opt.step()  # (FusedAdam's first step is torch's, which makes its state)
        with monkeypatch.context() as m:
            m.setattr(profiler, "record_function", _refuse)
            opt.step()
        calls: list[str] = []
        pre = opt.register_step_pre_hook(lambda *a, calls=calls: calls.append("pre"))
        post = opt.register_step_post_hook(lambda *a, calls=calls: calls.append("post"))
        opt.step()
        pre.remove()
        post.remove()
        assert calls == ["pre", "post"]
