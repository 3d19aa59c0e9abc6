"""SAM's own translator (samtranslator, the SAM CLI's venv): reads a SAM template as JSON on
stdin and writes the CloudFormation template it makes on stdout, as `sam deploy` would have
CloudFormation's transform make it. Arguments `Name=Value` are the stack's parameter values
(`sam deploy --parameter-overrides`), which the transform is given as CloudFormation gives
them; the others take their defaults. Run by tests/infra (test_published_versions.py,
test_profiles.py) with .venv-sam's python; AWS_DEFAULT_REGION names the region the pseudo
parameters resolve to."""

from __future__ import annotations

import json
import sys
from typing import Any

from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no managed policy (each function has a role of its own)."""

    def load(self) -> dict[str, Any]:
        return {}


def parameter_values(arguments: list[str]) -> dict[str, str]:
    """`Profile=trial` -> {"Profile": "trial"}."""
    return dict(argument.split("=", 1) for argument in arguments)


if __name__ == "__main__":
    parameters = parameter_values(sys.argv[1:])
    json.dump(transform(json.load(sys.stdin), parameters, NoManagedPolicies()), sys.stdout)
