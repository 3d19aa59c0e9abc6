"""The process a bench worker measures in: sys.path as Lambda sets it, ultralytics offline,
and the process's own peak memory."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "layers" / "core"


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM is the high-water mark of this program's own
    address space; ru_maxrss is its fallback, which on Linux also counts the parent's memory
    copied at fork (exec keeps the larger), so it can only read high."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def lambda_path(function: str) -> None:
    """sys.path as in Lambda: the function's code, then the layer (/opt/python)."""
    sys.path[:0] = [str(REPO / "functions" / function), str(CORE)]


def core_path() -> None:
    sys.path.insert(0, str(CORE))


def offline() -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
