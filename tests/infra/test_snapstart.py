"""SnapStart on the API functions: a published version's init is snapshotted and the HTTP API
calls the alias SAM publishes (AutoPublishAlias), so every cold start of submit and status is
a restore. SnapStart's own limits: zip functions only, no provisioned concurrency, no EFS,
ephemeral storage of at most 512 MB."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import function_property

SNAPSTART_FUNCTIONS = {"SubmitFunction", "StatusFunction"}
SNAPSTART_RUNTIMES = {"python3.12", "python3.13"}  # Python SnapStart starts with 3.12


def snapstart_of(template: dict[str, Any], function: dict[str, Any]) -> Any:
    return function_property(template, function, "SnapStart")


def test_the_api_functions_resume_from_a_snapshot_of_their_published_alias(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    for name in SNAPSTART_FUNCTIONS:
        function = functions[name]
        assert snapstart_of(template, function) == {"ApplyOn": "PublishedVersions"}, name
        # SnapStart works on published versions only: the events must call the alias.
        assert function_property(template, function, "AutoPublishAlias") == "live", name
        assert function["Properties"]["Runtime"] in SNAPSTART_RUNTIMES, name


def test_only_the_api_functions_use_snapstart(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    """Not predict: a container image cannot use SnapStart."""
    with_snapstart = {n for n, f in functions.items() if snapstart_of(template, f)}
    assert with_snapstart == SNAPSTART_FUNCTIONS
    assert functions["PredictFunction"]["Properties"]["PackageType"] == "Image"


def test_snapstart_functions_use_nothing_snapstart_refuses(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    for name in SNAPSTART_FUNCTIONS:
        function = functions[name]
        assert function_property(template, function, "ProvisionedConcurrencyConfig") is None
        assert not function_property(template, function, "FileSystemConfigs"), name
        storage = function_property(template, function, "EphemeralStorage") or {"Size": 512}
        assert storage["Size"] <= 512, name
        assert function_property(template, function, "PackageType") in (None, "Zip"), name
