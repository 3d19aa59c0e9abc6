"""`make local` stops everything it started on Ctrl-C: no process, no listening port."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import psutil

from local.config import REPO_ROOT, Emulator
from local.launcher import port_open, running_stack


def test_ctrl_c_leaves_nothing_running(tmp_path: Path, emulator: Emulator) -> None:
    with running_stack(tmp_path / "stack", emulator=emulator) as stack:
        children = psutil.Process(stack.process.pid).children(recursive=True)
        assert len(children) >= 3  # PostgreSQL, the AWS emulator, poller (and their helpers)
        assert all(port_open(p) for p in stack.ports.values())

        exit_code = stack.interrupt()

    assert exit_code == 0, stack.log()
    assert not any(port_open(p) for p in stack.ports.values())
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left running: {[p.cmdline() for p in alive]}"


def test_a_taken_port_is_named_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "local", "--state-dir", str(tmp_path), "--api-port", str(port)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 1
    assert f"in use: {port} (API_PORT)" in run.stderr
    assert not (tmp_path / "postgres").exists()  # refused before starting anything
