"""Typed ``data`` config, checked before the model loads: where the reference images come
from (a built-in photo, files, or a folder), how many, and the working image size.

The checks that only need the file system (does the file or folder exist, is a name a
built-in photo) happen here too, so a typo costs a second, not a model load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from vizlab.errors import VizlabError, format_choices, nearest
from vizlab.schema import OptionError, check_choice, check_positive, require, typed

SOURCES = ("builtin", "folder", "file")
MIN_SIZE = 8
"""The smallest working image side: below it the stride-2 stems of the models leave no pixel."""
SIZE_HELP = f"must be null (the model's own size), a whole number >= {MIN_SIZE}, or [height, width]"


def _check_size(size: Any) -> None:
    if size is None:
        return
    sides = list(size) if isinstance(size, (list, tuple)) else [size]
    ok = len(sides) in (1, 2) if isinstance(size, (list, tuple)) else True
    for side in sides:
        ok = ok and isinstance(side, int) and not isinstance(side, bool) and side >= MIN_SIZE
    require(ok, "size", size, SIZE_HELP)


def _image_names(image: Any, images: Any) -> list[str]:
    names = images if images not in (None, "", []) else image
    if names is None:
        return []
    return [names] if isinstance(names, str) else [str(n) for n in names]


def _check_photo(name: str, key: str) -> None:
    from vizlab.data.images import BUILTIN_PHOTOS

    if name in BUILTIN_PHOTOS:
        return
    path = Path(name).expanduser()
    if path.is_file():
        return
    if path.is_dir():
        raise OptionError(
            key,
            name,
            "is a folder; use data=folder data.path=" + name + " for a folder of images",
        )
    looks_like_path = "/" in name or "\\" in name or path.suffix != ""
    if looks_like_path:
        raise OptionError(
            key, name, "no such file (give an existing image file or a built-in photo)"
        )
    hint = nearest(name, BUILTIN_PHOTOS, n=1)
    raise OptionError(
        key,
        name,
        f"is neither a built-in photo nor an image file. Built-in photos: "
        f"{format_choices(BUILTIN_PHOTOS, 20)}" + (f" (did you mean {hint[0]}?)" if hint else ""),
    )


@dataclass
class DataOptions:
    """``source``: builtin (``image``/``images``: photo names or files), folder (``path``,
    the first ``limit`` images sorted by name) or file (``path``); ``size``: working side(s);
    ``skip_bad``: skip unreadable files of a folder with a warning instead of stopping."""

    source: str
    image: Any = None
    images: Any = None
    size: Any = None
    path: Any = None
    limit: Any = None
    skip_bad: bool = False

    def __post_init__(self) -> None:
        check_choice("source", self.source, SOURCES)
        _check_size(self.size)
        if self.limit is not None:
            check_positive("limit", self.limit, integer=True)
        if self.images is not None and not isinstance(self.images, (str, list)):
            raise OptionError("images", self.images, "must be a list of photo names or files")
        if isinstance(self.images, list):
            require(
                bool(self.images) and all(isinstance(n, str) and n for n in self.images),
                "images",
                self.images,
                "must be a non-empty list of built-in photo names or image files",
            )
        if self.source == "builtin":
            names = _image_names(self.image, self.images)
            require(bool(names), "image", self.image, "needs a photo name or an image file")
            key = "images" if self.images not in (None, "", []) else "image"
            for name in names:
                _check_photo(name, key)
        elif self.source == "folder":
            self._check_path(folder=True)
        else:
            self._check_path(folder=False)

    def _check_path(self, folder: bool) -> None:
        kind = "a folder of images" if folder else "an image file"
        require(
            isinstance(self.path, str) and bool(self.path), "path", self.path, f"must be {kind}"
        )
        path = Path(self.path).expanduser()
        exists = path.is_dir() if folder else path.is_file()
        if not exists:
            other = "is a file, not a folder" if path.is_file() else "does not exist"
            if not folder and path.is_dir():
                other = "is a folder; use data=folder for a folder of images"
            require(False, "path", self.path, f"must be {kind}; it {other}")


def validate_data(node: Any, prefix: str = "data") -> DataOptions:
    """The typed ``data`` config; raises :class:`VizlabError` naming the bad key and value."""
    if node is None:
        raise VizlabError(f"{prefix} is empty; choose a data config, e.g. data=chelsea.")
    if isinstance(node, DictConfig):
        data = OmegaConf.to_container(node, resolve=True)
    elif isinstance(node, ListConfig):
        data = OmegaConf.to_container(node)
    else:
        data = node
    if not isinstance(data, dict):
        raise VizlabError(f"{prefix}={node!r} is not a data config (a mapping, e.g. data=chelsea).")
    if data.get("path") == "???":
        raise VizlabError(
            f"{prefix}.path is required for data.source={data.get('source')}: "
            f"e.g. data.path=/path/to/images."
        )
    return typed(DataOptions, data, prefix)
