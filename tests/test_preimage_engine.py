"""The pre-image engine on plain objects: render() in one call, the loop's non-finite check
naming step and term, Ctrl-C returning the state reached, and the objective shorthand."""

from __future__ import annotations

import pytest
import torch

from vizlab.errors import NonFiniteError, VizlabError
from vizlab.params.pixel import PixelParam
from vizlab.preimage import optimize, parse_objective, render
from vizlab.regularizers import build_regularizers

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    from tests.conftest import make_context

    return make_context("model=tiny_cnn", "data.size=32").model


def test_render_a_channel_in_one_call(tiny):
    result = render(tiny, "blocks.2:3", iterations=6, size=32, progress=False)
    assert result.images.shape == (1, 3, 32, 32)
    assert float(result.images.min()) >= 0 and float(result.images.max()) <= 1
    assert len(result.history["energy"]) == 6 and not result.interrupted
    # the objective went up: the data term is minus the channel's mean activation
    assert result.history["data"][-1] < result.history["data"][0]


def test_render_takes_a_plain_module_several_units_and_an_optimizer_factory(tiny):
    result = render(
        tiny.module,
        "blocks.2:0:3",
        param="pixel",
        optimizer=lambda params: torch.optim.SGD(params, lr=1e3),
        regularizers="paper",
        transforms=None,
        iterations=3,
        size=32,
        batch=2,
        progress=False,
    )
    assert result.images.shape == (6, 3, 32, 32)
    assert {"alpha_norm", "tv"} <= set(result.history)
    same = render(
        tiny, "blocks.2:1", param="pixel", transforms=None, iterations=3, size=32, progress=False
    )
    assert same.images.shape == (1, 3, 32, 32)


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        ("blocks.9:1", "blocks"),
        ("blocks.2:1.5", "unit index"),
        ("blocks.2:5:2", "a range"),
        ("blocks.2:999", "out of range"),
        ("logit", "logit:301"),
        (3, "Objective"),
    ],
)
def test_objective_shorthand_errors_name_the_value(tiny, objective, message):
    with pytest.raises(VizlabError, match=message):
        parse_objective(objective, tiny)


def _pixels(tiny, n: int = 1) -> PixelParam:
    return PixelParam(tiny.units, torch.randn(n, 3, 32, 32) * 10)


def test_a_non_finite_term_stops_the_loop_naming_step_and_term(tiny):
    calls = {"n": 0}

    def data_loss(feats):
        calls["n"] += 1
        value = -feats["blocks.1"].mean(dim=(1, 2, 3))
        return value * float("nan") if calls["n"] == 3 else value

    param = _pixels(tiny)
    with pytest.raises(NonFiniteError, match=r"step 2: the 'data' term"):
        optimize(
            tiny,
            data_loss,
            ["blocks.1"],
            param,
            lambda p: torch.optim.Adam(p, lr=1.0),
            iterations=5,
        )
    stack = build_regularizers({"tv": {"weight": 1.0, "beta": 2.0, "V": 1e-30}})
    with pytest.raises(NonFiniteError, match=r"step 0: the 'tv' term"):
        optimize(
            tiny,
            lambda f: f["blocks.1"].mean(dim=(1, 2, 3)),
            ["blocks.1"],
            _pixels(tiny),
            lambda p: torch.optim.Adam(p, lr=1.0),
            iterations=2,
            regularizers=stack,
        )


def test_a_non_finite_image_is_named(tiny):
    param = _pixels(tiny)
    with torch.no_grad():
        param.x[0, 0, 3, 3] = float("inf")
    with pytest.raises(NonFiniteError, match="'image'"):
        optimize(
            tiny,
            lambda f: f["blocks.1"].mean(dim=(1, 2, 3)),
            ["blocks.1"],
            param,
            lambda p: torch.optim.Adam(p, lr=1.0),
            iterations=2,
        )


def test_ctrl_c_returns_the_state_reached(tiny):
    calls = {"n": 0}

    def data_loss(feats):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return -feats["blocks.1"].mean(dim=(1, 2, 3))

    param = _pixels(tiny, 2)
    trace = optimize(
        tiny, data_loss, ["blocks.1"], param, lambda p: torch.optim.Adam(p, lr=1.0), iterations=10
    )
    assert trace.interrupted and len(trace.history["energy"]) == 3
    assert torch.equal(trace.x, param.paper().detach())  # the image after the third step


def test_methods_flag_an_interrupted_run(ctx_factory, monkeypatch):
    import vizlab.preimage.loop as loop
    from vizlab.methods.inversion import Inversion

    real = loop.jitter_crops
    calls = {"n": 0}

    def interrupting(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(loop, "jitter_crops", interrupting)
    ctx = ctx_factory(
        "model=tiny_cnn", "data.size=32", "method.iterations=5", "target.layer=blocks.2"
    )
    result = Inversion().run(ctx)
    assert result.metrics["interrupted"] is True and result.metrics["steps_done"] == 2
    assert result.tensors["preimage"].shape == (1, 3, 32, 32)


def test_render_takes_a_parameterization_object(tiny):
    from vizlab.params import FourierParam

    g = [torch.Generator().manual_seed(i) for i in range(2)]
    param = FourierParam(tiny.units, 2, (40, 40), generators=g, decay_power=1.5)
    result = render(
        tiny, "blocks.2:0,5", param=param, transforms="crops", iterations=3, progress=False
    )
    assert result.images.shape == (2, 3, 40, 40) and len(result.objective) == 2
    with pytest.raises(VizlabError, match="batch=1 = 1"):
        render(tiny, "blocks.2:0", param=param, iterations=1, progress=False)
