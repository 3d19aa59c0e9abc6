"""The local stack's modules depend one way: the template reader needs nothing else of
`local`, and the configuration builds on it (they once imported each other)."""

from __future__ import annotations

import subprocess
import sys

from local.template import REPO_ROOT


def imported_by(module: str) -> set[str]:
    probe = (
        f"import sys, {module}; print(' '.join(m for m in sys.modules if m.startswith('local')))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(output.split())


def test_the_template_reader_imports_nothing_else_of_local() -> None:
    assert imported_by("local.template") == {"local", "local.template"}


def test_the_configuration_builds_on_the_template_reader() -> None:
    assert imported_by("local.config") == {"local", "local.template", "local.config"}
