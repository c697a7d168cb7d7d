"""Frequency-domain parameterization (Olah et al. 2017; the AM paper, Sect. 3.3): the image is
the inverse real FFT of a learned complex spectrum (stored as real and imaginary parts) scaled
by 1/f^decay, so equal steps in every parameter give a natural 1/f image spectrum; channels
are decorrelated colour, squashed into [0, 1] by a sigmoid (see color.py)."""

from __future__ import annotations

from typing import Any

import torch

from vizlab.models.wrapper import PixelUnits
from vizlab.params.base import ImageParam, per_image
from vizlab.params.color import correlation_matrix, from_unit, recorrelate

MAGIC = 4.0
"""lucid's constant dividing the spatial image (keeps the sigmoid away from saturation)."""


def spectrum_scale(h: int, w: int, decay_power: float = 1.0) -> torch.Tensor:
    """H x (W//2 + 1) factors 1 / max(f, 1/max(H, W))^decay for the rfft2 frequencies f
    (cycles per pixel); the lowest nonzero frequency caps the DC term."""
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    freqs = (fx.pow(2) + fy.pow(2)).sqrt()
    return freqs.clamp_min(1.0 / max(h, w)).pow(-decay_power)


class SpectralParam(ImageParam):
    """An image made in the frequency domain: ``decorrelated()`` gives the spatial image in
    decorrelated colour before the sigmoid; this base maps it to paper units (shared by the
    Fourier and MaCo parameterizations)."""

    matrix: torch.Tensor

    def __init__(
        self,
        units: PixelUnits,
        size: tuple[int, int],
        matrix: torch.Tensor,
        device: str | torch.device,
        optimizer: dict[str, Any] | None,
    ):
        super().__init__(units, optimizer)
        self.size = (int(size[0]), int(size[1]))
        self.matrix = matrix.to(device)
        self._offset = (-255.0 * units.mean).to(device)
        """-255 mean: paper units are 255 sigmoid(.) - 255 mean (one fused add per step)."""

    def decorrelated(self) -> torch.Tensor:
        raise NotImplementedError

    def paper(self) -> torch.Tensor:
        rgb = torch.sigmoid(recorrelate(self.decorrelated(), self.matrix))
        return torch.add(self._offset, rgb, alpha=255.0)  # = units.unit_to_paper(rgb)


class FourierParam(SpectralParam):
    """image = sigmoid(C irfft2(scale * spectrum) / 4), in paper units."""

    name = "fourier"

    def __init__(
        self,
        units: PixelUnits,
        batch: int,
        size: tuple[int, int],
        *,
        decay_power: float = 1.0,
        sd: float = 0.01,
        decorrelate: bool = True,
        generators: list[torch.Generator] | None = None,
        device: str | torch.device = "cpu",
        optimizer: dict[str, Any] | None = None,
    ):
        super().__init__(units, size, correlation_matrix(bool(decorrelate)), device, optimizer)
        h, w = self.size
        self.scale = spectrum_scale(h, w, float(decay_power)).to(device)
        self._factors = (self.scale / MAGIC).unsqueeze(-1).expand(h, w // 2 + 1, 2).contiguous()
        """scale / 4 for the real and imaginary parts: one real product per step, over
        contiguous memory (broadcasting a factor over the last axis of two is not vectorized
        by torch's CPU kernels: 8x slower for a 128 px spectrum)."""
        shape = (3, h, w // 2 + 1, 2)
        spectra = [torch.randn(shape, generator=g) for g in per_image(generators, batch)]
        self.spectrum = (torch.stack(spectra) * float(sd)).to(device).requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def decorrelated(self) -> torch.Tensor:
        """The spatial image in decorrelated colour, before the sigmoid."""
        spectrum = torch.view_as_complex(self.spectrum * self._factors)
        return torch.fft.irfft2(spectrum, s=self.size, norm="ortho")

    @torch.no_grad()
    def assign_(self, x_paper: torch.Tensor) -> None:
        s = from_unit(self.units.paper_to_unit(x_paper), self.matrix) * MAGIC
        spectrum = torch.fft.rfft2(s, norm="ortho") / self.scale
        self.spectrum.copy_(torch.view_as_real(spectrum))
