"""Natural photos that ship inside installed packages (SPEC §4) and image folders, resized
and centre-cropped as the model's input spec says (timm's own eval transform)."""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from PIL import Image, ImageOps, UnidentifiedImageError

from vizlab.errors import VizlabError, format_choices, nearest
from vizlab.models.wrapper import InputSpec


def _skimage(name: str, file: str) -> Callable[[], np.ndarray]:
    """scikit-image's photo ``name`` (``skimage.data.<name>()``; stereo pairs: the left view),
    read with Pillow from ``file`` in skimage's data folder when it ships there: the same
    array as skimage's reader gives, without importing ``skimage.io`` (its plug-in scan and
    scipy, a noticeable part of a run's start-up). Else through skimage itself."""

    def load() -> np.ndarray:
        folder = _skimage_data_dir()
        path = folder / file if folder is not None else None
        if path is not None and path.is_file():
            with Image.open(path) as im:
                if im.mode in ("RGB", "L"):  # 8-bit photos: what skimage's reader returns
                    return np.asarray(im)
        from skimage import data

        image = getattr(data, name)()
        return image[0] if isinstance(image, tuple) else image

    return load


def _skimage_data_dir() -> Path | None:
    """skimage's data folder, found without importing skimage (None without skimage)."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) / "data" if locations else None


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


BUILTIN_PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "chelsea": _skimage("chelsea", "chelsea.png"),
    "coffee": _skimage("coffee", "coffee.png"),
    "astronaut": _skimage("astronaut", "astronaut.png"),
    "rocket": _skimage("rocket", "rocket.jpg"),
    "motorcycle": _skimage("stereo_motorcycle", "motorcycle_left.png"),
    "hubble_deep_field": _skimage("hubble_deep_field", "hubble_deep_field.jpg"),
    "retina": _skimage("retina", "retina.jpg"),
    "camera": _skimage("camera", "camera.png"),
    "coins": _skimage("coins", "coins.png"),
    "moon": _skimage("moon", "moon.png"),
    "grass": _skimage("grass", "grass.png"),
    "gravel": _skimage("gravel", "gravel.png"),
    "brick": _skimage("brick", "brick.png"),
    "grace_hopper": _grace_hopper,
    "china": _sklearn("china.jpg"),
    "flower": _sklearn("flower.jpg"),
}
"""Photos available offline by name (``data.image=<name>``)."""

COLOUR_PHOTOS = [
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "motorcycle",
    "hubble_deep_field",
    "retina",
    "grace_hopper",
    "china",
    "flower",
]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


def builtin_photo(name: str, option: str = "data.image") -> Image.Image:
    """A built-in photo as an RGB PIL image (grayscale photos are replicated to RGB);
    ``option`` names the setting that asked for it (errors)."""
    if name not in BUILTIN_PHOTOS:
        hint = nearest(name, BUILTIN_PHOTOS)
        raise VizlabError(
            f"{option}='{name}' is neither a built-in photo nor an image file. Available: "
            f"{format_choices(BUILTIN_PHOTOS, limit=20)}"
            + (f". Did you mean {hint[0]}?" if hint else ".")
            + f" Or give an image file ({option}=/path/to/photo.jpg)"
            + (
                ", or a folder with data=folder data.path=/path/to/images."
                if option.startswith("data")
                else "."
            )
        )
    array = BUILTIN_PHOTOS[name]()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(array.astype(np.uint8)).convert("RGB")


def preprocess(image: Image.Image, spec: InputSpec) -> torch.Tensor:
    """Resize and centre-crop like timm's eval transform; returns 3xHxW in [0, 1]."""
    from timm.data.transforms_factory import transforms_imagenet_eval

    transform = transforms_imagenet_eval(
        img_size=spec.size,
        crop_pct=spec.crop_pct,
        interpolation=spec.interpolation,
        normalize=False,
    )
    return transform(image.convert("RGB")).float() / 255.0


def folder_images(
    path: str | Path, limit: int | None = None, skip_bad: bool = False
) -> list[tuple[str, Image.Image]]:
    """The first ``limit`` readable images of a folder in sorted order (the paper uses the first
    100 ILSVRC val images). An unreadable file stops the run, or with ``skip_bad`` is skipped
    with a warning (and the next file takes its place)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise VizlabError(
            f"data.path='{folder}' is not a folder. Point data.path at a directory of images "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}), or use a built-in photo with data.image=NAME."
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VizlabError(
            f"data.path='{folder}' holds no images with a known suffix "
            f"({', '.join(sorted(IMAGE_SUFFIXES))})."
        )
    images, skipped = [], []
    for file in files:
        if limit and len(images) >= limit:
            break
        try:
            images.append((file.name, open_image(file)))
        except VizlabError as err:
            if not skip_bad:
                raise VizlabError(
                    f"{err} To skip unreadable files, add data.skip_bad=true."
                ) from None
            skipped.append(file.name)
    if skipped:
        warnings.warn(
            f"data.skip_bad=true: skipped {len(skipped)} unreadable file(s) of '{folder}': "
            f"{format_choices(skipped, 10)}",
            stacklevel=2,
        )
    if not images:
        raise VizlabError(
            f"data.path='{folder}': none of its {len(files)} image files is readable."
        )
    return images


BACKGROUND = (255, 255, 255)
"""Transparent pixels are composited on white, as image viewers and browsers show them."""


def _scale_to_8bit(im: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit integer or float single-channel image as 8-bit ``L``: 16-bit modes
    scale 65535 -> 255 (``convert`` clips them, so a 16-bit PNG read as all white); ``I``
    by 65535 when its values exceed 255, ``F`` from [0, 1] when its maximum is at most 1."""
    array = np.asarray(im, dtype=np.float64)
    peak = float(np.nanmax(array)) if array.size else 0.0
    if im.mode.startswith("I;16"):
        top = 65535.0
    elif im.mode == "F" and peak <= 1.0:
        top = 1.0
    else:
        top = 255.0 if peak <= 255 else max(65535.0, peak)
    array = np.nan_to_num(array, nan=0.0) * (255.0 / top)
    return Image.fromarray(np.clip(array + 0.5, 0, 255).astype(np.uint8), "L")


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """CMYK through its embedded ICC profile to sRGB when it has one (what colour-managed
    viewers show), else Pillow's plain conversion."""
    icc = im.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, source, srgb, outputMode="RGB")
        except Exception:  # noqa: BLE001 - a broken profile: fall back to the plain conversion
            pass
    return im.convert("RGB")


