"""Visualization methods. Each is registered under the ``vizlab.methods`` entry-point group
(see pyproject.toml) and discovered by :mod:`vizlab.registry`."""

from vizlab.methods.base import Method, Result, RunContext

__all__ = ["Method", "Result", "RunContext"]
