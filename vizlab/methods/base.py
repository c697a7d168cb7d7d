"""What every method receives (:class:`RunContext`) and returns (:class:`Result`).

Data flows one way: the runner builds the context from config, the method computes a result,
and only loggers write files or talk to W&B.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import torch
from omegaconf import DictConfig

from vizlab.data import ReferenceImages, load_references
from vizlab.models.wrapper import VisionModel
from vizlab.regularizers import RegularizerStack, build_regularizers
from vizlab.targets import TargetSpec, build_target


@dataclass
class Result:
    """A method's output: images (H x W x 3 floats in [0, 1] or uint8), flat metrics,
    matplotlib figures, raw tensors for programmatic use, and per-step curves (``history``:
    name -> one value per optimization step, e.g. the energy terms; logged as W&B history)."""

    images: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)


class RunContext:
    """The pieces a method may use, built lazily from the composed config."""

    def __init__(
        self, cfg: DictConfig, model: VisionModel, progress: bool = True, options: Any = None
    ):
        self.cfg = cfg
        self.model = model
        self.device = model.device
        self.progress = progress
        self.options = options  # the method's typed options (its ``Options`` schema), if any

    @cached_property
    def references(self) -> ReferenceImages:
        return load_references(self.cfg.data, self.model.spec)

    @cached_property
    def target(self) -> TargetSpec:
        return build_target(self.cfg.target, self.model)

    @cached_property
    def regularizers(self) -> RegularizerStack:
        return build_regularizers(self.cfg.get("regularizers"))

    @property
    def method_cfg(self) -> DictConfig:
        return self.cfg.method

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from ``method.seed`` (+ offset) for reproducible runs."""
        g = torch.Generator()
        g.manual_seed(int(self.cfg.method.get("seed", 0)) + offset)
        return g


class Method:
    """Base class of a visualization method: one verb, :meth:`run`.

    ``Options`` is the dataclass schema of the method's config node (see
    :mod:`vizlab.schema`); the runner checks ``cfg.method`` against it before the model loads
    and hands the typed instance to the method as ``ctx.options``."""

    name: ClassVar[str] = "method"
    description: ClassVar[str] = ""
    Options: ClassVar[type | None] = None

    def run(self, ctx: RunContext) -> Result:  # pragma: no cover - interface
        raise NotImplementedError
