"""Weights & Biases logging: offline by default (no account, no network), online when the user
sets ``logger.wandb.mode=online``. Jobs of a Hydra sweep share a W&B group."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vizlab.loggers.base import Logger
from vizlab.methods.base import Result


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, bool))}


class WandbLogger(Logger):
    name = "wandb"

    def __init__(
        self,
        run_dir: str | Path,
        project: str = "vizlab",
        mode: str = "offline",
        group: str | None = None,
        name: str | None = None,
        entity: str | None = None,
        tags: list[str] | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.kwargs = dict(
            project=project, mode=mode, group=group, name=name, entity=entity, tags=tags
        )
        self.run = None

    def start(self, config: dict[str, Any]) -> None:
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            dir=str(self.run_dir),
            config=config,
            reinit="finish_previous",
            settings=wandb.Settings(console="off", _disable_stats=True, x_disable_meta=True),
            **{k: v for k, v in self.kwargs.items() if v is not None},
        )

    def log_result(self, result: Result) -> None:
        import wandb

        payload: dict[str, Any] = dict(_scalars(result.metrics))
        for name, image in result.images.items():
            payload[f"images/{name}"] = wandb.Image(image)
        for name, figure in result.figures.items():
            payload[f"figures/{name}"] = wandb.Image(figure)
        self.run.log(payload)
        for key, value in result.metrics.items():
            if not isinstance(value, (int, float, bool)):
                self.run.summary[key] = value

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
