"""Pixels as parameters, in paper units (Mahendran & Vedaldi): the identity parameterization.
``project_`` applies the hard per-pixel bound ||x(u, v)|| <= B+ of Eq. (6)."""

from __future__ import annotations

from typing import Any

import torch

from vizlab.models.wrapper import PixelUnits
from vizlab.optim.preimage_sgd import project_pixels
from vizlab.params.base import ImageParam, per_image


class PixelParam(ImageParam):
    """The canvas itself is the parameter (N x 3 x H x W, paper units)."""

    name = "pixel"

    def __init__(
        self,
        units: PixelUnits,
        x_paper: torch.Tensor,
        bound: float | None = None,
        optimizer: dict[str, Any] | None = None,
    ):
        super().__init__(units, optimizer)
        self.x = x_paper.detach().clone().requires_grad_(True)
        self.bound = bound

    def parameters(self) -> list[torch.Tensor]:
        return [self.x]

    def paper(self) -> torch.Tensor:
        return self.x

    @torch.no_grad()
    def assign_(self, x_paper: torch.Tensor) -> None:
        self.x.copy_(x_paper)

    @torch.no_grad()
    def project_(self) -> None:
        if self.bound is not None:
            project_pixels(self.x, self.bound)


def pixel_noise(
    batch: int, size: tuple[int, int], std: float, generators: list[torch.Generator] | None
) -> torch.Tensor:
    """i.i.d. Gaussian pixels of standard deviation ``std``, one random stream per image (so
    an image's start does not depend on its position in the batch)."""
    return torch.cat(
        [torch.randn((1, 3, *size), generator=g) for g in per_image(generators, batch)]
    ).mul_(std)
