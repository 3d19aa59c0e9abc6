"""/health asks every dependency at once: one that hangs costs its timeout once."""

from __future__ import annotations

import threading

from dogdetect.service.health import check_dependencies


def test_dependencies_are_probed_at_the_same_time() -> None:
    # Each probe answers only once all three are running: in turn, the first would time out.
    together = threading.Barrier(3, timeout=5)

    def probe() -> None:
        together.wait()

    checks = check_dependencies({"database": probe, "storage": probe, "queue": probe})
    assert checks == {"database": "ok", "storage": "ok", "queue": "ok"}
