"""The set-up of a command-line process: the exit's collection skipped (after the exit
clean-ups that matter) and Hydra's compositions reused only while the command runs."""

import subprocess
import sys
import textwrap

import pytest

from vizlab import command_process, config_reuse

EXITING = textwrap.dedent(
    """
    import atexit, gc, weakref
    from vizlab import command_process

    class Node:
        pass

    cycle = Node()
    cycle.self = cycle
    weakref.finalize(cycle, print, "finalize ran")
    atexit.register(print, "earlier handler ran")
    before = atexit._ncallbacks()
    command_process.skip_exit_collection()
    command_process.skip_exit_collection()
    print("registered", atexit._ncallbacks() - before)
    atexit.register(lambda: print("later handler saw", gc.get_freeze_count(), "frozen"))
    atexit.register(lambda: open(OUT, "w").write("written at exit"))
    """
)


def test_the_exit_freeze_is_registered_once_and_the_exit_clean_ups_still_run(tmp_path):
    out = tmp_path / "out.txt"
    code = f"OUT = {str(out)!r}\n" + EXITING
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "registered 1" in lines
    assert "later handler saw 0 frozen" in lines  # handlers registered after it run before it
    assert "earlier handler ran" in lines
    assert "finalize ran" in lines  # weakref.finalize's exit hook is not skipped
    assert out.read_text() == "written at exit"


def test_compositions_are_reused_only_inside_the_command(monkeypatch):
    monkeypatch.setattr(command_process, "skip_exit_collection", lambda: None)
    assert not config_reuse._state["active"]
    with pytest.raises(SystemExit), command_process.prepared():
        assert config_reuse._state["active"]
        config_reuse._merged[("kept",)] = object()
        raise SystemExit(2)  # how Hydra ends a command that failed
    assert not config_reuse._state["active"]
    assert not config_reuse._merged