def to_rgb(im: Image.Image) -> Image.Image:
    """The 8-bit RGB picture a person sees in ``im``, whatever its mode: grayscale, 16-bit and
    float images scaled to 8 bits, palettes expanded, CMYK converted, transparency (alpha or a
    palette's transparent colour) composited on :data:`BACKGROUND` (white)."""
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _scale_to_8bit(im)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode in ("L", "1") and "transparency" in im.info:
        im = im.convert("LA")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        im.mode == "RGB" and "transparency" in im.info
    ):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if im.mode == "CMYK":
        return _cmyk_to_rgb(im)
    return im.convert("RGB")


def open_image(file: str | Path) -> Image.Image:
    """An image file as the RGB picture a person sees (:func:`to_rgb`), turned upright by its
    EXIF orientation. Files over Pillow's decompression-bomb limit are refused before they
    are decoded."""
    file = Path(file).expanduser()
    if not file.is_file():
        raise VizlabError(f"Image file '{file}' does not exist.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as im:
                im.load()
                return to_rgb(ImageOps.exif_transpose(im))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise VizlabError(
            f"Refusing to decode '{file}': {err} Pillow's limit is "
            f"{Image.MAX_IMAGE_PIXELS:,} pixels (a guard against decompression bombs); "
            "downscale or crop the image first."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise VizlabError(
            f"Could not read '{file}' as an image ({type(err).__name__}: {err}). The file may be "
            "corrupt or truncated; remove it or replace it with a valid JPEG/PNG."
        ) from err


def photo_or_file(name_or_path: str, option: str = "data.image") -> tuple[str, Image.Image]:
    """(name, RGB image) of a built-in photo by name, else of an image file (``data.image``
    and ``data.images`` take both; a file is named by its stem)."""
    name_or_path = str(name_or_path)
    if name_or_path in BUILTIN_PHOTOS or not Path(name_or_path).expanduser().exists():
        return name_or_path, builtin_photo(name_or_path, option)
    return Path(name_or_path).stem, open_image(name_or_path)


@dataclass
class ReferenceImages:
    """A batch of reference images in [0, 1] and their names."""

    images: torch.Tensor  # N x 3 x H x W in [0, 1]
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.images.shape[0]


def load_references(cfg: DictConfig, spec: InputSpec) -> ReferenceImages:
    """The reference images named by the ``data`` config, preprocessed for ``spec``."""
    source = cfg.get("source", "builtin")
    if source == "folder":
        if not cfg.get("path"):
            raise VizlabError("data=folder needs data.path=/path/to/a/folder/of/images.")
        pairs = folder_images(cfg.path, cfg.get("limit"), bool(cfg.get("skip_bad", False)))
    elif source == "file":
        pairs = [(Path(cfg.path).name, open_image(cfg.path))]
    elif source == "builtin":
        names = cfg.get("images") or [cfg.image]
        names = [str(n) for n in ([names] if isinstance(names, str) else names)]
        if all(n in BUILTIN_PHOTOS for n in names):  # the same pixels every job of a sweep
            key = (tuple(spec.size), spec.crop_pct, spec.interpolation)
            tensors = torch.stack([_preprocessed_builtin(n, *key) for n in names])
            return ReferenceImages(tensors, names)
        pairs = [photo_or_file(n) for n in names]
    else:
        raise VizlabError(f"data.source='{source}' is unknown; use builtin, folder or file.")
    tensors = torch.stack([preprocess(img, spec) for _, img in pairs])
    return ReferenceImages(tensors, [n for n, _ in pairs])


@functools.lru_cache(maxsize=8)
def _preprocessed_builtin(
    name: str, size: tuple[int, int], crop_pct: float, interpolation: str
) -> torch.Tensor:
    """A built-in photo decoded and preprocessed once per process and input spec (its only
    inputs; an image file is read again each time, as it may change), so the jobs of a sweep
    do not decode and resize it again; ``torch.stack`` copies it, so no caller changes it."""
    spec = InputSpec(size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), interpolation, crop_pct)
    return preprocess(builtin_photo(name), spec)
