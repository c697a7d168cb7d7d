"""Each regularizer's value and gradient against a hand-computed case (M&V Eq. 5, TV^beta)."""

import math

import torch

from tests.conftest import compose
from vizlab.regularizers import build_regularizers
from vizlab.regularizers.jitter import Jitter
from vizlab.regularizers.penalties import AlphaNorm, L2Decay, TotalVariation


def _image():
    # 1 x 3 x 2 x 2, pixel RGB vectors chosen by hand.
    x = torch.tensor(
        [[[[3.0, 0.0], [1.0, 2.0]], [[4.0, 0.0], [0.0, 2.0]], [[0.0, 0.0], [0.0, 1.0]]]],
        requires_grad=True,
    )
    return x


def test_alpha_norm_value_and_gradient():
    x = _image()
    alpha, B = 6.0, 2.0
    value = AlphaNorm(alpha=alpha, B=B)(x)
    # pixel norms^2: (0,0): 9+16+0=25, (0,1): 0, (1,0): 1, (1,1): 4+4+1=9
    expected = (25**3 + 0 + 1 + 9**3) / (2 * 2 * B**alpha)
    assert torch.allclose(value, torch.tensor([expected]))
    value.sum().backward()
    # d/dx_k of (sum x^2)^(a/2) = a * (sum x^2)^(a/2 - 1) * x_k
    scale = alpha / (4 * B**alpha)
    assert math.isclose(float(x.grad[0, 0, 0, 0]), scale * 25**2 * 3.0, rel_tol=1e-5)
    assert math.isclose(float(x.grad[0, 2, 1, 1]), scale * 9**2 * 1.0, rel_tol=1e-5)
    assert float(x.grad[0, 0, 0, 1]) == 0.0


def test_total_variation_value_and_gradient_beta2():
    x = _image()
    V = 3.0
    value = TotalVariation(beta=2.0, V=V)(x)
    # Only pixel (0,0) has both right and lower neighbours in a 2x2 image:
    # channel 0: dx = 0-3, dy = 1-3 -> 9+4; channel 1: dx=0-4, dy=0-4 -> 32; channel 2: 0
    expected = (13 + 32 + 0) / (4 * V**2)
    assert torch.allclose(value, torch.tensor([expected]))
    value.sum().backward()
    # d/dx(0,0,c0) of (dx^2+dy^2) = -2 dx - 2 dy = 6 + 4 = 10, scaled by 1/(HW V^2)
    assert math.isclose(float(x.grad[0, 0, 0, 0]), 10 / (4 * V**2), rel_tol=1e-5)
    # d/dx(0,1,c0) = 2 dx = -6
    assert math.isclose(float(x.grad[0, 0, 0, 1]), -6 / (4 * V**2), rel_tol=1e-5)


def test_total_variation_beta1_is_finite_on_flat_image():
    x = torch.zeros(1, 3, 4, 4, requires_grad=True)
    TotalVariation(beta=1.0, V=1.0)(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_tv_default_V_is_B_over_6_5():
    assert math.isclose(TotalVariation(beta=2, B=80).V, 80 / 6.5)


def test_l2_decay():
    x = _image()
    value = L2Decay(B=2.0)(x)
    # sum of squares: channel 0: 9+1+4, channel 1: 16+4, channel 2: 1 -> 35
    assert torch.allclose(value, torch.tensor([35 / (4 * 2.0**2)]))


def test_penalties_are_per_image():
    x = torch.randn(3, 3, 8, 8)
    for penalty in (AlphaNorm(), TotalVariation(), L2Decay()):
        both = penalty(x)
        assert both.shape == (3,)
        assert torch.allclose(both[1], penalty(x[1:2])[0])


def test_stack_from_config_weights_and_removal():
    stack = build_regularizers(compose("regularizers.tv.weight=2.0").regularizers)
    x = torch.randn(1, 3, 8, 8) * 50
    total, terms = stack(x)
    assert set(terms) == {"alpha_norm", "tv"}
    assert torch.allclose(total, terms["alpha_norm"] + 2.0 * terms["tv"])
    stack = build_regularizers(compose("~regularizers.tv").regularizers)
    assert [name for name, _, _ in stack.penalties] == ["alpha_norm"]


def test_jitter_T_from_stride_and_crop_geometry():
    stack = build_regularizers(compose().regularizers)
    assert stack.jitter(16).T == 4 and stack.jitter(2).T == 1 and stack.jitter(32).T == 8
    jitter = Jitter(4)
    x = torch.arange(2 * 3 * 7 * 7, dtype=torch.float32).view(2, 3, 7, 7)
    crop = jitter.crop(x, (3, 0))
    assert crop.shape == (2, 3, 4, 4)
    assert torch.equal(crop, x[..., 3:7, 0:4])
    assert jitter.center() == (1, 1)


def _tv_by_indexing(x, beta, eps, weight, norm, grad):
    """TV^beta's value and gradient written with indexed slices (the formula as printed)."""
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    local = dx.pow(2) + dy.pow(2)
    if eps:
        local = local + eps
    value = (local.pow(beta / 2) if beta != 2 else local).sum(dim=(1, 2, 3))
    factor = weight * beta / norm
    if beta != 2:
        factor = local.pow_(beta / 2 - 1).mul_(factor)
    gx, gy = dx.mul_(factor), dy.mul_(factor)
    grad[..., :-1, 1:] += gx
    grad[..., 1:, :-1] += gy
    grad[..., :-1, :-1] -= gx.add_(gy)
    return value / norm, grad


def test_total_variation_takes_its_views_in_one_call_each():
    """TV^beta's value and gradient (fused and through autograd) equal the indexed formula to
    the bit, also on a crop of a larger image (a view with an offset), and are made without
    indexing: no slice and no copy of a region onto itself (an augmented assignment to an
    indexed region makes both)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.add(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    big = torch.randn(2, 3, 21, 19) * 40
    for x in (big, big[:, :, 2:19, 3:17]):
        for beta in (2.0, 1.0):
            tv = TotalVariation(beta=beta)
            h, w = x.shape[-2:]
            norm = h * w * tv.V**beta
            start = torch.randn_like(x)
            with Ops() as ops:
                value, grad = tv.with_grad(x, 0.7, start.clone())
            assert not {"slice", "copy_"} & ops.names
            expected = _tv_by_indexing(x, beta, tv.eps, 0.7, norm, start.clone())
            assert torch.equal(value, expected[0]) and torch.equal(grad, expected[1])
            leaf = x.clone().requires_grad_(True)
            tv(leaf).sum().backward()
            by_formula = _tv_by_indexing(x, beta, tv.eps, 1.0, norm, torch.zeros_like(x))[1]
            assert torch.equal(leaf.grad, by_formula)
