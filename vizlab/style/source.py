"""Style and texture images: a built-in photo by name (e.g. scikit-image's ``grass``,
``gravel``, ``brick``) or an image file, resized and centre-cropped to a square."""

from __future__ import annotations

import torch
from PIL import Image

from vizlab.data.images import photo_or_file, preprocess
from vizlab.models.wrapper import InputSpec


def load_image(name_or_path: str, option: str = "method.style") -> Image.Image:
    """A built-in photo by name, else an image file path (clear error otherwise)."""
    return photo_or_file(name_or_path, option)[1]


def image_tensor(
    name_or_path: str, size: int | tuple[int, int], option: str = "method.style"
) -> torch.Tensor:
    """1 x 3 x H x W in [0, 1]: resized so the short side fits, then centre-cropped."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    spec = InputSpec(size, (0.5,) * 3, (0.5,) * 3, "bicubic", 1.0)
    return preprocess(load_image(name_or_path, option), spec)[None]
