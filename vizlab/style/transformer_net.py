"""A small feed-forward image transformation network for fast style transfer (Johnson et al.
2016): strided-conv encoder, residual blocks, upsample-conv decoder, with instance
normalization (Ulyanov et al. 2016). Sized to train on a CPU in a few hundred steps at 128 px.

The output is ``sigmoid(logit(x) + net(x))`` with the last convolution initialized to zero,
so the untrained network is the identity and training only has to learn the stylization.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from vizlab.errors import VizlabError


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride))


def _conv_norm_relu(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        _conv(c_in, c_out, kernel, stride), nn.InstanceNorm2d(c_out, affine=True), nn.ReLU()
    )


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            _conv_norm_relu(channels, channels, 3),
            _conv(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsample(nn.Module):
    """Nearest upsampling then convolution (avoids the checkerboard of transposed convs)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = _conv_norm_relu(c_in, c_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))


class TransformerNet(nn.Module):
    """Image (N x 3 x H x W in [0, 1], H and W multiples of 4) -> stylized image, same shape."""

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 64), residual_blocks: int = 3):
        super().__init__()
        c1, c2, c3 = (int(c) for c in channels)
        self.arch = {"channels": [c1, c2, c3], "residual_blocks": int(residual_blocks)}
        self.encoder = nn.Sequential(
            _conv_norm_relu(3, c1, 9), _conv_norm_relu(c1, c2, 3, 2), _conv_norm_relu(c2, c3, 3, 2)
        )
        self.residuals = nn.Sequential(*[ResidualBlock(c3) for _ in range(residual_blocks)])
        self.decoder = nn.Sequential(Upsample(c3, c2), Upsample(c2, c1))
        self.head = _conv(c1, 3, 9)
        nn.init.zeros_(self.head[1].weight)
        nn.init.zeros_(self.head[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % 4, -w % 4
        y = nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x
        y = self.head(self.decoder(self.residuals(self.encoder(y))))[..., :h, :w]
        return torch.sigmoid(torch.logit(x.clamp(1e-3, 1 - 1e-3)) + y)


def save_transformer(net: TransformerNet, path: str | Path, **meta: Any) -> Path:
    """Write the weights, the architecture and ``meta`` (style name, layers, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": net.state_dict(), "arch": net.arch, "meta": meta}, path)
    return path


def load_transformer(path: str | Path) -> tuple[TransformerNet, dict[str, Any]]:
    """The network saved by :func:`save_transformer` (weights-only load) and its metadata."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise VizlabError(
            f"method.checkpoint='{path}' does not exist. Give the .pt file a fast_style run "
            "saved (its path is the metric 'checkpoint'), or null to train a new network."
        )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        net = TransformerNet(tuple(blob["arch"]["channels"]), blob["arch"]["residual_blocks"])
        net.load_state_dict(blob["state_dict"])
    except Exception as err:  # noqa: BLE001 - any unreadable file becomes one clear message
        raise VizlabError(
            f"method.checkpoint='{path}' is not a fast-style network saved by vizlab "
            f"({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}). "
            "Train one with `python run.py method=fast_style` and pass the saved .pt path."
        ) from err
    return net.eval(), dict(blob.get("meta") or {})
