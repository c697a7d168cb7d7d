"""The engine's per-step record read from the device every few steps (what a GPU run does,
exercised here on the CPU): the same history as reading every step, a non-finite step still
named exactly, and Ctrl-C keeping the steps done."""

from __future__ import annotations

import pytest
import torch

from vizlab.errors import NonFiniteError
from vizlab.params.pixel import PixelParam
from vizlab.preimage import optimize
from vizlab.regularizers import build_regularizers

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    from tests.conftest import make_context

    return make_context("model=tiny_cnn", "data.size=32").model


def _pixels(tiny, n: int = 1) -> PixelParam:
    return PixelParam(
        tiny.units, torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 10
    )


def _run(tiny, read_every: int, data_loss=None, regularizers=None, iterations=7, param=None):
    return optimize(
        tiny,
        data_loss or (lambda f: -f["blocks.1"].mean(dim=(1, 2, 3))),
        ["blocks.1"],
        param or _pixels(tiny, 2),
        lambda p: torch.optim.Adam(p, lr=1.0),
        iterations=iterations,
        regularizers=regularizers,
        read_every=read_every,
    )


def test_reading_every_few_steps_gives_the_same_history(tiny):
    stack = build_regularizers({"tv": {"weight": 1.0, "beta": 2.0}, "alpha_norm": {"weight": 1.0}})
    every_step, batched = _run(tiny, 1, regularizers=stack), _run(tiny, 3, regularizers=stack)
    assert set(batched.history) == {"energy", "data", "tv", "alpha_norm"}
    for key, curve in every_step.history.items():
        assert len(batched.history[key]) == 7
        assert batched.history[key] == pytest.approx(curve, rel=1e-6)
    assert len(batched.step_seconds) == 7 and all(t > 0 for t in batched.step_seconds)
    assert torch.equal(batched.x, every_step.x)


@pytest.mark.parametrize("read_every", [1, 4])
def test_a_non_finite_step_is_named_when_read_later(tiny, read_every):
    calls = {"n": 0}

    def data_loss(feats):
        calls["n"] += 1
        value = -feats["blocks.1"].mean(dim=(1, 2, 3))
        return value * float("nan") if calls["n"] == 3 else value

    with pytest.raises(NonFiniteError, match=r"step 2: the 'data' term"):
        _run(tiny, read_every, data_loss=data_loss)
    stack = build_regularizers({"tv": {"weight": 1.0, "beta": 2.0, "V": 1e-30}})
    with pytest.raises(NonFiniteError, match=r"step 0: the 'tv' term"):
        _run(tiny, read_every, regularizers=stack)


def test_a_non_finite_image_is_named_when_read_later(tiny):
    param = _pixels(tiny)
    with torch.no_grad():
        param.x[0, 0, 3, 3] = float("nan")
    with pytest.raises(NonFiniteError, match=r"step 0: the 'image'"):
        _run(tiny, 5, iterations=5, param=param)


def test_ctrl_c_keeps_the_steps_done_when_read_later(tiny):
    calls = {"n": 0}

    def data_loss(feats):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return -feats["blocks.1"].mean(dim=(1, 2, 3))

    trace = _run(tiny, 4, data_loss=data_loss, iterations=10)
    assert trace.interrupted and len(trace.history["energy"]) == 5
    assert len(trace.step_seconds) == 5
