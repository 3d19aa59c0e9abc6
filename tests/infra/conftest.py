"""Template tests: the SAM template loaded once, with CloudFormation's short tags (!Ref,
!GetAtt, !Sub, ...) decoded by cfn-lint into their long forms ({"Ref": ...}, ...), and as each
deployment profile (the `Profile` parameter) deploys it: `template` is the default profile's,
which every test that does not name a profile checks."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
TEMPLATE_PATH = INFRA / "template.yaml"

FUNCTION_TYPE = "AWS::Serverless::Function"
# The database secrets a role may name: the application role's login (every function), and
# the master login (the RDS-managed secret, or the ExistingDatabaseSecretArn parameter), which
# only the migration may read.
APP_SECRET_REFS = {"AppDatabaseSecret"}
MASTER_SECRET_REFS = {"Database", "ExistingDatabaseSecretArn"}
SECRET_REFS = APP_SECRET_REFS | MASTER_SECRET_REFS
MIGRATE_FUNCTION = "MigrateFunction"
# The template's deployment profiles (its `Profile` parameter), the default first.
PROFILES = ("production", "trial")
DEFAULT_PROFILE = PROFILES[0]
NO_VALUE = {"Ref": "AWS::NoValue"}


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    template, matches = decode(str(path))
    assert not matches, [str(m) for m in matches]
    assert isinstance(template, dict)
    return template


@pytest.fixture(scope="session")
def raw_template() -> dict[str, Any]:
    """The template as written: both profiles, their conditions undecided."""
    return load_template()


@pytest.fixture(scope="session")
def template(raw_template: dict[str, Any]) -> dict[str, Any]:
    return for_profile(raw_template, DEFAULT_PROFILE)


class _Omitted:
    """What an Fn::If that chose AWS::NoValue leaves: nothing (the key, or the list item)."""


_OMITTED = _Omitted()


def for_profile(
    template: dict[str, Any], profile: str, parameters: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The template as CloudFormation deploys it with `Profile=profile` (and `parameters`), the
    other parameters left open: each condition those decide is decided (a resource or output
    under a false one is gone, an Fn::If on it is its branch, AWS::NoValue there removes the
    key or item), and a condition that comes down to another one is renamed to it (`IsProduction
    and CreateDatabase` is CreateDatabase in production). What no parameter decides stays as it
    is. Works on SAM's translation too, which keeps the conditions."""
    known = {**(parameters or {}), "Profile": profile}
    conditions: dict[str, Any] = template.get("Conditions", {})
    decided: dict[str, bool | str] = {}  # a condition -> its value, or the condition it is

    def condition(name: str) -> bool | dict[str, str]:
        if name not in decided:
            definition = conditions[name]
            value = evaluate(definition)
            if isinstance(value, bool):
                decided[name] = value
            elif value == definition:
                decided[name] = name
            elif isinstance(value, dict) and set(value) == {"Condition"}:
                decided[name] = value["Condition"]
            else:
                raise ValueError(f"{name} comes down to {value}, which no condition names")
        found = decided[name]
        return found if isinstance(found, bool) else {"Condition": found}

    def operand(node: Any) -> Any:
        name = node.get("Ref") if isinstance(node, dict) else None
        return known.get(name, node) if name else node

    def evaluate(expression: dict[str, Any]) -> Any:
        ((function, arguments),) = expression.items()
        if function == "Condition":
            return condition(arguments)
        if function == "Fn::Equals":
            left, right = (operand(a) for a in arguments)
            if isinstance(left, str) and isinstance(right, str):
                return left == right
            return expression
        values = [evaluate(a) for a in arguments]
        if function == "Fn::Not":
            (value,) = values
            return (not value) if isinstance(value, bool) else {"Fn::Not": [value]}
        absorbing = function == "Fn::Or"  # True ends an Or, False an And
        if absorbing in values:
            return absorbing
        rest = [v for v in values if v is not (not absorbing)]
        if not rest:
            return not absorbing
        return rest[0] if len(rest) == 1 else {function: rest}

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, when_true, when_false = node["Fn::If"]
                decision = condition(name)
                if isinstance(decision, bool):
                    chosen = resolve(when_true if decision else when_false)
                    return _OMITTED if chosen == NO_VALUE else chosen
                return {"Fn::If": [decision["Condition"], resolve(when_true), resolve(when_false)]}
            resolved = {key: resolve(value) for key, value in node.items()}
            return {key: value for key, value in resolved.items() if value is not _OMITTED}
        if isinstance(node, list):
            return [item for item in map(resolve, node) if item is not _OMITTED]
        return node

    def kept(section: dict[str, Any]) -> dict[str, Any]:
        """Resources or outputs: those whose condition holds, with what it came down to."""
        found = {}
        for name, item in section.items():
            if "Condition" not in item:
                found[name] = resolve(item)
                continue
            decision = condition(item["Condition"])
            if decision is False:
                continue
            item = resolve({k: v for k, v in item.items() if k != "Condition"})
            if isinstance(decision, dict):
                item["Condition"] = decision["Condition"]
            found[name] = item
        return found

    for name in conditions:
        condition(name)
    deployed = {
        key: resolve(value)
        for key, value in template.items()
        if key not in ("Conditions", "Resources", "Outputs")
    }
    deployed["Conditions"] = {n: conditions[n] for n, d in decided.items() if d == n}
    deployed["Resources"] = kept(template["Resources"])
    deployed["Outputs"] = kept(template.get("Outputs", {}))
    return deployed


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"])


