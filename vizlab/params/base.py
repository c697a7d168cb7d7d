"""The image-parameterization interface (Olah et al. 2017, "Feature Visualization": an image
is a differentiable function of some parameters; the optimizer only sees the parameters).

Every parameterization renders a *canvas* of N images in paper units (RGB 0..255, mean colour
subtracted -- the units of all of Mahendran & Vedaldi's constants), so the regularizers and
the pre-image engine work unchanged; ``__call__`` gives the same images in the model's input
space. ``assign_`` encodes given images into the parameters, so every parameterization can
start from a photo (caricatures) and a post-step operation on the image (Yosinski's blur and
clipping) can be written back into the parameters.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from vizlab.models.wrapper import PixelUnits


class ImageParam:
    """N x 3 x H x W images as a function of ``parameters()``.

    Life cycle in the pre-image engine, per step: ``paper()`` -> energy -> backward ->
    optimizer step -> ``project_()`` -> ``observe(grad)`` -> step hooks (``assign_``).
    """

    name: ClassVar[str] = "param"
    wants_grad: ClassVar[bool] = False
    """Whether :meth:`observe` needs the data term's gradient w.r.t. the rendered image."""

    def __init__(
        self,
        units: PixelUnits,
        optimizer: dict[str, Any] | None = None,
        penalties: bool = True,
    ):
        self.units = units
        self.optimizer = optimizer
        """Default optimizer config for this parameterization; None: the ``optimizer`` group."""
        self.penalties = penalties
        """Whether the regularizers group's penalties are added to the energy (the Fourier
        and MaCo parameterizations are a prior of their own and default to False)."""

    def parameters(self) -> list[torch.Tensor]:  # pragma: no cover - interface
        raise NotImplementedError

    def paper(self) -> torch.Tensor:  # pragma: no cover - interface
        """The canvas in paper units, differentiable w.r.t. ``parameters()``."""
        raise NotImplementedError

    def __call__(self) -> torch.Tensor:
        """The canvas in the model's normalized input space."""
        return self.units.paper_to_model(self.paper())

    def unit(self) -> torch.Tensor:
        """The canvas as displayable RGB in [0, 1] (not clipped)."""
        return self.units.paper_to_unit(self.paper())

    @torch.no_grad()
    def assign_(self, x_paper: torch.Tensor) -> None:  # pragma: no cover - interface
        """Set the parameters so that ``paper()`` returns ``x_paper`` (as far as possible)."""
        raise NotImplementedError

    @torch.no_grad()
    def project_(self) -> None:
        """Constraint projection after each optimizer step (none by default)."""

    @torch.no_grad()
    def observe(self, grad: torch.Tensor | None) -> None:
        """Called after each step with d(C * data) / d(canvas) when ``wants_grad``."""

    def extras(self) -> dict[str, torch.Tensor]:
        """Per-image maps a method may log next to the images (e.g. MaCo's alpha)."""
        return {}


def reflect_pad(x: torch.Tensor, margin: int) -> torch.Tensor:
    """Grow images by ``margin`` pixels (reflect; ``margin // 2`` before, the rest after) so
    that their central crop is ``x`` itself -- the canvas layout of the paper's jitter."""
    if margin == 0:
        return x
    before, after = margin // 2, margin - margin // 2
    mode = "reflect" if min(x.shape[-2:]) > margin else "replicate"
    return F.pad(x, (before, after, before, after), mode=mode)


def per_image(generators: list[torch.Generator] | None, n: int) -> list[torch.Generator | None]:
    """One random stream per image (None: torch's global generator for every image)."""
    if generators is None:
        return [None] * n
    if len(generators) != n:
        raise ValueError(f"need one generator per image: {len(generators)} for {n} images")
    return list(generators)
