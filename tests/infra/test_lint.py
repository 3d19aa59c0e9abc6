"""cfn-lint on the template: no findings at all, and only justified checks switched off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfnlint.api import ManualArgs, lint_file

from tests.infra.conftest import TEMPLATE_PATH

# Every check the template switches off (its Metadata `cfn-lint: config: ignore_checks`),
# with the reason. Adding an ignore to the template without listing it here fails.
JUSTIFIED_IGNORES = {
    # Template-wide: cfn-lint resolves the Existing* parameters to their empty defaults
    # ("create it") and reports pattern mismatches on the Parameters; those branches are only
    # taken when the parameters are set, which the template's Rules enforce.
    ("<template>", "W1030"),
    # Database: EngineVersion "17" (major only) lets AutoMinorVersionUpgrade move minors
    # without the template pinning an older minor; cfn-lint lists bare majors as deprecated.
    ("Database", "W3691"),
}


def ignores(template: dict[str, Any]) -> set[tuple[str, str]]:
    found = {
        ("<template>", check)
        for check in template.get("Metadata", {})
        .get("cfn-lint", {})
        .get("config", {})
        .get("ignore_checks", [])
    }
    for name, resource in template["Resources"].items():
        config = resource.get("Metadata", {}).get("cfn-lint", {}).get("config", {})
        found |= {(name, check) for check in config.get("ignore_checks", [])}
    return found


def test_cfn_lint_reports_nothing() -> None:
    matches = lint_file(TEMPLATE_PATH)
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


# What a teardown (`sam delete`) or a replacement does with each kind of stateful resource
# (docs/deploy.md, Teardown): the data is kept (a final snapshot, the bucket), and so are the
# logs, which say what happened (a failed first deploy's rollback included) until their
# retention empties them; secrets and queues serve only the running stack.
TEARDOWN_POLICIES = {
    "AWS::RDS::DBInstance": "Snapshot",
    "AWS::S3::Bucket": "Retain",
    "AWS::Logs::LogGroup": "Retain",
    "AWS::SecretsManager::Secret": "Delete",
    "AWS::SQS::Queue": "Delete",
}


def test_every_stateful_resource_says_what_a_teardown_keeps(resources: dict[str, Any]) -> None:
    for name, resource in resources.items():
        expected = TEARDOWN_POLICIES.get(resource["Type"])
        if expected:
            policies = (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy"))
            assert policies == (expected, expected), name


def test_cfn_lint_finds_no_stateful_resource_left_to_the_default() -> None:
    """cfn-lint's informational I3011: a stateful resource without explicit policies (the
    default deletes it). No informational finding at all, so a new kind is decided too."""
    matches = lint_file(TEMPLATE_PATH, config=ManualArgs(include_checks=["I"]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_only_justified_checks_are_ignored(template: dict[str, Any]) -> None:
    assert ignores(template) <= JUSTIFIED_IGNORES
    # and nothing switches a whole class of errors off
    assert not any(check.startswith("E") for _, check in ignores(template))


def test_cfn_lint_would_catch_a_broken_template(tmp_path: Path) -> None:
    """The harness really lints: the same template with two mistakes is reported twice."""
    text = TEMPLATE_PATH.read_text()
    broken = text.replace(
        "RequireTLS: !If [ProxyRequiresTls, true, false]", "RequireTLS: sometimes"
    ).replace("VisibilityTimeout: 390", "VisibilityTimeout: 99999")
    assert broken.count("sometimes") == 1 and broken.count("99999") == 1
    path = tmp_path / "template.yaml"
    path.write_text(broken)
    errors = [m.message for m in lint_file(path) if m.rule.id.startswith("E")]
    assert any("sometimes" in e for e in errors), errors
    assert any("99999" in e for e in errors), errors
