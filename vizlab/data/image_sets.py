"""Image sets for the data-set analyses (lecture 21.2-21.3): nearest neighbours, embeddings
and maximally activating patches.

* ``photos_and_crops``: every built-in photo plus ``num_crops`` seeded random square crops of
  it; the label of an image is the photo it comes from.
* ``folder``: a folder of images (unlabelled), or a folder of class sub-folders (labelled by
  sub-folder name, like torchvision's ImageFolder).
* ``lfw_subset``: scikit-image's ``data.lfw_subset()``, 200 grayscale 25 x 25 crops from LFW;
  per its docstring the first 100 are faces and the last 100 non-faces (label 0 = face,
  1 = non-face).

Every image is resized to the model's working input size and returned in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vizlab.data.images import BUILTIN_PHOTOS, IMAGE_SUFFIXES, builtin_photo, open_image, preprocess
from vizlab.errors import VizlabError, nearest
from vizlab.models.wrapper import InputSpec

IMAGE_SETS = ("photos_and_crops", "folder", "lfw_subset")


@dataclass
class ImageSet:
    """N images (N x 3 x H x W in [0, 1]), their names, and optional integer labels."""

    images: torch.Tensor
    names: list[str]
    labels: np.ndarray | None = None
    label_names: list[str] | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def label_of(self, i: int) -> str:
        if self.labels is None:
            return ""
        return self.label_names[self.labels[i]] if self.label_names else str(self.labels[i])

    def subset(self, index: np.ndarray) -> ImageSet:
        index = np.asarray(index, dtype=int)
        return ImageSet(
            self.images[torch.as_tensor(index)],
            [self.names[i] for i in index],
            None if self.labels is None else self.labels[index],
            self.label_names,
        )


def evenly_spaced(n: int, limit: int | None) -> np.ndarray:
    """``limit`` indices spread evenly over ``range(n)`` (all of them without a limit), so a
    subset keeps every part of a set sorted by label."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, int(limit)).round().astype(int))


def _resize(image: Image.Image, spec: InputSpec) -> torch.Tensor:
    """The whole image resized to the input size (no crop): for small, tightly cropped sets."""
    h, w = spec.size
    resample = Image.Resampling.BICUBIC if spec.interpolation == "bicubic" else Image.BILINEAR
    array = np.asarray(image.convert("RGB").resize((w, h), resample), dtype=np.float32)
    return torch.from_numpy(array / 255.0).permute(2, 0, 1).contiguous()


@lru_cache(maxsize=len(BUILTIN_PHOTOS))
def _photo(name: str) -> Image.Image:
    """Decoded built-in photos are kept for the process (decoding all takes seconds)."""
    return builtin_photo(name)


def photos_and_crops(spec: InputSpec, num_crops: int = 5, seed: int = 0) -> ImageSet:
    """Every built-in photo and ``num_crops`` random square crops of it (side 30-70 % of the
    shorter side, uniform position; ``seed`` makes them reproducible)."""
    if num_crops < 0:
        raise VizlabError(f"method.num_crops={num_crops} must be 0 or more.")
    rng = np.random.default_rng(seed)
    images, names, labels = [], [], []
    for label, name in enumerate(BUILTIN_PHOTOS):
        photo = _photo(name)
        images.append(preprocess(photo, spec))
        names.append(name)
        w, h = photo.size
        for c in range(num_crops):
            side = int(rng.uniform(0.3, 0.7) * min(w, h))
            x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            images.append(_resize(photo.crop((x, y, x + side, y + side)), spec))
            names.append(f"{name}/crop{c}")
        labels += [label] * (num_crops + 1)
    return ImageSet(torch.stack(images), names, np.asarray(labels), list(BUILTIN_PHOTOS))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def folder(path: str | Path | None, spec: InputSpec, limit: int | None = None) -> ImageSet:
    """A folder of images, or of class sub-folders of images (labels = sub-folder names)."""
    if not path:
        raise VizlabError(
            "method.image_set=folder needs method.image_dir=/path/to/images (a folder of images, "
            "or of one sub-folder of images per class)."
        )
    root = Path(str(path)).expanduser()
    if not root.is_dir():
        raise VizlabError(
            f"method.image_dir='{root}' is not a folder. Give a folder of images "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}) or of class sub-folders of images, or use "
            "method.image_set=photos_and_crops | lfw_subset, which ship with vizlab."
        )
    classes = sorted(d for d in root.iterdir() if d.is_dir() and _image_files(d))
    files = _image_files(root)
    if classes and not files:
        entries = [(f, k) for k, d in enumerate(classes) for f in _image_files(d)]
        label_names: list[str] | None = [d.name for d in classes]
    else:
        entries = [(f, -1) for f in files]
        label_names = None
    if not entries:
        raise VizlabError(
            f"method.image_dir='{root}' holds no images with a known suffix "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}), neither directly nor in sub-folders."
        )
    entries = [entries[i] for i in evenly_spaced(len(entries), limit)]
    images = torch.stack([preprocess(open_image(f), spec) for f, _ in entries])
    names = [str(f.relative_to(root)) for f, _ in entries]
    labels = np.asarray([k for _, k in entries]) if label_names else None
    return ImageSet(images, names, labels, label_names)


def lfw_subset(spec: InputSpec) -> ImageSet:
    """scikit-image's LFW subset: 100 faces then 100 non-faces, 25 x 25 grayscale, resized
    whole (they are tight crops) to the input size and replicated to RGB."""
    from skimage import data

    faces = torch.from_numpy(np.asarray(data.lfw_subset(), dtype=np.float32))
    if faces.max() > 1:  # documented as uint8; skimage >= 0.19 returns floats in [0, 1]
        faces = faces / 255.0
    mode = "bicubic" if spec.interpolation == "bicubic" else "bilinear"
    images = F.interpolate(faces[:, None], size=spec.size, mode=mode, align_corners=False)
    images = images.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()
    labels = np.repeat([0, 1], [100, len(faces) - 100])
    names = [f"face{i:03d}" if i < 100 else f"nonface{i - 100:03d}" for i in range(len(faces))]
    return ImageSet(images, names, labels, ["face", "non-face"])


def load_image_set(cfg: Mapping[str, Any], spec: InputSpec) -> ImageSet:
    """The image set named by a method config's ``image_set`` knob (with ``image_dir``,
    ``num_crops``, ``max_images`` and ``seed``), preprocessed for ``spec``."""
    name = cfg.get("image_set", "photos_and_crops")
    limit = cfg.get("max_images")
    if limit is not None and int(limit) < 2:
        raise VizlabError(f"method.max_images={limit} must be at least 2 (or null for all).")
    if name == "folder":
        return folder(cfg.get("image_dir"), spec, limit)
    if name == "photos_and_crops":
        images = photos_and_crops(spec, int(cfg.get("num_crops", 5)), int(cfg.get("seed", 0)))
    elif name == "lfw_subset":
        images = lfw_subset(spec)
    else:
        hint = nearest(str(name), IMAGE_SETS)
        raise VizlabError(
            f"method.image_set='{name}' is not an image set. Valid: {', '.join(IMAGE_SETS)}"
            + (f" (did you mean {hint[0]}?)." if hint else ".")
        )
    return images.subset(evenly_spaced(len(images), limit))
