"""The capacity model (bench/capacity.py): its arithmetic, the template's defaults as its first
rate's parameters, and the documents it writes matching the committed bench results. No
measurement runs here."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bench import capacity, report
from bench.common import load
from local import template

MEASURED = {"predict_s": 0.05, "submit_s": 0.03, "status_s": 0.01, "done_s": 0.4,
            "statements": 7.0, "rows": 13.0, "db_ms": 0.2, "pg_cpu_s": 0.002,
            "ceiling_statements_per_s": 1000.0}  # fmt: skip
MEMORY = {"predict": 1769, "submit": 1024, "status": 1024}
DEFAULTS = {"MaxConcurrentWaits": 8, "DatabaseInstanceClass": "db.t4g.micro"}


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    """The model of the committed bench run, at the template's defaults."""
    facts = report.facts()
    defaults = template.parameter_defaults()
    return capacity.model(load(), defaults, facts.memory_mb, facts.batch_size)


@pytest.mark.parametrize(
    ("value", "nice"), [(0.3, 1), (1, 1), (3, 5), (40, 50), (50, 50), (51, 100), (4000, 5000)]
)
def test_parameters_are_rounded_up_to_one_two_or_five(value: float, nice: int) -> None:
    assert capacity._nice(value) == nice


def test_each_rate_gets_capacity_for_twice_its_load() -> None:
    for rate in (10, 100, 1000):
        p = capacity.parameters(rate, MEASURED, MEMORY, DEFAULTS)
        assert p["ApiThrottlingRateLimit"] >= 2 * rate * (1 + capacity.READS_PER_IMAGE)
        assert p["PredictMaxConcurrency"] * 1 / MEASURED["predict_s"] >= 2 * rate
        assert p["database"].sustained_vcpus >= 2 * rate * MEASURED["pg_cpu_s"]
        assert p["ApiThrottlingBurstLimit"] <= capacity.HTTP_API_ACCOUNT_BURST


def test_the_database_class_is_the_smallest_that_sustains_the_load() -> None:
    classes = [c.name for c in capacity.DATABASE_CLASSES]
    for rate in (10, 100, 1000):
        chosen = capacity.parameters(rate, MEASURED, MEMORY, DEFAULTS)["database"]
        smaller = capacity.DATABASE_CLASSES[: classes.index(chosen.name)]
        assert all(c.sustained_vcpus < 2 * rate * MEASURED["pg_cpu_s"] for c in smaller)


def test_waits_are_never_capped_below_the_default_and_held_for_an_upload_to_done() -> None:
    assert capacity.parameters(1, MEASURED, MEMORY, DEFAULTS)["MaxConcurrentWaits"] == 8
    assert capacity.parameters(1000, MEASURED, MEMORY, DEFAULTS)["MaxConcurrentWaits"] == 400


def test_the_first_bottleneck_is_the_limit_that_binds_at_the_lowest_rate() -> None:
    found = {"a": 30.0, "b": 20.0, "c": 500.0}
    assert capacity._binding(found, 100) == "b, at 20 images/s"
    assert capacity._binding(found, 10) == "none below 10 images/s: b, at 20"


def test_cost_per_image_grows_with_predict_s_memory_and_falls_with_the_batch() -> None:
    base = capacity.per_1000(MEASURED, MEMORY, 10)
    bigger = capacity.per_1000(MEASURED, {**MEMORY, "predict": 3538}, 10)
    assert bigger["predict"] > 1.9 * base["predict"]
    assert capacity.per_1000(MEASURED, MEMORY, 1)["predict"] > base["predict"]
    assert capacity.per_1000(MEASURED, MEMORY, 10)["S3 requests"] == pytest.approx(0.0054)


def test_the_template_defaults_are_the_first_rate_s_parameters(committed: dict[str, Any]) -> None:
    """A team's first month: the throttle, predict's concurrency, the waits' cap and the
    instance class the model gives 10 images/s are the template's defaults."""
    first = committed["tiers"][0]
    assert first["rate"] == 10
    defaults = template.parameter_defaults()
    for name in ("ApiThrottlingRateLimit", "ApiThrottlingBurstLimit", "PredictMaxConcurrency",
                 "MaxConcurrentWaits", "DatabaseInstanceClass", "PredictMemorySize"):  # fmt: skip
        assert first["params"][name] == defaults[name], name


def test_the_idle_costs_are_deploy_md_s(committed: dict[str, Any]) -> None:
    deploy = (report.DOC.parent / "deploy.md").read_text()
    (row,) = [line for line in deploy.splitlines() if line.startswith("| **Total idle**")]
    stated = [float(v) for v in re.findall(r"\*\*\$([\d.]+)\*\*", row)]
    assert stated == pytest.approx([committed["idle"]["production"], committed["idle"]["trial"]])


def test_scaling_md_and_the_readme_are_the_committed_run_s_model() -> None:
    """What `make bench` writes between the markers is what the committed results give: a
    change to the model, its templates or the results is followed by `python -m bench
    --report-only`."""
    r, facts = load(), report.facts()
    parts = capacity.render(
        r, template.parameter_defaults(), facts.memory_mb, facts.batch_size, report.environment()
    )
    for path, name in ((report.SCALING, "scaling"), (report.README, "readme")):
        text = path.read_text()
        assert capacity.between_markers(text, name, parts[name]) == text, path
