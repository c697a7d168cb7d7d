"""The jobs of a sweep reuse what does not change between them: the cached model's measured
geometry (execution order, output shapes) is traced once per input size."""

from __future__ import annotations

import torch

from vizlab import runner
from vizlab.config import compose


def test_the_jobs_of_a_sweep_trace_the_cached_model_once():
    cfg = compose(["model=tiny_cnn", "data.size=32"])
    first = runner.load_model(cfg, torch.device("cpu"))
    order, shapes = first.execution_order, first.output_shapes()
    calls: list[int] = []
    handle = first.module.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        second = runner.load_model(cfg, torch.device("cpu"))
        assert second is not first and second.module is first.module
        assert second.execution_order == order and second.output_shapes() == shapes
        assert not calls  # no forward pass: the geometry came from the first job
        assert second.with_input_size(48).output_shapes() != shapes
        assert calls  # another input size is traced
    finally:
        handle.remove()
