"""Checks of ``method.*`` values shared by the texture and style methods: each bad value
becomes one VizlabError that names it and what would be valid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vizlab.errors import VizlabError


def positive_int(cfg: Mapping[str, Any], key: str, default: int | None = None) -> int:
    """``method.<key>`` as an integer >= 1."""
    value = cfg.get(key, default)
    try:
        out = int(value)
    except (TypeError, ValueError):
        out = 0
    if out < 1 or out != value:
        raise VizlabError(
            f"method.{key}={value!r} must be a positive integer (1 or more), e.g. "
            f"method.{key}={default or 1}."
        )
    return out


def one_of(cfg: Mapping[str, Any], key: str, choices: Sequence[str], default: str) -> str:
    """``method.<key>`` as one of ``choices``."""
    value = cfg.get(key, default)
    if value not in choices:
        raise VizlabError(
            f"method.{key}={value!r} is not supported. Valid: {' | '.join(choices)} "
            f"(default {default})."
        )
    return str(value)
