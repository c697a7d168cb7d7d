"""vizlab: config-driven visualization of image classifiers (timm CNNs, ViTs, any PyTorch
model).

``vizlab.run(*overrides, model=None)`` runs a method as the command line does,
``vizlab.context(*overrides)`` builds what a method receives, and ``vizlab.render(model,
"layer:channel")`` is the pre-image engine in one call. They are imported on first use, so
``import vizlab`` stays cheap (no torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["context", "render", "run"]

_LAZY = {"run": "vizlab.api", "context": "vizlab.api", "render": "vizlab.preimage"}

if TYPE_CHECKING:
    from vizlab.api import context, run
    from vizlab.preimage import render


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vizlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
