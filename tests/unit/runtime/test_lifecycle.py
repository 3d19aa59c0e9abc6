"""Work done in an execution environment's init phase: only when Lambda (or make local's
runtime) says this import is one."""

from __future__ import annotations

from dogdetect.runtime.lifecycle import INIT_TYPE_VARIABLE, load_during_init


def test_an_init_phase_loads_before_the_first_event() -> None:
    loaded: list[str] = []
    for init_type in ("on-demand", "provisioned-concurrency", "snap-start"):
        load_during_init(lambda: loaded.append("model"), {INIT_TYPE_VARIABLE: init_type})
    assert loaded == ["model"] * 3


def test_an_import_outside_lambda_loads_nothing() -> None:
    loaded: list[str] = []
    load_during_init(lambda: loaded.append("model"), {})
    load_during_init(lambda: loaded.append("model"), {INIT_TYPE_VARIABLE: ""})
    assert loaded == []
