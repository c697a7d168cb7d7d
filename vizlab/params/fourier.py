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
        self._adjoint = (255.0 * self.matrix.t()).contiguous()
        """255 C^T: the colour step's gradient is 255 C^T (sigmoid'(.) grad)."""

    def decorrelated(self) -> torch.Tensor:
        raise NotImplementedError

    def paper(self) -> torch.Tensor:
        """255 sigmoid(C s) - 255 mean (= units.unit_to_paper of the sigmoid's RGB)."""
        return _PaperColour.apply(self.decorrelated(), self.matrix, self._offset, self._adjoint)


def _colour(
    s: torch.Tensor, matrix: torch.Tensor, offset: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """s -> (sigmoid(C s), 255 sigmoid(C s) + offset): the colour step forward."""
    rgb = torch.sigmoid(recorrelate(s, matrix))
    return rgb, torch.add(offset, rgb, alpha=255.0)


def _colour_grad(grad: torch.Tensor, rgb: torch.Tensor, adjoint: torch.Tensor) -> torch.Tensor:
    """The colour step's gradient 255 C^T (sigmoid'(.) grad), ``adjoint`` = 255 C^T."""
    return recorrelate(torch.ops.aten.sigmoid_backward(grad, rgb), adjoint)


def _inverse(spectrum: torch.Tensor, factors: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """spectrum -> irfft2(spectrum * factors), orthonormal."""
    return torch.fft.irfft2(torch.view_as_complex(spectrum * factors), s=size, norm="ortho")


def _inverse_grad(grad: torch.Tensor, adjoint: torch.Tensor) -> torch.Tensor:
    """The adjoint of :func:`_inverse`: the forward orthonormal transform with the columns
    that stand for two conjugate frequencies counted twice (torch's rule for ``irfft2``),
    folded with the factors into ``adjoint``."""
    return torch.view_as_real(torch.fft.rfft2(grad, norm="ortho")) * adjoint


class _PaperColour(torch.autograd.Function):
    """s -> 255 sigmoid(C s) + offset with the gradient written out, 255 C^T (sigmoid'(.) g):
    one autograd node and two passes backward instead of four nodes (product, view, sigmoid,
    scaled add) with a pass each; this runs every step of a spectral parameterization."""

    @staticmethod
    def forward(ctx, s, matrix, offset, adjoint):  # type: ignore[override]
        rgb, out = _colour(s, matrix, offset)
        ctx.save_for_backward(rgb, adjoint)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        rgb, adjoint = ctx.saved_tensors
        return _colour_grad(grad, rgb, adjoint), None, None, None


class _InverseSpectrum(torch.autograd.Function):
    """spectrum -> irfft2(spectrum * factors) (orthonormal) with the gradient written out
    (:func:`_inverse_grad`): one product backward instead of three."""

    @staticmethod
    def forward(ctx, spectrum, factors, adjoint, size):  # type: ignore[override]
        ctx.save_for_backward(adjoint)
        return _inverse(spectrum, factors, size)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (adjoint,) = ctx.saved_tensors
        return _inverse_grad(grad, adjoint), None, None, None


class _FourierPaper(torch.autograd.Function):
    """spectrum -> 255 sigmoid(C irfft2(spectrum * factors)) + offset: the two functions
    above as one autograd node (the same operations in the same order, forward and
    backward, so the same numbers), which saves the second node's calls from Python each
    way, every step of a Fourier parameterization."""

    @staticmethod
    def forward(ctx, spectrum, factors, adjoint_factors, size, matrix, offset, adjoint):  # type: ignore[override]
        rgb, out = _colour(_inverse(spectrum, factors, size), matrix, offset)
        ctx.save_for_backward(rgb, adjoint, adjoint_factors)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        rgb, adjoint, adjoint_factors = ctx.saved_tensors
        spectrum_grad = _inverse_grad(_colour_grad(grad, rgb, adjoint), adjoint_factors)
        return spectrum_grad, None, None, None, None, None, None


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
        twice = torch.ones(w // 2 + 1, 1, device=device)
        twice[1 : w - (w // 2 + 1) + 1] = 2.0  # columns standing for two conjugate frequencies
        self._adjoint_factors = self._factors * twice
        shape = (3, h, w // 2 + 1, 2)
        spectra = [torch.randn(shape, generator=g) for g in per_image(generators, batch)]
        self.spectrum = (torch.stack(spectra) * float(sd)).to(device).requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def decorrelated(self) -> torch.Tensor:
        """The spatial image in decorrelated colour, before the sigmoid."""
        return _InverseSpectrum.apply(
            self.spectrum, self._factors, self._adjoint_factors, self.size
        )

    def paper(self) -> torch.Tensor:
        """255 sigmoid(C s) - 255 mean of the spatial image s (as the base class, in one
        autograd node)."""
        return _FourierPaper.apply(
            self.spectrum,
            self._factors,
            self._adjoint_factors,
            self.size,
            self.matrix,
            self._offset,
            self._adjoint,
        )

    @torch.no_grad()
    def assign_(self, x_paper: torch.Tensor) -> None:
        s = from_unit(self.units.paper_to_unit(x_paper), self.matrix) * MAGIC
        spectrum = torch.fft.rfft2(s, norm="ortho") / self.scale
        self.spectrum.copy_(torch.view_as_real(spectrum))
