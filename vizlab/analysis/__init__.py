"""Shared pieces of the image-set analyses (lecture 21.2-21.3): batched feature extraction,
ViT token grids, and the input box seen by a unit of a feature map."""

from vizlab.analysis.features import extract_features, extract_maps, spatial_map
from vizlab.analysis.unit_boxes import UnitGeometry, unit_geometry

__all__ = ["UnitGeometry", "extract_features", "extract_maps", "spatial_map", "unit_geometry"]
