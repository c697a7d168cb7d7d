"""Shared fixtures: config composition and run contexts on tiny random models (breadth) or the
offline pretrained EfficientNet-Lite0 (end-to-end) at small image sizes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_MODE", "offline")


@pytest.fixture(autouse=True, scope="session")
def _threads():
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    # Random-init tiny models produce denormal floats, which are ~20x slower on the CPU.
    torch.set_flush_denormal(True)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous number."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny workloads (faster, and less spinning on a shared
    CPU); use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    with torch_threads(1):
        yield


def compose(*overrides: str):
    """The composed vizlab config (as ``run.py`` would see it) for the given overrides."""
    from vizlab.config import compose as cli_compose

    return cli_compose(list(overrides))


def make_context(*overrides: str, model=None):
    """A RunContext for the composed config (no progress bars, local logging only)."""
    from vizlab.api import context

    return context(*overrides, "progress=false", "logger=local", model=model)


@pytest.fixture
def compose_cfg():
    return compose


@pytest.fixture
def ctx_factory():
    """``ctx_factory("model=tiny_cnn", "data.size=64", ...)`` -> RunContext."""
    return make_context


@pytest.fixture(scope="session")
def lite0():
    """The offline pretrained EfficientNet-Lite0 as a VisionModel (converted once)."""
    from vizlab.runner import load_model

    return load_model(compose("model=efficientnet_lite0"), torch.device("cpu"))
