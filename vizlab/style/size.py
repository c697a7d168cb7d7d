"""The working image size of the texture and style methods on a given model."""

from __future__ import annotations

import logging

from vizlab.errors import VizlabError
from vizlab.models.wrapper import VisionModel

log = logging.getLogger(__name__)


def working_size(model: VisionModel, value: int | None) -> tuple[int, int]:
    """A square side ``value`` or (None) the model's working input size. A ViT needs sides
    that are multiples of its patch size: other sizes are rounded to the nearest multiple
    (with a warning), so the CNN-sized defaults (128 px) also work for e.g. DINOv2's 14 px
    patches. A ViT built without ``dynamic_img_size`` takes only its own input size."""
    size = (int(value), int(value)) if value else tuple(model.spec.size)
    embed = getattr(model.module, "patch_embed", None)
    if embed is None:
        return size
    patch = tuple(embed.patch_size)
    if size[0] % patch[0] or size[1] % patch[1]:
        fitted = tuple(max(p, p * round(s / p)) for s, p in zip(size, patch))
        log.warning(
            "method.size=%s is not a multiple of %s's %d px patches: using %d x %d instead.",
            value,
            model.name,
            patch[0],
            fitted[0],
            fitted[1],
        )
        size = fitted
    own = tuple(embed.img_size)
    if getattr(embed, "strict_img_size", False) and size != own:
        raise VizlabError(
            f"method.size={value} does not fit {model.name}, which takes only {own[0]} px "
            "images (built without dynamic_img_size). Use method.size=null or "
            f"method.size={own[0]}."
        )
    return size
