"""Default layers for Gram (style) and content losses when the config says ``auto``."""

from __future__ import annotations

import re
from collections.abc import Sequence

from vizlab.errors import VizlabError
from vizlab.models.wrapper import VisionModel

# Post-activation features at increasing depth, like Gatys et al.'s VGG conv1_1 ... pool4:
# EfficientNet/MobileNet-style (stem act, then each stage's expansion conv + BN + ReLU6),
# ResNet-style.
_CNN_STYLE = [
    ["bn1", "blocks.1.0.bn1", "blocks.2.0.bn1", "blocks.3.0.bn1"],
    ["act1", "layer1", "layer2", "layer3"],
]
_CNN_CONTENT = [["blocks.2"], ["layer2"]]


def _vit_blocks(model: VisionModel) -> list[str]:
    return sorted(
        (n for n in model.layer_names if re.fullmatch(r"blocks\.\d+", n)),
        key=lambda n: int(n.split(".")[1]),
    )


def style_layers(model: VisionModel, value: Sequence[str] | str | None) -> list[str]:
    """``value`` if it is a list of layers; for ``auto``/null a per-family default."""
    if value not in (None, "auto"):
        return [value] if isinstance(value, str) else list(value)
    names = set(model.layer_names)
    if model.is_vit:
        blocks = _vit_blocks(model)[:4]
        return [f"{b}.mlp.act" if f"{b}.mlp.act" in names else b for b in blocks]
    for candidates in _CNN_STYLE:
        if all(n in names for n in candidates):
            return candidates
    raise VizlabError(
        f"No default style layers are known for {model.name}; set method.layers (or "
        "method.style_layers) to a list of module names from shallow to deep, e.g. "
        "[conv1, layer1, layer2, layer3]. `vizlab layers model.name=...` lists them."
    )


def content_layers(model: VisionModel, value: Sequence[str] | str | None) -> list[str]:
    """``value`` if it is a list of layers; for ``auto``/null a mid-depth default."""
    if value not in (None, "auto"):
        return [value] if isinstance(value, str) else list(value)
    names = set(model.layer_names)
    if model.is_vit:
        blocks = _vit_blocks(model)
        return [blocks[len(blocks) // 2]] if blocks else []
    for candidates in _CNN_CONTENT:
        if all(n in names for n in candidates):
            return candidates
    raise VizlabError(
        f"No default content layer is known for {model.name}; set method.content_layers to a "
        "list of module names (a mid-depth layer such as [layer2])."
    )
