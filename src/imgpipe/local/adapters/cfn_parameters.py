"""Stack-update parameters as CloudFormation resolves them.

UpdateStack and CreateChangeSet (CloudFormation API reference, ``Parameter``): a parameter the
request names takes its ``ParameterValue``, or with ``UsePreviousValue: true`` the value the stack
has now (refused for a key the stack does not have); **a parameter the request leaves out takes
its template Default**, or fails the request when it has none. moto keeps the previous input
values when an update names no parameters at all, looks ``UsePreviousValue`` up among the
values given at creation only (a defaulted parameter is a KeyError), and decides which unchanged
resources to update from the given values only, so a parameter that reverts to its Default
updates nothing. Here the update's values replace the old ones whole, ``UsePreviousValue`` reads
the stack's resolved values, and a resource is updated when a parameter it refers to (directly or
through a condition) resolves to a different value. DescribeStacks lists a list parameter
comma-joined and a NoEcho one as ``****``. ``sam deploy`` sends ``UsePreviousValue``
for every template parameter it is not given an override for (and that the stack has), so
there omitted parameters keep their values; ``aws cloudformation update-stack`` does not.
"""

from __future__ import annotations

import re
from typing import Any

_installed = False
_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def install() -> None:
    global _installed
    if _installed:
        return
    _resolved_update_parameters()
    _whole_parameter_sets()
    _parameter_dependent_updates()
    _described_parameters()
    _installed = True


def parameter_text(value: Any) -> str:
    """A resolved parameter value as the API spells it (lists comma-joined)."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _resolved_update_parameters() -> None:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend, Stack

    original = CloudFormationBackend._resolve_update_parameters

    def resolve(self: Any, instance: Any, incoming_params: list[dict[str, Any]]) -> dict[str, str]:
        if not isinstance(instance, Stack):
            return dict(original(self, instance, incoming_params))
        previous = instance.stack_parameters
        resolved: dict[str, str] = {}
        for parameter in incoming_params:
            key = str(parameter["ParameterKey"])
            if str(parameter.get("UsePreviousValue", "")).lower() == "true":
                if key not in previous:
                    raise ValidationError(
                        message=f"Invalid input for parameter key {key}. Cannot specify "
                        "usePreviousValue as true for a parameter key not in the previous template"
                    )
                resolved[key] = parameter_text(previous[key])
            elif "ParameterValue" in parameter:
                resolved[key] = str(parameter["ParameterValue"])
        return resolved

    CloudFormationBackend._resolve_update_parameters = resolve  # type: ignore[method-assign]


def _whole_parameter_sets() -> None:
    """An update's (or change set's) values replace the previous ones: what it leaves out
    takes its Default."""
    from moto.cloudformation.parsing import ResourceMap

    original = ResourceMap.update

    def update(self: Any, template: dict[str, Any], parameters: Any = None) -> Any:
        given = {k: parameter_text(v) for k, v in (parameters or {}).items()}
        self._previous_resolved = {
            k: parameter_text(v) for k, v in self.resolved_parameters.items() if v is not None
        }
        self._next_parameters = given
        self.input_parameters = given
        try:
            return original(self, template, given)
        finally:
            del self._next_parameters

    ResourceMap.update = update  # type: ignore[method-assign]


def _described_parameters() -> None:
    """DescribeStacks' Parameters as CloudFormation lists them: a list parameter comma-joined
    (moto shows the Python list), a ``NoEcho`` one as ``****`` (moto compares the value, not
    the key, with the NoEcho keys)."""
    from moto.cloudformation.models import Stack

    def parameter_list(self: Any) -> list[dict[str, Any]]:
        hidden = self.resource_map.no_echo_parameter_keys
        return [
            {"ParameterKey": k, "ParameterValue": "****" if k in hidden else parameter_text(v)}
            for k, v in self.resource_map.resolved_parameters.items()
        ]

    Stack.parameter_list = property(parameter_list)  # type: ignore[assignment,method-assign]


def changed_parameters(
    previous: dict[str, str], given: dict[str, str], declared: dict[str, Any]
) -> set[str]:
    """Parameters whose resolved value (given, else the Default) differs from the previous."""
    changed = set()
    for name, slot in declared.items():
        default = slot.get("Default") if isinstance(slot, dict) else None
        value = given.get(name, None if default is None else parameter_text(default))
        if value != previous.get(name):
            changed.add(name)
    return changed


def _parameter_dependent_updates() -> None:
    """Of the resources whose template text is unchanged, CloudFormation updates those whose
    resolved properties change: a parameter they ``Ref`` (or ``Sub``) or one a condition they
    use depends on resolving differently, also when it reverted to its Default."""
    from moto.cloudformation.parsing import ResourceMap, get_references_from_template

    original = ResourceMap.build_resource_diff

    def build_resource_diff(
        self: Any, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        found = original(self, other_template, parameters)
        given = getattr(self, "_next_parameters", None)
        if given is None:  # a change set's description: moto's own diff
            return dict(found)
        changed = changed_parameters(
            self._previous_resolved, given, other_template.get("Parameters", {})
        )
        conditions = other_template.get("Conditions", {})

        def parameters_of(condition: str, seen: frozenset[str] = frozenset()) -> set[str]:
            body = conditions.get(condition, {})
            refs = set(get_references_from_template(body))
            for name in conditions_used(body) - seen - {condition}:
                refs |= parameters_of(name, seen | {condition})
            return refs

        for name, resource in other_template.get("Resources", {}).items():
            if name in found["Modify"] or name in found["Add"]:
                continue
            uses = set(get_references_from_template(resource)) | _sub_names(resource)
            uses |= {p for c in conditions_used(resource) for p in parameters_of(c)}
            if changed & uses:
                found["Modify"].append(name)
        return dict(found)

    ResourceMap.build_resource_diff = build_resource_diff  # type: ignore[method-assign]


def _sub_names(node: Any) -> set[str]:
    """Names a fragment's ``Fn::Sub`` strings refer to (``${Name}``)."""
    if isinstance(node, dict):
        found: set[str] = set()
        for key, value in node.items():
            text = value[0] if key == "Fn::Sub" and isinstance(value, list) and value else value
            if key == "Fn::Sub" and isinstance(text, str):
                found |= set(_SUB_NAME.findall(text))
            found |= _sub_names(value)
        return found
    if isinstance(node, list):
        return set().union(*(_sub_names(item) for item in node)) if node else set()
    return set()


def conditions_used(node: Any) -> set[str]:
    """Condition names a template fragment uses (``Fn::If``, ``Condition``)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::If" and isinstance(value, list) and value:
                found.add(str(value[0]))
            elif key == "Condition" and isinstance(value, str):
                found.add(value)
            found |= conditions_used(value)
    elif isinstance(node, list):
        for item in node:
            found |= conditions_used(item)
    return found
