"""One small interface for every logger; :class:`MultiLogger` isolates failures so a broken
remote logger never loses the local results."""

from __future__ import annotations

import logging
import math
from typing import Any

from vizlab.methods.base import Result

log = logging.getLogger(__name__)


NONFINITE_KEY = "nonfinite_metrics"
"""Metrics key listing the metrics whose non-finite values (NaN, inf) were written as null."""


def _finite_or_none(value: Any) -> tuple[Any, bool]:
    """(value with NaN/inf replaced by None, whether any was), through lists and dicts."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy / torch scalars
    if isinstance(value, float):
        return (value, False) if math.isfinite(value) else (None, True)
    if isinstance(value, (list, tuple)):
        pairs = [_finite_or_none(v) for v in value]
        return [v for v, _ in pairs], any(bad for _, bad in pairs)
    if isinstance(value, dict):
        pairs = {k: _finite_or_none(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(bad for _, bad in pairs.values())
    return value, False


def flag_nonfinite(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with every non-finite number written as None and the names of those metrics
    listed under :data:`NONFINITE_KEY`, so a null in ``metrics.json`` always says why."""
    out: dict[str, Any] = {}
    flagged = list(metrics.get(NONFINITE_KEY) or [])
    for key, value in metrics.items():
        if key == NONFINITE_KEY:
            continue
        out[key], bad = _finite_or_none(value)
        if bad and key not in flagged:
            flagged.append(key)
    if flagged:
        out[NONFINITE_KEY] = flagged
    return out


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
