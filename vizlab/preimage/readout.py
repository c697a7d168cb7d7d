"""Reading a pre-image back: its features without jitter, and its displayable colours."""

from __future__ import annotations

import torch

from vizlab.models.wrapper import OUTPUT, VisionModel
from vizlab.targets.objectives import Features


def to_unit_images(model: VisionModel, x_paper: torch.Tensor) -> torch.Tensor:
    """Paper units -> displayable [0, 1] RGB (clipped)."""
    return model.units.paper_to_unit(x_paper).clamp(0, 1)


@torch.no_grad()
def evaluate(
    model: VisionModel, x_paper: torch.Tensor, layers: list[str], chunk: int | None = None
) -> Features:
    """Features (and logits when the model has a head) of paper-unit images, no jitter;
    ``chunk`` images at a time (default: all at once)."""
    wanted = list(layers)
    if model.num_classes and OUTPUT not in wanted:
        wanted.append(OUTPUT)
    step = chunk or x_paper.shape[0]
    parts = [
        model.features(model.units.paper_to_model(x_paper[i : i + step].to(model.device)), wanted)
        for i in range(0, x_paper.shape[0], step)
    ]
    if len(parts) == 1:
        return parts[0]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
