"""Set-up of a process that runs vizlab's command line (``python run.py``, ``vizlab run``).

Two costs of such a process are not the job's own work:

* Hydra composes the config twice before a run: once to read ``hydra.mode`` (whether the
  command is a single run or a sweep) and once for the run itself, from the same overrides.
  The second composition reuses the first one's merge (:mod:`vizlab.config_reuse`) while the
  command runs (the defaults list is built again: the mode check builds it skipping missing
  group values, the run does not); a sweep starts its own reuse when it begins.
* When the interpreter exits, CPython's cyclic garbage collector walks every object still
  alive: the half million or so that torch, timm, matplotlib and Hydra leave behind.
  :func:`skip_exit_collection` freezes them out of that walk (``gc.freeze``, in an
  ``atexit`` handler). What it skips is finalizing objects that are unreachable garbage
  cycles at exit, which Python does not promise either ("It is not guaranteed that __del__()
  methods are called for objects that still exist when the interpreter exits", Python's data
  model, ``object.__del__``). The clean-ups a program relies on at exit still run: every
  ``atexit`` handler (logging's flush, W&B's teardown) and ``weakref.finalize``; and vizlab
  writes its files inside ``with`` blocks, closed when the job returns.

Only the command-line entry points enter :func:`prepared`: a program that imports vizlab as a
library keeps its own interpreter's behaviour.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

from vizlab.config import register_plugin_configs
from vizlab.config_reuse import forget_compositions, reuse_compositions

_exit_freeze = {"registered": False}


def skip_exit_collection() -> None:
    """Freeze what is alive when the interpreter exits, so its last collection skips it.

    Registered once per process. ``atexit`` calls handlers last-registered-first, so this runs
    before the handlers of libraries imported earlier (logging, W&B): the objects those create
    while closing down are still collected as usual."""
    if not _exit_freeze["registered"]:
        _exit_freeze["registered"] = True
        atexit.register(gc.freeze)


@contextmanager
def prepared() -> Iterator[None]:
    """Around a command line's hand-over to Hydra: the plugins' config folders registered,
    compositions reused until it returns (or exits), the exit's collection skipped."""
    register_plugin_configs()
    skip_exit_collection()
    reuse_compositions()
    try:
        yield
    finally:
        forget_compositions()
