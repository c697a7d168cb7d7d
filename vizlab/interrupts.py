"""Ctrl-C and SIGTERM as one thing: a request to stop that keeps what was computed.

While a job computes, both signals raise :class:`KeyboardInterrupt` (the pre-image engine
turns that into a partial result). While results are being written, and between the jobs of a
sweep, a signal only records the request (:func:`stop_requested`), so files are never cut in
half and the sweep stops at the next job, after writing its summary. Signal handlers can only
be set from the main thread; elsewhere these helpers do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested: list[int] = []


def _raise(signum: int, _frame) -> None:
    _requested.append(signum)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _record(signum: int, _frame) -> None:
    _requested.append(signum)


def stop_requested() -> bool:
    """Whether SIGINT or SIGTERM arrived since the last :func:`clear`."""
    return bool(_requested)


def clear() -> None:
    _requested.clear()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _handlers(handler) -> Iterator[None]:
    if not _main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


@contextmanager
def as_keyboard_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM (like SIGINT) raises :class:`KeyboardInterrupt`."""
    with _handlers(_raise):
        yield


@contextmanager
def deferred() -> Iterator[None]:
    """Inside the block, SIGINT and SIGTERM are recorded rather than raised (writing results
    must finish); check :func:`stop_requested` afterwards."""
    with _handlers(_record):
        yield


def defer_for_process() -> None:
    """From now on, signals outside :func:`as_keyboard_interrupt` blocks only record a stop
    request (installed for the length of a sweep, so a signal between jobs stops it cleanly)."""
    if _main_thread():
        for s in SIGNALS:
            signal.signal(s, _record)
