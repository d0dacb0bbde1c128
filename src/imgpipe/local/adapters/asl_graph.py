"""CreateStateMachine and UpdateStateMachine refuse the state graphs Step Functions refuses.

moto stores any definition its parser reads, so a ``Next`` naming no state, a state nothing
routes to, or a container with no terminal state would deploy here and fail on AWS (a
``DefinitionSubstitutions`` value choosing ``Next`` per stack parameter is the way one gets
there). Checked per container (the machine, each Map's ItemProcessor, each Parallel branch),
worded as AWS's ``InvalidDefinition`` diagnostics.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

_installed = False
_MISSING = "MISSING_TRANSITION_TARGET"


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    from imgpipe.local.adapters.express import aws_error

    original_create = StepFunctionsParserBackend.create_state_machine
    original_update = StepFunctionsParserBackend.update_state_machine

    def refuse(definition: Any) -> None:
        problems = diagnostics(definition) if definition else []
        if problems:
            raise aws_error("InvalidDefinition")(
                f"Invalid State Machine Definition: '{', '.join(problems)}'"
            )

    # Arguments passed on as they came: the express adapter reads them by keyword.
    def create_state_machine(self: Any, *args: Any, **kwargs: Any) -> Any:
        refuse(kwargs.get("definition", args[1] if len(args) > 1 else None))
        return original_create(self, *args, **kwargs)

    def update_state_machine(self: Any, *args: Any, **kwargs: Any) -> Any:
        refuse(kwargs.get("definition", args[1] if len(args) > 1 else None))
        return original_update(self, *args, **kwargs)

    StepFunctionsParserBackend.create_state_machine = create_state_machine  # type: ignore[method-assign]
    StepFunctionsParserBackend.update_state_machine = update_state_machine  # type: ignore[method-assign]
    _installed = True


def diagnostics(definition: str | Mapping[str, Any]) -> list[str]:
    """AWS's MISSING_TRANSITION_TARGET / MISSING_END_STATE findings for a definition."""
    try:
        document = json.loads(definition) if isinstance(definition, str) else definition
    except ValueError:
        return []  # not JSON: moto's parser reports it
    if not isinstance(document, Mapping):
        return []
    return [
        problem
        for path, container in _containers(document, "")
        for problem in _check(container, path)
    ]


def _containers(container: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, container
    for name, state in (container.get("States") or {}).items():
        here = f"{path}/States/{name}"
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), Mapping):
                yield from _containers(state[key], f"{here}/{key}")
        for index, branch in enumerate(state.get("Branches") or []):
            yield from _containers(branch, f"{here}/Branches[{index}]")


def _targets(state: Mapping[str, Any], here: str) -> Iterator[tuple[str, str]]:
    if "Next" in state:
        yield state["Next"], f"{here}/Next"
    if "Default" in state:
        yield state["Default"], f"{here}/Default"
    for index, choice in enumerate(state.get("Choices") or []):
        if "Next" in choice:
            yield choice["Next"], f"{here}/Choices[{index}]/Next"
    for index, catch in enumerate(state.get("Catch") or []):
        if "Next" in catch:
            yield catch["Next"], f"{here}/Catch[{index}]/Next"


def _check(container: Mapping[str, Any], path: str) -> list[str]:
    states: Mapping[str, Any] = container.get("States") or {}
    problems = []
    start = str(container.get("StartAt"))
    if start not in states:
        problems.append(f"{_MISSING}: Missing 'Next' target: {start} at {path}/StartAt")
    for name, state in states.items():
        for target, where in _targets(state, f"{path}/States/{name}"):
            if target not in states:
                problems.append(f"{_MISSING}: Missing 'Next' target: {target} at {where}")
    reached: set[str] = set()
    todo = [start] if start in states else []
    while todo:
        current = todo.pop()
        if current not in reached:
            reached.add(current)
            todo.extend(t for t, _ in _targets(states[current], "") if t in states)
    for name in states:
        if name not in reached:
            problems.append(f'{_MISSING}: State "{name}" is not reachable. at {path}/States/{name}')
    terminal = any(
        s.get("End") is True or s.get("Type") in ("Succeed", "Fail") for s in states.values()
    )
    if states and not terminal:
        problems.append(f"MISSING_END_STATE: Workflow has no terminal state at {path or 'null'}")
    return problems
