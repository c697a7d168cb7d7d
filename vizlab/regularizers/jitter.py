"""Jitter, the implicit regularizer of Eq. (7) (Sect. 3.2.3).

jitter(x; tau)(v, u) = x(v + tau_2, u + tau_1) with tau uniform in {0..T-1}^2. We optimize an
image T-1 pixels larger than the network input, so that every jittered crop has exactly the
input size and its feature map aligns with the reference code Phi_0 (the paper's
1 <= v <= H-T+1 crop of an HxW image would change the feature-map size instead). The reported
pre-image is the central crop, which is also the crop used when jitter is off (fine-tuning).
"""

from __future__ import annotations

import torch


class Jitter:
    def __init__(self, T: int):
        if T < 1:
            raise ValueError(f"jitter T must be >= 1, got {T}")
        self.T = int(T)

    @property
    def pad(self) -> int:
        """How many pixels larger than the input the optimized image is."""
        return self.T - 1

    def sample(self, generator: torch.Generator | None = None) -> tuple[int, int]:
        if self.T == 1:
            return 0, 0
        t = torch.randint(0, self.T, (2,), generator=generator)
        return int(t[0]), int(t[1])

    def center(self) -> tuple[int, int]:
        return self.pad // 2, self.pad // 2

    def crop(self, x: torch.Tensor, tau: tuple[int, int]) -> torch.Tensor:
        if self.pad == 0:  # the whole image: no view, and no slice node in the graph
            return x
        ty, tx = tau
        h, w = x.shape[-2] - self.pad, x.shape[-1] - self.pad
        return x[..., ty : ty + h, tx : tx + w]
