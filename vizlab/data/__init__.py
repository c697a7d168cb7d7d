"""Reference images: built-in photos shipped in packages, or a folder of images."""

from vizlab.data.images import (
    BUILTIN_PHOTOS,
    ReferenceImages,
    builtin_photo,
    load_references,
    preprocess,
)

__all__ = ["BUILTIN_PHOTOS", "ReferenceImages", "builtin_photo", "load_references", "preprocess"]
