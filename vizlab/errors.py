"""User-facing errors: each names the bad value and what would be valid.

The runner and the CLI catch :class:`VizlabError`, print its message as one paragraph and
exit with a non-zero status, so a user never sees a stack trace for a mistake in their input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class VizlabError(Exception):
    """An error caused by user input or the environment, with an actionable message."""

    exit_code = 2


def nearest(value: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """The names in ``choices`` closest to ``value`` (for 'did you mean' hints)."""
    choices = list(choices)
    close = difflib.get_close_matches(value, choices, n=n, cutoff=0.5)
    if len(close) < n:
        # Also offer names sharing the user's prefix (e.g. 'blocks.9' -> 'blocks.6').
        stem = value.rsplit(".", 1)[0]
        close += [c for c in choices if c.startswith(stem) and c not in close][: n - len(close)]
    return close


def format_choices(choices: Iterable[str], limit: int = 12) -> str:
    choices = list(choices)
    shown = ", ".join(choices[:limit])
    return shown + (f", ... ({len(choices)} in all)" if len(choices) > limit else "")


class NonFiniteError(VizlabError):
    """An optimization produced a non-finite energy term or image (raise with the step and
    the term's name, and what to change: a smaller learning rate, a positive constant...)."""
