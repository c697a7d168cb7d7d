"""MaCo, magnitude-constrained optimization (Fel et al. 2023, "Unlocking feature visualization
for deeper networks with MAgnitude Constrained Optimization"): only the phase of the image's
spectrum is optimized; its magnitude is fixed to the average magnitude spectrum of natural
photos (here: the built-in photos and their crops, ``photo_set``). The transparency map alpha
is the accumulated |gradient| of the objective w.r.t. the image (their Sect. 3)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch

from vizlab.data.reference_set import photo_set
from vizlab.models.wrapper import InputSpec, PixelUnits
from vizlab.params.base import per_image
from vizlab.params.color import from_unit
from vizlab.params.fourier import SpectralParam

_MAGNITUDES: dict[tuple, torch.Tensor] = {}


def natural_magnitude(spec: InputSpec, size: tuple[int, int], matrix: torch.Tensor) -> torch.Tensor:
    """3 x H x (W//2+1): mean |rfft2| of the built-in photos in the parameterization's own
    space (decorrelated colour, before the sigmoid); computed once per size, cached."""
    key = (tuple(size), spec.mean, spec.std, spec.interpolation, spec.crop_pct)
    key += tuple(matrix.flatten().tolist())
    if key not in _MAGNITUDES:
        images, _ = photo_set(replace(spec, size=(int(size[0]), int(size[1]))))
        s = from_unit(images, matrix.cpu(), eps=0.02)
        _MAGNITUDES[key] = torch.fft.rfft2(s, norm="ortho").abs().mean(0)
    return _MAGNITUDES[key]


class MacoParam(SpectralParam):
    """image = sigmoid(C irfft2(magnitude * exp(i phase))), phase the only parameter."""

    name = "maco"
    wants_grad = True

    def __init__(
        self,
        units: PixelUnits,
        magnitude: torch.Tensor,
        batch: int,
        size: tuple[int, int],
        matrix: torch.Tensor,
        *,
        generators: list[torch.Generator] | None = None,
        device: str | torch.device = "cpu",
        optimizer: dict[str, Any] | None = None,
    ):
        super().__init__(units, size, matrix, device, optimizer)
        h, w = self.size
        shape = (3, h, w // 2 + 1)
        self.magnitude = magnitude.to(device).expand(batch, *shape).clone()
        phases = [torch.rand(shape, generator=g) for g in per_image(generators, batch)]
        self.phase = ((torch.stack(phases) * 2 - 1) * math.pi).to(device).requires_grad_(True)
        self.alpha = torch.zeros(batch, 1, h, w, device=device)

    def parameters(self) -> list[torch.Tensor]:
        return [self.phase]

    def decorrelated(self) -> torch.Tensor:
        spectrum = torch.polar(self.magnitude, self.phase)
        return torch.fft.irfft2(spectrum, s=self.size, norm="ortho")

    @torch.no_grad()
    def assign_(self, x_paper: torch.Tensor, magnitude: bool = False) -> None:
        """Take the phase of ``x_paper``'s spectrum; with ``magnitude`` also fix its
        magnitude (then the image comes back exactly -- used to start from a photo)."""
        s = from_unit(self.units.paper_to_unit(x_paper), self.matrix)
        spectrum = torch.fft.rfft2(s, norm="ortho")
        self.phase.copy_(spectrum.angle())
        if magnitude:
            self.magnitude.copy_(spectrum.abs())

    @torch.no_grad()
    def observe(self, grad: torch.Tensor | None) -> None:
        if grad is not None:
            self.alpha += grad.abs().mean(1, keepdim=True)

    def extras(self) -> dict[str, torch.Tensor]:
        """alpha: accumulated |grad|, per image divided by its 99th percentile, in [0, 1]."""
        top = torch.quantile(self.alpha.flatten(1), 0.99, dim=1).clamp_min(1e-20)
        return {"alpha": (self.alpha / top.view(-1, 1, 1, 1)).clamp(0, 1)}