@pytest.fixture(scope="session")
def functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {k: v for k, v in resources.items() if v["Type"] == FUNCTION_TYPE}
    assert found, "no functions in the template"
    return found


def of_type(resources: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v["Type"] == type_}


def walk(node: Any) -> Iterator[Any]:
    """Every node of a decoded template fragment, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def references(node: Any) -> set[str]:
    """The logical ids and parameters a fragment names through Ref, Fn::GetAtt and Fn::Sub
    (pseudo parameters such as AWS::Region are left out)."""
    names: set[str] = set()
    for item in walk(node):
        if not isinstance(item, dict) or len(item) != 1:
            continue
        (key, value), *_ = item.items()
        if key == "Ref":
            names.add(str(value))
        elif key == "Fn::GetAtt":
            names.add(str(value[0]) if isinstance(value, list) else str(value).split(".")[0])
        elif key == "Fn::Sub":
            text = value[0] if isinstance(value, list) else value
            names.update(v.split(".")[0] for v in _SUB_VARIABLE.findall(str(text)))
    return {n for n in names if not n.startswith("AWS::")}


def ref_target(node: Any) -> str | None:
    """The logical id of {"Ref": X} or {"Fn::GetAtt": [X, ...]}, else None."""
    if isinstance(node, dict) and len(node) == 1:
        (key, value), *_ = node.items()
        if key == "Ref":
            return str(value)
        if key == "Fn::GetAtt":
            return str(value[0]) if isinstance(value, list) else str(value).split(".")[0]
    return None


def environment(template: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    """A function's environment variables: the Globals' merged with its own (as SAM does)."""
    global_env = (
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    own = function["Properties"].get("Environment", {}).get("Variables", {})
    return {**global_env, **own}


def function_property(template: dict[str, Any], function: dict[str, Any], name: str) -> Any:
    """A function property, falling back to Globals.Function like SAM."""
    props = function["Properties"]
    if name in props:
        return props[name]
    return template.get("Globals", {}).get("Function", {}).get(name)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_with_globals(template: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    """A function resource as SAM deploys it: Globals.Function's properties under its own
    (environment variables merged), so VpcConfig, Layers and the rest count as its own."""
    merged = dict(function)
    merged["Properties"] = {
        **template.get("Globals", {}).get("Function", {}),
        **function["Properties"],
        "Environment": {"Variables": environment(template, function)},
    }
    return merged


def dependencies(template: dict[str, Any]) -> dict[str, set[str]]:
    """Each resource -> the resources it depends on, as CloudFormation orders them: those it
    names through Ref, Fn::GetAtt and Fn::Sub anywhere in its definition, and its DependsOn.
    A SAM function includes what its Globals give it. CloudFormation creates a dependency
    before, and deletes it after, the resource that depends on it."""
    resources = template["Resources"]
    graph: dict[str, set[str]] = {}
    for name, resource in resources.items():
        if resource["Type"] == FUNCTION_TYPE:
            resource = function_with_globals(template, resource)
        named = references({k: v for k, v in resource.items() if k != "DependsOn"})
        named |= set(as_list(resource.get("DependsOn", [])))
        graph[name] = {n for n in named if n in resources and n != name}
    return graph


def transitive_dependencies(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def at_default(template: dict[str, Any], value: Any) -> Any:
    """A property's value at its parameter's default when it is a `!Ref` to one."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template["Parameters"]:
        return template["Parameters"][value["Ref"]]["Default"]
    return value
