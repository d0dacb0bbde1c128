"""IAM identity-policy evaluation: one request (action, resource, context keys) against policies.

Pure logic, no moto: the engine's ``iam`` adapter collects a role's policies and asks
:func:`decide`. It follows AWS's documented order for a principal in the same account: an
explicit Deny in any policy wins; otherwise an Allow in an identity-based policy is needed,
and, where present, also in the permissions boundary and the session policy; otherwise the
request is implicitly denied. Resource-based policies, SCPs and RCPs are not consulted.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

Context = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Check:
    """One authorisation AWS makes for a request (a CopyObject needs two, a DeleteObjects one
    per key). ``context`` holds the request-specific condition keys, e.g. ``s3:prefix``."""

    action: str
    resource: str
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


class Decision(enum.Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit"  # nothing allows it
    EXPLICIT_DENY = "explicit"  # a Deny statement matched


class Verdict(enum.Enum):
    """Why a request was refused, worded as AWS's AccessDenied messages word it."""

    ALLOWED = ""
    NO_IDENTITY_ALLOW = "because no identity-based policy allows the {action} action"
    NO_BOUNDARY_ALLOW = "because no permissions boundary allows the {action} action"
    NO_SESSION_ALLOW = "because no session policy allows the {action} action"
    IDENTITY_DENY = "with an explicit deny in an identity-based policy"
    BOUNDARY_DENY = "with an explicit deny in a permissions boundary"
    SESSION_DENY = "with an explicit deny in a session policy"
    NO_RESOURCE_ALLOW = "because no resource-based policy allows the {action} action"
    RESOURCE_DENY = "with an explicit deny in a resource-based policy"


@dataclass(frozen=True)
class Policies:
    """What AWS evaluates for an assumed-role session (identity side only)."""

    identity: Sequence[Mapping[str, Any]]
    boundary: Mapping[str, Any] | None = None
    session: Mapping[str, Any] | None = None


def decide(policies: Policies, check: Check, context: Context) -> Verdict:
    keys = {**context, **check.context}
    identity = evaluate(policies.identity, check, keys)
    boundary = evaluate([policies.boundary], check, keys) if policies.boundary else None
    session = evaluate([policies.session], check, keys) if policies.session else None
    if identity is Decision.EXPLICIT_DENY:
        return Verdict.IDENTITY_DENY
    if boundary is Decision.EXPLICIT_DENY:
        return Verdict.BOUNDARY_DENY
    if session is Decision.EXPLICIT_DENY:
        return Verdict.SESSION_DENY
    if identity is not Decision.ALLOW:
        return Verdict.NO_IDENTITY_ALLOW
    if boundary is not None and boundary is not Decision.ALLOW:
        return Verdict.NO_BOUNDARY_ALLOW
    if session is not None and session is not Decision.ALLOW:
        return Verdict.NO_SESSION_ALLOW
    return Verdict.ALLOWED


@dataclass(frozen=True)
class Caller:
    """Who a resource-based policy is matched against: a role session or a service."""

    account: str
    arns: Sequence[str] = ()  # e.g. the role's ARN and its assumed-role session ARN
    service: str | None = None  # e.g. "events.amazonaws.com" for a service principal


def decide_key(
    policies: Policies | None,
    key_policy: Mapping[str, Any],
    check: Check,
    context: Context,
    caller: Caller,
) -> Verdict:
    """A KMS key's own rule: its key policy decides, and IAM policies count only where the key
    policy gives the account (its root principal) the action; an explicit Deny in either wins."""
    keys = {**context, **check.context}
    direct, delegated = False, False
    for statement in _statements(key_policy):
        principals = _principals(statement, caller)
        if not principals or not _applies(statement, check, keys):
            continue
        if statement.get("Effect") == "Deny":
            return Verdict.RESOURCE_DENY
        if statement.get("Effect") == "Allow":
            delegated = delegated or "account" in principals
            direct = direct or "self" in principals
    identity = decide(policies, check, context) if policies is not None else None
    if identity in (Verdict.IDENTITY_DENY, Verdict.BOUNDARY_DENY, Verdict.SESSION_DENY):
        return identity
    if direct:
        return Verdict.ALLOWED
    if delegated and identity is not None:
        return identity
    return Verdict.NO_RESOURCE_ALLOW


def decide_resource(
    policy: Mapping[str, Any], check: Check, context: Context, caller: Caller
) -> Decision:
    """What a resource-based policy grants on its own to a caller it names itself, such as a
    service principal (which has no identity policies): an explicit Deny wins, then any Allow."""
    keys = {**context, **check.context}
    naming = [s for s in _statements(policy) if "self" in _principals(s, caller)]
    return evaluate([{"Statement": naming}], check, keys)


