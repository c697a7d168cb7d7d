"""The regularizer stack built from the ``regularizers`` config group.

Each entry is its own config node with a ``weight``; entries are added or removed on the
command line (``~regularizers.tv``, ``+regularizers.l2.weight=0.1``). ``jitter`` is an entry
too (an implicit regularizer, Sect. 3.2.3); ``T: auto`` takes T = max(1, round(stride/4)) from
the receptive field of the target layer (Sect. 5.2.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from omegaconf import DictConfig, OmegaConf

from vizlab.errors import VizlabError, format_choices
from vizlab.regularizers.jitter import Jitter
from vizlab.regularizers.penalties import PENALTIES

TRANSFORMS = {"jitter"}


@dataclass
class RegularizerStack:
    """Weighted penalties (on paper-unit images) plus the jitter transform, if any."""

    penalties: list[tuple[str, float, object]] = field(default_factory=list)
    jitter_T: int | str | None = None

    def __call__(self, x_paper: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total weighted penalty per image and each term's unweighted value."""
        total = x_paper.new_zeros(x_paper.shape[0])
        terms: dict[str, torch.Tensor] = {}
        for name, weight, penalty in self.penalties:
            value = penalty(x_paper)
            terms[name] = value.detach()
            total = total + weight * value
        return total, terms

    def jitter(self, stride: int) -> Jitter:
        """The jitter transform for a representation of the given receptive-field stride."""
        if self.jitter_T is None:
            return Jitter(1)
        if self.jitter_T == "auto":
            return Jitter(max(1, round(stride / 4)))
        return Jitter(int(self.jitter_T))


def build_regularizers(cfg: DictConfig | None) -> RegularizerStack:
    stack = RegularizerStack()
    if not cfg:
        return stack
    for name, entry in cfg.items():
        params = OmegaConf.to_container(entry, resolve=True) if entry is not None else {}
        assert isinstance(params, dict)
        if params.pop("enabled", True) is False:
            continue
        if name == "jitter":
            stack.jitter_T = params.get("T", "auto")
            continue
        if name not in PENALTIES:
            raise VizlabError(
                f"'regularizers.{name}' is not a known regularizer. Known: "
                f"{format_choices(sorted(PENALTIES) + sorted(TRANSFORMS))}."
            )
        weight = float(params.pop("weight", 1.0))
        try:
            penalty = PENALTIES[str(name)](**params)
        except TypeError as err:
            raise VizlabError(f"Bad parameters for regularizers.{name}: {err}") from err
        stack.penalties.append((str(name), weight, penalty))
    return stack
