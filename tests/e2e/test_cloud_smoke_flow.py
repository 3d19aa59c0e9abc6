"""The cloud smoke test's flow (scripts/cloud_smoke.py), run as a user runs it, on the local
stack: what it checks on a deployed stack holds here first, on both emulators, so a failure
in the cloud is the cloud's and not the script's."""

from __future__ import annotations

import subprocess
import sys

from local.config import REPO_ROOT
from local.launcher import RunningStack
from tests.photos import SHARED_IMAGES


def test_the_seed_flow_passes_on_the_local_stack(stack: RunningStack) -> None:
    run = subprocess.run(
        [sys.executable, "scripts/cloud_smoke.py", "flow", "--api", stack.api_url,
         "--photos", str(SHARED_IMAGES)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    checks = [line for line in run.stdout.splitlines() if line.startswith("  ok: ")]
    assert len(checks) == 6, run.stdout
    assert "direct upload: dog" in run.stdout and "answers 404" in run.stdout
