"""Import timm without importing wandb.

timm's training utilities import wandb when it is installed (``timm.utils.summary``, for its
training scripts' ``--log-wandb``), and every ``import timm`` loads them: about 0.5-0.8 s of a
run that logs nothing to W&B. :func:`import_timm` keeps wandb out while timm loads and gives
``timm.utils.summary`` a stand-in that imports wandb on first use, so timm behaves the same.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any


class ImportOnUse:
    """Stands for module ``name`` and imports it when one of its attributes is used."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


def import_timm() -> ModuleType:
    """``import timm``, skipping its eager ``import wandb`` when wandb is not loaded yet."""
    if "timm" in sys.modules or sys.modules.get("wandb") is not None:
        return importlib.import_module("timm")
    sys.modules["wandb"] = None  # type: ignore[assignment] - `import wandb` raises ImportError
    try:
        timm = importlib.import_module("timm")
    except ImportError:  # a timm that needs wandb to import: import both as they are
        for name in [n for n in sys.modules if n == "timm" or n.startswith("timm.")]:
            del sys.modules[name]
        del sys.modules["wandb"]
        return importlib.import_module("timm")
    finally:
        if "wandb" in sys.modules and sys.modules["wandb"] is None:
            del sys.modules["wandb"]
    summary = sys.modules.get("timm.utils.summary")
    if summary is not None and not hasattr(summary, "wandb"):
        summary.wandb = ImportOnUse("wandb")  # type: ignore[attr-defined]
    return timm
