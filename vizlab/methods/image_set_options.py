"""The image-set knobs shared by nearest_neighbors, embedding and max_patches."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vizlab.data.image_sets import IMAGE_SETS, ImageSet, load_image_set
from vizlab.models.wrapper import InputSpec
from vizlab.schema import check_choice, check_positive, require


@dataclass
class ImageSetOptions:
    image_set: str
    image_dir: str | None
    num_crops: int
    max_images: int | None
    batch_size: int
    seed: int

    def __post_init__(self) -> None:
        check_choice("image_set", self.image_set, IMAGE_SETS)
        require(
            self.image_set != "folder" or bool(self.image_dir),
            "image_dir",
            self.image_dir,
            "must name a folder of images (or of class sub-folders) when image_set=folder",
        )
        check_positive("num_crops", self.num_crops, integer=True, allow_zero=True)
        require(
            self.max_images is None or self.max_images >= 2,
            "max_images",
            self.max_images,
            "must be at least 2 (or null for all)",
        )
        check_positive("batch_size", self.batch_size, integer=True)

    def load(self, spec: InputSpec) -> ImageSet:
        """The image set, preprocessed for ``spec``."""
        return load_image_set(asdict(self), spec)
