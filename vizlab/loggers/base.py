"""One small interface for every logger; :class:`MultiLogger` isolates failures so a broken
remote logger never loses the local results."""

from __future__ import annotations

import logging
from typing import Any

from vizlab.methods.base import Result

log = logging.getLogger(__name__)


class Logger:
    name = "logger"

    def start(self, config: dict[str, Any]) -> None:
        """Open the run (``config`` is the resolved Hydra config)."""

    def log_result(self, result: Result) -> None:
        """Write a method's images, figures and metrics."""

    def finish(self) -> None:
        """Close the run."""


class MultiLogger(Logger):
    """Calls each logger in order; a failing logger is reported and dropped, others go on."""

    def __init__(self, loggers: list[Logger]):
        self.loggers = loggers
        self.failures: dict[str, str] = {}

    def _each(self, verb: str, *args) -> None:
        for logger in list(self.loggers):
            try:
                getattr(logger, verb)(*args)
            except Exception as err:  # noqa: BLE001 - isolation is the point
                if logger.name == "local":
                    raise
                self.failures[logger.name] = f"{type(err).__name__}: {err}"
                log.warning(
                    "%s logger failed during %s (%s: %s); local results are kept.",
                    logger.name,
                    verb,
                    type(err).__name__,
                    err,
                )
                self.loggers.remove(logger)

    def start(self, config: dict[str, Any]) -> None:
        self._each("start", config)

    def log_result(self, result: Result) -> None:
        self._each("log_result", result)

    def finish(self) -> None:
        self._each("finish")
