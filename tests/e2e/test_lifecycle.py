"""`make local` stops everything it started on Ctrl-C: no process, no listening port."""

from __future__ import annotations

from pathlib import Path

import psutil

from local.launcher import port_open, running_stack


def test_ctrl_c_leaves_nothing_running(tmp_path: Path) -> None:
    with running_stack(tmp_path / "stack") as stack:
        children = psutil.Process(stack.process.pid).children(recursive=True)
        assert len(children) >= 3  # PostgreSQL, moto server, poller (and their helpers)
        assert all(port_open(p) for p in stack.ports.values())

        exit_code = stack.interrupt()

    assert exit_code == 0, stack.log()
    assert not any(port_open(p) for p in stack.ports.values())
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left running: {[p.cmdline() for p in alive]}"
