"""How many images of a pre-image problem fit in memory at once.

The estimate counts the activations the forward pass keeps for the backward pass: the output
of every leaf module that runs up to the deepest layer needed, for one image at the working
size, times a safety factor for their gradients and the optimizer's and transforms' copies.
It is a rough bound (it ignores the framework's workspace), so the engine's callers also halve
the batch when an out-of-memory error happens anyway.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch

from vizlab.models.wrapper import OUTPUT, VisionModel

SAFETY = 4.0
"""Activations, their gradients, and the image-side tensors (canvas, transforms, optimizer
state) per image, relative to the forward activations alone."""
USABLE = 0.5
"""Fraction of the free memory a batch may take (the model, caches and other jobs share it)."""


def free_memory(device: torch.device | str) -> int:
    """Free bytes on ``device``: CUDA's ``mem_get_info``, else the host's MemAvailable."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def bytes_per_image(model: VisionModel, layers: Sequence[str]) -> int:
    """Forward activations of one image (working size) up to the deepest of ``layers``."""
    shapes = model.output_shapes()
    wanted = [layer for layer in layers if layer != OUTPUT]
    depth = model.depth(model.deepest(wanted)) if wanted and OUTPUT not in layers else None
    names = list(shapes)
    leaves = [n for n in names if not any(m.startswith(n + ".") for m in names)]
    total = 0
    for name in leaves:
        if depth is not None and model.depth(name) > depth:
            continue
        total += math.prod(shapes[name][1:]) if len(shapes[name]) > 1 else 1
    h, w = model.spec.size
    total += 3 * h * w  # the image itself
    return int(total * 4)  # float32


def fitting_batch(
    model: VisionModel, layers: Sequence[str], wanted: int, budget: int | None = None
) -> int:
    """The largest batch <= ``wanted`` whose estimated memory fits ``USABLE`` of ``budget``
    bytes (default: the device's free memory); at least 1."""
    budget = free_memory(model.device) if budget is None else budget
    per_image = SAFETY * bytes_per_image(model, layers)
    return max(1, min(int(wanted), int(USABLE * budget // max(per_image, 1.0))))


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation failure (CUDA's OutOfMemoryError or a CPU one)."""
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )
