"""Writes PNG images, figures, ``metrics.json`` and the resolved config into the run folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vizlab.loggers.base import Logger, flag_nonfinite
from vizlab.methods.base import Result


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def write_json(path: Path, data: Any) -> None:
    """Write strict JSON atomically (no NaN tokens; a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_jsonable(data), indent=2, allow_nan=False, default=str))
    os.replace(tmp, path)


PNG_COMPRESSION = 1
"""zlib level of the PNGs a run writes: level 1 encodes a labelled grid ~5x faster than
PIL's default 6 (13 against 72 ms here) for files ~15 % larger; PNG stays lossless."""


def save_png(array: np.ndarray, path: Path) -> None:
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        array = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(array).save(path, compress_level=PNG_COMPRESSION)


def config_yaml(config: dict[str, Any]) -> str:
    """``OmegaConf.to_yaml(OmegaConf.create(config))``. A resolved config of plain values
    (what a run gets) is dumped directly as to_yaml dumps its container, the same text without
    building the OmegaConf nodes first; anything else goes through OmegaConf."""
    from omegaconf import OmegaConf

    if not _plain(config):
        return OmegaConf.to_yaml(OmegaConf.create(config))
    import yaml
    from omegaconf._utils import get_omega_conf_dumper

    return yaml.dump(
        config,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        Dumper=get_omega_conf_dumper(),
    )


def _plain(value: Any, seen: set[int] | None = None) -> bool:
    """Only dicts with string keys, lists, strings, numbers, booleans and None, no container
    twice (YAML would write the second as an alias of the first; OmegaConf copies it)."""
    seen = set() if seen is None else seen
    if type(value) in (dict, list):
        if id(value) in seen:
            return False
        seen.add(id(value))
        if type(value) is list:
            return all(_plain(v, seen) for v in value)
        return all(type(k) is str and _plain(v, seen) for k, v in value.items())
    return value is None or type(value) in (str, int, float, bool)


class LocalLogger(Logger):
    name = "local"

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.files: list[Path] = []
        self.written: dict[tuple[str, str], Path] = {}
        """The PNG of each image and figure (key ``("image" | "figure", name)``) written by
        :meth:`log_result`, so a later logger can send the file instead of drawing it again."""

    def start(self, config: dict[str, Any]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "config.yaml"
        path.write_text(config_yaml(config))
        self.files.append(path)

    def log_result(self, result: Result) -> None:
        for name, image in result.images.items():
            path = self.run_dir / f"{name}.png"
            save_png(image, path)
            self.files.append(path)
            self.written[("image", name)] = path
        for name, figure in result.figures.items():
            path = self.run_dir / f"{name}.png"
            figure.savefig(path, dpi=110, pil_kwargs={"compress_level": PNG_COMPRESSION})
            self.files.append(path)
            self.written.pop(("image", name), None)  # the figure took that file's name
            self.written[("figure", name)] = path
        self.files.append(self.write_metrics(result.metrics))

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        """(Re)write ``metrics.json``: non-finite values as null, listed under
        ``nonfinite_metrics``."""
        path = self.run_dir / "metrics.json"
        write_json(path, flag_nonfinite(metrics))
        return path