def _principals(statement: Mapping[str, Any], caller: Caller) -> set[str]:
    """How a statement's Principal names the caller: "self", "account" (root), or not at all."""
    principal = statement.get("Principal")
    if principal == "*":
        return {"self"}
    if not isinstance(principal, Mapping):
        return set()
    found = set()
    if caller.service and caller.service in _listed(principal.get("Service")):
        found.add("self")
    for named in _listed(principal.get("AWS")):
        if named == "*" or named in caller.arns:  # {"AWS": "*"} is the same as "*"
            found.add("self")
        elif not caller.service and named in (
            caller.account,
            f"arn:aws:iam::{caller.account}:root",
        ):
            found.add("account")
    return found


def evaluate(documents: Iterable[Mapping[str, Any]], check: Check, context: Context) -> Decision:
    allowed = False
    for document in documents:
        for statement in _statements(document):
            if not _applies(statement, check, context):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def load_document(document: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """A policy document as IAM stores it: a dict, JSON text, or URL-encoded JSON text."""
    if isinstance(document, Mapping):
        return document
    text = document.strip()
    if not text.startswith("{"):
        text = unquote(text)
    loaded = json.loads(text)
    if not isinstance(loaded, dict):
        raise ValueError("a policy document is a JSON object")
    return loaded


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _applies(statement: Mapping[str, Any], check: Check, context: Context) -> bool:
    if "NotAction" in statement:
        if any(_action_matches(p, check.action) for p in _listed(statement["NotAction"])):
            return False
    elif not any(_action_matches(p, check.action) for p in _listed(statement.get("Action"))):
        return False
    if "NotResource" in statement:
        if any(_resource_matches(p, check.resource) for p in _listed(statement["NotResource"])):
            return False
    elif not any(_resource_matches(p, check.resource) for p in _listed(statement.get("Resource"))):
        return False
    return _conditions_hold(statement.get("Condition") or {}, context)


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards: * any run (also across ':' and '/'), ? one character; nothing else.
    regex = "".join(re.escape(c) if c not in "*?" else (".*" if c == "*" else ".") for c in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _action_matches(pattern: str, action: str) -> bool:
    return pattern == "*" or bool(_glob(pattern, True).match(action))  # actions ignore case


def _resource_matches(pattern: str, resource: str) -> bool:
    return pattern == "*" or bool(_glob(pattern, False).match(resource))


def _arn_like(pattern: str, value: str) -> bool:
    # ArnLike compares the six ARN fields one by one; wildcards do not cross a ':' boundary
    # between fields, except inside the last (resource) field.
    wanted, given = pattern.split(":", 5), value.split(":", 5)
    if len(wanted) != 6 or len(given) != 6:
        return False
    return all(_glob(w, False).match(g) for w, g in zip(wanted, given, strict=True))


_STRING_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": lambda want, got: bool(_glob(want, False).match(got)),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": _arn_like,
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(want: str, got: str) -> bool:
        a, b = _number(got), _number(want)
        return a is not None and b is not None and compare(a, b)

    return match


_STRING_OPERATORS.update(
    {
        "NumericEquals": _numeric(lambda got, want: got == want),
        "NumericLessThan": _numeric(lambda got, want: got < want),
        "NumericLessThanEquals": _numeric(lambda got, want: got <= want),
        "NumericGreaterThan": _numeric(lambda got, want: got > want),
        "NumericGreaterThanEquals": _numeric(lambda got, want: got >= want),
        "Bool": lambda want, got: want.lower() == got.lower(),
    }
)
_NEGATED["NumericNotEquals"] = "NumericEquals"


class UnsupportedCondition(ValueError):
    """A condition operator the engine cannot evaluate: refused loudly, never guessed."""


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    # Every operator block must hold, and within one every key (AND); values of one key OR.
    for operator, entries in conditions.items():
        for key, wanted in entries.items():
            if not _condition_holds(operator, key, _listed(wanted), context):
                return False
    return True


def _lookup(context: Context, key: str) -> Sequence[str] | None:
    for name, values in context.items():
        if name.lower() == key.lower():  # condition key names are case-insensitive
            return values
    return None


def _condition_holds(operator: str, key: str, wanted: list[str], context: Context) -> bool:
    given = _lookup(context, key)
    if operator == "Null":
        return (given is None) == (wanted[0].lower() == "true")
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    negated = base in _NEGATED
    if given is None:
        # A missing key fails a positive test and passes a negated one (AWS's documented rule).
        return if_exists or qualifier == "ForAllValues" or (negated and qualifier != "ForAnyValue")
    compare = _STRING_OPERATORS.get(_NEGATED.get(base, base))
    if compare is None:
        raise UnsupportedCondition(f"condition operator {operator} is not emulated")

    def matches(value: str) -> bool:
        hit = any(compare(w, value) for w in wanted)
        return not hit if negated else hit

    if qualifier == "ForAllValues" or (negated and qualifier != "ForAnyValue"):
        return all(matches(v) for v in given)
    return any(matches(v) for v in given)
