"""Where results go: the run's local folder (always) and Weights & Biases."""

from vizlab.loggers.base import Logger, MultiLogger
from vizlab.loggers.local import LocalLogger
from vizlab.loggers.wandb_logger import WandbLogger

__all__ = ["LocalLogger", "Logger", "MultiLogger", "WandbLogger"]
