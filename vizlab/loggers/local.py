"""Writes PNG images, figures, ``metrics.json`` and the resolved config into the run folder."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vizlab.loggers.base import Logger
from vizlab.methods.base import Result


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def save_png(array: np.ndarray, path: Path) -> None:
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(array).save(path)


class LocalLogger(Logger):
    name = "local"

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.files: list[Path] = []

    def start(self, config: dict[str, Any]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        from omegaconf import OmegaConf

        path = self.run_dir / "config.yaml"
        path.write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
        self.files.append(path)

    def log_result(self, result: Result) -> None:
        for name, image in result.images.items():
            path = self.run_dir / f"{name}.png"
            save_png(image, path)
            self.files.append(path)
        for name, figure in result.figures.items():
            path = self.run_dir / f"{name}.png"
            figure.savefig(path, dpi=110)
            self.files.append(path)
        path = self.run_dir / "metrics.json"
        path.write_text(json.dumps(_jsonable(result.metrics), indent=2))
        self.files.append(path)
