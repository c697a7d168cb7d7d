"""Reproduce the papers' figures and tables by command (``vizlab reproduce``)."""

from vizlab.reproduce.cli import main

__all__ = ["main"]
