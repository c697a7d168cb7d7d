"""SmoothGrad (Smilkov, Thorat, Kim, Viegas & Wattenberg 2017, Eq. 3): the average of an
attribution over n copies of the input with Gaussian noise N(0, sigma^2), sigma given as a
fraction ``noise_level`` of the input's value range (x_max - x_min); their Sect. 3.2 finds
10-20 % and n ~ 50 good. ``squared=True`` averages squared attributions (SmoothGrad-Squared,
Hooker et al. 2019) -- what the authors' released code (PAIR-code/saliency,
``GetSmoothedMask(..., magnitude=True)``) does by default; the signed average keeps more
residual noise after 25 samples."""

from __future__ import annotations

import torch
from torch import Tensor

from vizlab.attribution.base import Attribution, Target, chunks, repeat_target


class SmoothGrad(Attribution):
    """Noise-averaged version of another attribution method (captum's ``NoiseTunnel``)."""

    def __init__(self, attribution: Attribution):
        super().__init__(attribution.forward_func)
        self.inner = attribution

    def attribute(
        self,
        inputs: Tensor,
        target: Target = None,
        n_samples: int = 25,
        noise_level: float = 0.15,
        squared: bool = False,
        batch_size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``batch_size`` bounds the noisy images per call of the inner method."""
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        n = inputs.shape[0]
        span = inputs.flatten(1).amax(1) - inputs.flatten(1).amin(1)
        sigma = (noise_level * span).view(n, *([1] * (inputs.dim() - 1)))
        noise = torch.randn(
            (n, n_samples, *inputs.shape[1:]), generator=generator, dtype=inputs.dtype
        ).to(inputs.device)
        noisy = (inputs.unsqueeze(1) + sigma.unsqueeze(1) * noise).flatten(0, 1)
        targets = repeat_target(target, n_samples)
        total = torch.zeros_like(noisy)
        for part in chunks(noisy.shape[0], batch_size):
            t = targets[part] if isinstance(targets, Tensor) and targets.numel() > 1 else targets
            attr = self.inner.attribute(noisy[part], t)
            total[part] = attr.pow(2) if squared else attr
        return total.view(n, n_samples, *inputs.shape[1:]).mean(1)
