"""Model wrapper: receptive fields on small known nets, hook cleanup, early stop, layers."""

import pytest
import torch
from torch import nn

from vizlab.errors import VizlabError
from vizlab.models.wrapper import OUTPUT, VisionModel


class Chain(nn.Module):
    """conv3 s1 -> conv3 s2 -> maxpool2 s2 -> conv3 s1; RF: 3/1, 5/2, 7/4, 15/4."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2, 2)
        self.c3 = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4, 10)

    def forward(self, x):
        x = self.pool(self.act(self.c2(self.c1(x))))
        x = self.c3(x)
        return self.head(x.mean((2, 3)))


class Residual(nn.Module):
    """A ResNet-style block whose strided 1x1 shortcut runs *after* the main path: composing
    kernels in module order would count stride 2 twice."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)
        self.shortcut = nn.Conv2d(3, 4, 1, stride=2)
        self.after = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.b(self.a(x)) + self.shortcut(x)
        return self.after(y)


def _wrap(module):
    return VisionModel(module.eval(), type(module).__name__)


def test_receptive_fields_of_a_known_chain():
    vm = _wrap(Chain())
    got = {
        n: (vm.receptive_field(n).stride, vm.receptive_field(n).size)
        for n in ("c1", "c2", "pool", "c3")
    }
    assert got == {"c1": (1, 3), "c2": (2, 5), "pool": (4, 7), "c3": (4, 15)}
    # A pooled output sees the whole image with the stride of the last spatial layer.
    rf = vm.receptive_field(OUTPUT)
    assert not rf.spatial and rf.stride == 4


def test_receptive_field_with_strided_shortcut():
    vm = _wrap(Residual())
    # a: 3/2; b: 3 + 2*2 = 7/2; after: 7 + 2*2 = 11/2 (the shortcut adds no stride)
    assert (vm.receptive_field("b").stride, vm.receptive_field("b").size) == (2, 7)
    assert (vm.receptive_field("after").stride, vm.receptive_field("after").size) == (2, 11)


def test_jitter_amount_from_stride():
    vm = _wrap(Chain())
    assert vm.receptive_field("c3").jitter() == 1  # round(4/4)


def test_hooks_are_removed_even_on_error():
    model = Chain()
    vm = _wrap(model)
    with pytest.raises(RuntimeError), vm.capture(["c2", "c3"]):
        assert model.c2._forward_hooks
        raise RuntimeError("boom")
    assert not model.c2._forward_hooks and not model.c3._forward_hooks
    vm.features(torch.randn(1, 3, 16, 16), ["c2"])
    assert all(not m._forward_hooks for m in model.modules())


def test_forward_stops_after_the_deepest_layer():
    model = Chain()
    vm = _wrap(model)
    assert vm.execution_order  # traced once up front (a full forward) before we watch c3
    ran = []
    handle = model.c3.register_forward_hook(lambda *_: ran.append("c3"))
    try:
        feats = vm.features(torch.randn(2, 3, 16, 16), ["c1", "c2"])
        assert not ran, "c3 ran although only c1 and c2 were needed"
        assert feats["c1"].shape == (2, 4, 16, 16) and feats["c2"].shape == (2, 4, 8, 8)
        out = vm.features(torch.randn(2, 3, 16, 16), ["c1", OUTPUT])
        assert ran and out[OUTPUT].shape == (2, 10)
    finally:
        handle.remove()


def test_captured_features_match_a_full_forward():
    model = Chain()
    vm = _wrap(model)
    x = torch.randn(1, 3, 16, 16)
    feats = vm.features(x, ["c3", OUTPUT])
    assert torch.allclose(feats[OUTPUT], model(x))


def test_unknown_layer_error_lists_nearest_names():
    vm = _wrap(Chain())
    with pytest.raises(VizlabError) as err:
        vm.resolve("c4")
    assert "'c4'" in str(err.value) and "c3" in str(err.value)


def test_lite0_receptive_fields(lite0):
    # Measured on the linearized net: strides follow EfficientNet's downsampling.
    assert lite0.receptive_field("conv_stem").stride == 2
    assert lite0.receptive_field("conv_stem").size == 3
    assert lite0.receptive_field("blocks.1").stride == 4
    assert lite0.receptive_field("blocks.3").stride == 16
    assert lite0.receptive_field("blocks.3").size > lite0.receptive_field("blocks.2").size
    assert lite0.receptive_field(OUTPUT).stride == 32


def test_lite0_offline_weights_classify_chelsea(lite0):
    from vizlab.data import builtin_photo, preprocess

    x = preprocess(builtin_photo("chelsea"), lite0.spec)[None]
    probs = lite0.module(lite0.units.unit_to_model(x)).softmax(-1)[0]
    top = probs.topk(3)
    assert top.indices.tolist() == [282, 285, 281]  # tiger cat, Egyptian cat, tabby (SPEC §4)
    assert abs(float(top.values[0]) - 0.39) < 0.02


def test_unit_conversions_first_used_under_inference_mode_still_backpropagate():
    """The mean and std are copied to each dtype/device once; a copy first made under
    ``torch.inference_mode`` (a read-out) must still be usable by autograd later."""
    from vizlab.models.wrapper import PixelUnits

    units = PixelUnits([0.5, 0.4, 0.3], [0.2, 0.25, 0.3])
    with torch.inference_mode():
        units.unit_to_model(torch.rand(1, 3, 4, 4, dtype=torch.float64))
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    units.unit_to_model(x).sum().backward()
    expected = (1 / torch.tensor([0.2, 0.25, 0.3], dtype=torch.float64)).view(1, 3, 1, 1)
    assert torch.allclose(x.grad, expected.expand_as(x))
