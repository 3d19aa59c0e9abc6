"""Resolve CloudFormation intrinsic functions (Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join,
Fn::Select, Fn::Split and the condition functions) against local values, so that what the
template declares (role policies, the bucket's notifications) can be applied to the local stack
as written."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

NO_VALUE = object()  # AWS::NoValue: the property or list item disappears
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class Resolver:
    """`ref(name)` and `get_att(name, attribute)` give local values for logical ids and
    parameters; `conditions` are the template's conditions, evaluated on demand."""

    ref: Callable[[str], Any]
    get_att: Callable[[str, str], Any]
    conditions: Mapping[str, Any]

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), *_ = node.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, value)
        resolved = {k: self(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def condition(self, name: str) -> bool:
        return bool(self(self.conditions[name]))


def _ref(r: Resolver, name: str) -> Any:
    return NO_VALUE if name == "AWS::NoValue" else r.ref(name)


def _get_att(r: Resolver, value: Any) -> Any:
    name, attribute = value if isinstance(value, list) else str(value).split(".", 1)
    return r.get_att(name, attribute)


def _sub(r: Resolver, value: Any) -> str:
    text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})

    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        if name in variables:
            return str(r(variables[name]))
        if "." in name:
            resource, attribute = name.split(".", 1)
            return str(r.get_att(resource, attribute))
        return str(r.ref(name))

    return _SUB_VARIABLE.sub(replace, str(text))


def _if(r: Resolver, value: list[Any]) -> Any:
    name, when_true, when_false = value
    return r(when_true) if r.condition(name) else r(when_false)


def _join(r: Resolver, value: list[Any]) -> str:
    separator, items = value
    return str(separator).join(str(i) for i in r(items))


_FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::If": _if,
    "Fn::Join": _join,
    "Fn::Select": lambda r, v: r(v[1])[int(r(v[0]))],
    "Fn::Split": lambda r, v: str(r(v[1])).split(str(v[0])),
    "Fn::Equals": lambda r, v: r(v[0]) == r(v[1]),
    "Fn::Not": lambda r, v: not r(v[0]),
    "Fn::And": lambda r, v: all(r(c) for c in v),
    "Fn::Or": lambda r, v: any(r(c) for c in v),
    "Condition": lambda r, v: r.condition(v),
}
