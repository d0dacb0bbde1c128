"""A template's ``Rules:`` section, evaluated before a stack is created or updated.

CloudFormation checks every rule whose ``RuleCondition`` holds against the parameter values and
refuses the whole CreateStack / UpdateStack / CreateChangeSet with a ValidationError naming the
failed ``AssertDescription``, before it creates anything. moto ignores ``Rules`` and would create
the stack; this adapter refuses it the same way. And a resource that fails to create ends the
stack ROLLBACK_COMPLETE with the reason in its events, as on AWS (moto fails the API call and
leaves the stack in progress; the resources created before it are not rolled back here).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

_installed = False


class RuleError(ValueError):
    """An assertion failed, or the rule uses what CloudFormation would not accept."""


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend

    original_create = CloudFormationBackend.create_stack
    original_update = CloudFormationBackend.update_stack
    original_change_set = CloudFormationBackend.create_change_set

    def check(template: str, parameters: Mapping[str, Any]) -> None:
        try:
            failed = failed_assertions(parse_template(template), parameters)
        except RuleError as error:
            raise ValidationError(message=f"Template error: {error}") from error
        if failed:
            raise ValidationError(message="; ".join(failed))

    def create_stack(
        self: Any, name: str, template: str, parameters: Any, *a: Any, **kw: Any
    ) -> Any:
        check(template, parameters or {})
        try:
            return original_create(self, name, template, parameters, *a, **kw)
        except Exception as error:
            # CloudFormation accepts the request and the stack ends ROLLBACK_COMPLETE with the
            # resource's reason in its events; moto fails the call and leaves it in progress.
            stack = next((s for s in self.stacks.values() if s.name == name), None)
            if stack is None or stack.status != "CREATE_IN_PROGRESS":
                raise
            reason = getattr(error, "message", None) or str(error)
            stack._add_stack_event("CREATE_FAILED", resource_status_reason=reason)
            stack.status = "ROLLBACK_COMPLETE"
            stack._add_stack_event("ROLLBACK_COMPLETE")
            return stack

    def update_stack(
        self: Any, name: str, template: str, role_arn: Any, parameters: Any, *a: Any, **kw: Any
    ) -> Any:
        resolved = self._resolve_update_parameters(self.get_stack(name), parameters or [])
        check(template or self.get_stack(name).template, resolved)
        return original_update(self, name, template, role_arn, parameters, *a, **kw)

    def create_change_set(
        self: Any,
        stack_name: str,
        change_set_name: str,
        template: str,
        parameters: Any,
        *a: Any,
        **kw: Any,
    ) -> Any:
        check(template, parameters or {})
        return original_change_set(
            self, stack_name, change_set_name, template, parameters, *a, **kw
        )

    CloudFormationBackend.create_stack = create_stack  # type: ignore[method-assign]
    CloudFormationBackend.update_stack = update_stack  # type: ignore[method-assign]
    CloudFormationBackend.create_change_set = create_change_set  # type: ignore[method-assign]
    _installed = True


def parse_template(body: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        parsed = json.loads(body)
    except ValueError:
        from samtranslator.yaml_helper import yaml_parse

        parsed = yaml_parse(body)
    return parsed if isinstance(parsed, Mapping) else {}


def failed_assertions(template: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """The AssertDescription (or rule name) of every assertion that fails for these values."""
    declared = template.get("Parameters") or {}
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        raw = given.get(name, spec.get("Default"))
        if raw is None:
            continue  # a missing required parameter is CloudFormation's other error
        is_list = str(spec.get("Type", "")).startswith(("CommaDelimitedList", "List<"))
        values[name] = str(raw).split(",") if is_list and not isinstance(raw, list) else raw
    failed = []
    for rule_name, rule in (template.get("Rules") or {}).items():
        condition = rule.get("RuleCondition")
        if condition is not None and not _truth(evaluate(condition, values)):
            continue
        for index, assertion in enumerate(rule.get("Assertions") or []):
            if not _truth(evaluate(assertion["Assert"], values)):
                failed.append(
                    str(assertion.get("AssertDescription") or f"rule {rule_name} #{index + 1}")
                )
    return failed


def _truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise RuleError(f"a rule condition or assertion must be true or false, got {value!r}")


def _members(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise RuleError(f"expected a list, got {value!r}")
    return [str(v) for v in value]


def evaluate(node: Any, values: Mapping[str, Any]) -> Any:
    """The value of a rule expression; only the functions CloudFormation allows in Rules."""
    if isinstance(node, list):
        return [evaluate(item, values) for item in node]
    if not isinstance(node, Mapping):
        return node
    if len(node) != 1:
        raise RuleError(f"not a rule function: {node!r}")
    ((function, argument),) = node.items()
    if function == "Ref":
        if argument not in values:
            raise RuleError(f"Ref to unknown parameter {argument}")
        return values[argument]
    handler = _FUNCTIONS.get(function)
    if handler is None:
        raise RuleError(f"{function} is not supported in Rules")
    return handler(
        [evaluate(a, values) for a in argument] if isinstance(argument, list) else [argument]
    )


def _arity(args: list[Any], n: int, name: str) -> list[Any]:
    if len(args) != n:
        raise RuleError(f"{name} takes {n} arguments, got {len(args)}")
    return args


_FUNCTIONS: dict[str, Callable[[list[Any]], Any]] = {
    "Fn::Equals": lambda a: str(_arity(a, 2, "Fn::Equals")[0]) == str(a[1]),
    "Fn::Not": lambda a: not _truth(_arity(a, 1, "Fn::Not")[0]),
    "Fn::And": lambda a: all(_truth(v) for v in a),
    "Fn::Or": lambda a: any(_truth(v) for v in a),
    "Fn::Contains": lambda a: str(_arity(a, 2, "Fn::Contains")[1]) in _members(a[0]),
    "Fn::EachMemberEquals": lambda a: all(
        m == str(_arity(a, 2, "Fn::EachMemberEquals")[1]) for m in _members(a[0])
    ),
    "Fn::EachMemberIn": lambda a: (
        set(_members(_arity(a, 2, "Fn::EachMemberIn")[0])) <= set(_members(a[1]))
    ),
}
