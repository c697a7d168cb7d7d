"""A small convolutional classifier that is not a timm model: what "your own network" looks
like to vizlab. ``build`` is the factory ``conf/model/example_cnn.yaml`` names as
``_target_``; any function or class that returns a ``torch.nn.Module`` works the same way."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


def conv_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """3 x 3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class SmallCNN(nn.Module):
    """A stem and one stride-2 block per width, global average pooling, a linear head.
    Layers are addressed as ``stem``, ``stages.0``, ``stages.1``, ..., ``head``."""

    def __init__(self, widths: Sequence[int] = (16, 32, 64), num_classes: int = 10):
        super().__init__()
        widths = list(widths)
        self.stem = conv_block(3, widths[0], stride=2)
        self.stages = nn.Sequential(
            *(conv_block(a, b, stride=2) for a, b in zip(widths, widths[1:]))
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.stages(self.stem(x))).flatten(1))


def build(widths: Sequence[int] = (16, 32, 64), num_classes: int = 10) -> SmallCNN:
    """The factory of ``model=example_cnn`` (random weights; pass ``model.checkpoint`` for
    trained ones)."""
    return SmallCNN(widths, num_classes)
