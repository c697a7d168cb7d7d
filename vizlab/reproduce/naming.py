"""Names as the papers print them: ImageNet classes, stand-in models, photos, layers."""

from __future__ import annotations

from functools import cache

from vizlab.reproduce.jobs import Job

STAND_INS = {
    "mv": {
        "efficientnet_lite0": "Lite0 (for AlexNet)",
        "efficientnet_lite1": "Lite1 (for VGG-M)",
        "efficientnet_lite2": "Lite2 (for VGG-VD)",
    },
    "am": {
        "efficientnet_lite0": "Lite0 (for MobileNet)",
        "efficientnet_lite1": "Lite1 (for InceptionV3)",
        "efficientnet_lite2": "Lite2 (for ResNet50V2)",
    },
}


@cache
def _imagenet():
    from timm.data import ImageNetInfo

    return ImageNetInfo()


def class_name(index: int) -> str:
    """The ImageNet-1k class name (first synonym), e.g. 301 -> 'ladybug'."""
    return _imagenet().index_to_description(int(index)).split(",")[0]


def model_label(value: str, paper: str) -> str:
    """'efficientnet_lite1' (config) or 'tf_efficientnet_lite1' (timm) -> 'Lite1 (for VGG-M)'."""
    return STAND_INS.get(paper, {}).get(value.removeprefix("tf_"), value)


def vit_layer(layer: str) -> str:
    """timm's blocks.{l-1} is the AM paper's layer l (Hugging Face hidden_states[l])."""
    return f"layer {int(layer.split('.')[-1]) + 1}" if layer.startswith("blocks.") else layer


def photo_names(job: Job) -> list[str]:
    """The reference photos of a job, in the order of its tensors."""
    data = job.config.data if job.config is not None else None
    if data is not None and data.get("images"):
        return [str(n).split("/")[-1] for n in data.images]
    if data is not None and data.get("image"):
        return [str(data.image).split("/")[-1]]
    return ["photo"]


def unit_indices(job: Job) -> list[int]:
    """The unit indices of a job's target (int, list or 'start:stop')."""
    index = job.config.target.get("index") if job.config is not None else None
    if index is None:
        return [0]
    if isinstance(index, str) and ":" in index:
        start, stop = (int(p) for p in index.split(":", 1))
        return list(range(start, stop))
    if isinstance(index, (int, float, str)):
        return [int(index)]
    return [int(i) for i in index]
