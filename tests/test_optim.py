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
