"""The reference image set over which a unit's maximum activation M is taken (Eq. 9 and the
quality metric of SPEC §3): the built-in colour photos plus their four quadrant crops."""

from __future__ import annotations

import torch

from vizlab.data.images import COLOUR_PHOTOS, builtin_photo, preprocess
from vizlab.models.wrapper import InputSpec


def photo_set(spec: InputSpec, crops: bool = True) -> tuple[torch.Tensor, list[str]]:
    """N x 3 x H x W images in [0, 1] and their names."""
    images, names = [], []
    for name in COLOUR_PHOTOS:
        photo = builtin_photo(name)
        images.append(preprocess(photo, spec))
        names.append(name)
        if crops:
            w, h = photo.size
            for q, (x, y) in enumerate([(0, 0), (w // 2, 0), (0, h // 2), (w // 2, h // 2)]):
                images.append(preprocess(photo.crop((x, y, x + w // 2, y + h // 2)), spec))
                names.append(f"{name}/q{q}")
    return torch.stack(images), names
