"""Default layers for Gram (style) and content losses when the config says ``auto``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

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
_NO_STYLE = (
    "No default style layers are known for {}; set method.layers (or method.style_layers) to "
    "a list of module names from shallow to deep, e.g. [conv1, layer1, layer2, layer3]. "
    "`vizlab layers model.name=...` lists them."
)
_NO_CONTENT = (
    "No default content layer is known for {}; set method.content_layers to a list of module "
    "names (a mid-depth layer such as [layer2])."
)


def _vit_blocks(model: VisionModel) -> list[str]:
    return sorted(
        (n for n in model.layer_names if re.fullmatch(r"blocks\.\d+", n)),
        key=lambda n: int(n.split(".")[1]),
    )


def _vit_style(model: VisionModel) -> list[str]:
    names = set(model.layer_names)
    return [f"{b}.mlp.act" if f"{b}.mlp.act" in names else b for b in _vit_blocks(model)[:4]]


def _vit_content(model: VisionModel) -> list[str]:
    blocks = _vit_blocks(model)
    return [blocks[len(blocks) // 2]] if blocks else []


def _choose(
    model: VisionModel,
    value: Sequence[str] | str | None,
    vit_default: Callable[[VisionModel], list[str]],
    cnn_candidates: list[list[str]],
    missing: str,
) -> list[str]:
    """``value`` as a list if given; for ``auto``/null the ViT default or the first CNN
    candidate list whose layers all exist, else a VizlabError with ``missing``."""
    if value not in (None, "auto"):
        return [value] if isinstance(value, str) else list(value)
    if model.is_vit:
        return vit_default(model)
    names = set(model.layer_names)
    for candidates in cnn_candidates:
        if all(n in names for n in candidates):
            return list(candidates)
    raise VizlabError(missing)


def style_layers(model: VisionModel, value: Sequence[str] | str | None) -> list[str]:
    """``value`` if it is a list of layers; for ``auto``/null a per-family default."""
    return _choose(model, value, _vit_style, _CNN_STYLE, _NO_STYLE.format(model.name))


def content_layers(model: VisionModel, value: Sequence[str] | str | None) -> list[str]:
    """``value`` if it is a list of layers; for ``auto``/null a mid-depth default."""
    return _choose(model, value, _vit_content, _CNN_CONTENT, _NO_CONTENT.format(model.name))
