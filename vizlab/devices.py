"""Which device a run computes on."""

from __future__ import annotations

import torch

from vizlab.errors import VizlabError


def resolve_device(name: str | None) -> torch.device:
    name = name or "cpu"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise VizlabError(
            f"device={name} was requested but CUDA is not available on this machine. "
            "Use device=cpu (or device=auto to pick CUDA when present)."
        )
    if name != "cpu" and not name.startswith("cuda") and name != "mps":
        raise VizlabError(f"device={name} is not valid; use cpu, cuda, cuda:N or auto.")
    return torch.device(name)
