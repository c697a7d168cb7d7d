"""After a process's first sweep job, what survives is frozen out of the cyclic collector's
passes (once), and the garbage of that job is collected first, never frozen."""

import gc
import weakref

import pytest

from vizlab import sweep
from vizlab.sweep import SweepSummary


class _Node:
    pass


@pytest.fixture
def fresh_process(monkeypatch):
    monkeypatch.setitem(sweep._first_job_done, "frozen", False)
    yield
    gc.unfreeze()


def test_the_first_job_freezes_the_survivors_after_collecting_its_garbage(fresh_process):
    survivor = {"model": [1, 2, 3]}
    garbage = _Node()
    garbage.self = garbage  # a cycle only the collector frees
    dead = weakref.ref(garbage)
    del garbage
    SweepSummary().on_job_end(config=None, job_return=None)
    assert dead() is None  # collected, not frozen
    assert gc.get_freeze_count() > 0
    assert not any(obj is survivor for obj in gc.get_objects())  # out of the collector's view


def test_later_jobs_neither_collect_nor_freeze_again(fresh_process, monkeypatch):
    SweepSummary().on_job_end(config=None, job_return=None)
    frozen = gc.get_freeze_count()
    monkeypatch.setattr(sweep.gc, "collect", lambda *a: pytest.fail("collected again"))
    later = _Node()
    SweepSummary().on_job_end(config=None, job_return=None)
    assert gc.get_freeze_count() == frozen
    assert any(obj is later for obj in gc.get_objects())  # a later job's objects stay collectable


def _job_config(mode):
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    return OmegaConf.create({"hydra": {"mode": getattr(RunMode, mode)}, "method": {}})


def test_a_single_run_neither_collects_nor_freezes_at_its_end(fresh_process, monkeypatch):
    monkeypatch.setattr(sweep.gc, "collect", lambda *a: pytest.fail("collected"))
    SweepSummary().on_job_end(config=_job_config("RUN"), job_return=None)
    assert gc.get_freeze_count() == 0
    monkeypatch.undo()
    monkeypatch.setitem(sweep._first_job_done, "frozen", False)
    SweepSummary().on_job_end(config=_job_config("MULTIRUN"), job_return=None)
    assert gc.get_freeze_count() > 0  # a sweep's job does
