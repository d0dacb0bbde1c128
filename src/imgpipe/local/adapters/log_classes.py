"""CloudWatch Logs log classes and the Logs Insights queries imgpipe issues.

moto 5.2.5 has no log classes: ``logGroupClass`` (CreateLogGroup, ``AWS::Logs::LogGroup``
``LogGroupClass``) is ignored and every group answers every API. AWS (CloudWatch Logs user
guide, "Log classes"): an ``INFREQUENT_ACCESS`` group keeps ingestion, storage and Logs Insights
(all commands but ``pattern``, ``diff``, ``filterIndex`` and ``unmask``) and has no
GetLogEvents/FilterLogEvents, Live Tail, subscription filters, metric filters or export to S3;
the class cannot change after creation. Here the class is kept, DescribeLogGroups lists it, and
those calls are refused on an IA group with the error AWS returns for FilterLogEvents
(``InvalidOperationException: The log group G is of log-group-class INFREQUENT_ACCESS.
FilterLogEvents is not supported for this log class.``, quoted in aws/karpenter-provider-aws#9567,
2026; the same wording for the other calls is assumed). CloudFormation replaces a group whose
class or name changes, refusing a replacement that keeps a custom name, as it does for every
custom-named resource, and updates what refers to the group after it.

moto's Logs Insights ignores ``filter`` and returns every event in the time range, so a reader
would get other executions' events. ``StartQuery`` here runs the shapes imgpipe issues —
``fields`` (``@timestamp``, ``@message``, ``@logStream``, ``@log``, ``@ingestionTime`` and
JSON fields, dotted for nested ones), ``filter`` with ``=``/``!=`` against a string and ``and``,
``sort <field> asc|desc``, ``limit`` (1-10 000) — over the ``[startTime, endTime]`` range in
epoch seconds, and refuses any other query (``MalformedQueryException`` naming what it cannot
run) rather than answer it wrongly. GetQueryResults reports ``Running`` on its first call for a
query (AWS's queries are asynchronous, so a reader must poll), then ``Complete`` with the rows
(fields as requested, ``@ptr`` last, ``@timestamp`` as ``yyyy-MM-dd HH:mm:ss.SSS`` UTC) and
``statistics`` (``bytesScanned``: the bytes of the events in the range, what AWS bills).
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

CLASSES = ("STANDARD", "INFREQUENT_ACCESS", "DELIVERY")
# Calls AWS refuses on an IA group (the user guide's "Log classes" feature table).
NOT_ON_IA = (
    "GetLogEvents",
    "FilterLogEvents",
    "StartLiveTail",
    "PutSubscriptionFilter",
    "PutMetricFilter",
    "CreateExportTask",
)
QUERY_ROW_LIMIT = 10_000
IA_REFUSED_COMMANDS = ("pattern", "diff", "filterIndex", "unmask")
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _log_group_class()
    _refusals()
    _insights()
    _replacement()
    _installed = True


def logs_error(code: str, message: str) -> Exception:
    from moto.logs.exceptions import LogsClientError

    error = LogsClientError(code, message)
    error.code = 400
    return error


def _log_group_class() -> None:
    from moto.logs.models import LogGroup
    from moto.logs.responses import LogsResponse

    original_init = LogGroup.__init__
    original_describe = LogGroup.to_describe_dict

    def __init__(self: Any, account_id: str, region: str, name: str, **kwargs: Any) -> None:
        chosen = kwargs.get("LogGroupClass") or kwargs.get("logGroupClass") or "STANDARD"
        if chosen not in CLASSES:
            from moto.logs.exceptions import InvalidParameterException

            raise InvalidParameterException(
                constraint=f"Member must satisfy enum value set: [{', '.join(CLASSES)}]",
                parameter="logGroupClass",
                value=chosen,
            )
        original_init(self, account_id, region, name, **kwargs)
        self.log_group_class = chosen

    def to_describe_dict(self: Any) -> dict[str, Any]:
        described = dict(original_describe(self))
        described["logGroupClass"] = group_class(self)
        return described

    def create_log_group(self: Any) -> str:
        # moto's handler drops logGroupClass; the backend passes it on to the group.
        self.logs_backend.create_log_group(
            self._get_param("logGroupName"),
            self._get_param("tags"),
            kmsKeyId=self._get_param("kmsKeyId"),
            logGroupClass=self._get_param("logGroupClass"),
        )
        return ""

    LogGroup.__init__ = __init__  # type: ignore[method-assign]
    LogGroup.to_describe_dict = to_describe_dict  # type: ignore[method-assign]
    LogsResponse.create_log_group = create_log_group  # type: ignore[method-assign]


def group_class(group: Any) -> str:
    return str(getattr(group, "log_group_class", "STANDARD"))


def refuse_on_ia(group: Any, operation: str) -> None:
    if group is not None and group_class(group) == "INFREQUENT_ACCESS":
        raise logs_error(
            "InvalidOperationException",
            f"The log group {group.name} is of log-group-class INFREQUENT_ACCESS. "
            f"{operation} is not supported for this log class.",
        )


def _refusals() -> None:
    import inspect

    from moto.logs.models import LogsBackend

    def groups_named(backend: Any, arguments: dict[str, Any]) -> list[Any]:
        names = [arguments.get("log_group_name"), arguments.get("logGroupName")]
        identifiers = [
            arguments.get("log_group_id"),
            *(arguments.get("log_group_identifiers") or []),
        ]
        for identifier in filter(None, identifiers):
            names.append(str(identifier).split(":log-group:", 1)[-1].removesuffix(":*"))
        return [backend.groups.get(name) for name in names if name]

    for operation in NOT_ON_IA:
        method = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        original = getattr(LogsBackend, method)
        signature = inspect.signature(original)

        def guarded(
            self: Any,
            *args: Any,
            _o: Any = original,
            _s: Any = signature,
            _op: str = operation,
            **kwargs: Any,
        ) -> Any:
            bound = _s.bind(self, *args, **kwargs).arguments
            for group in groups_named(self, bound):
                refuse_on_ia(group, _op)
            return _o(self, *args, **kwargs)

        setattr(LogsBackend, method, guarded)


# -- Logs Insights ---------------------------------------------------------------------------

_COMPARISON = re.compile(r'^(@?[A-Za-z_][\w.@]*)\s*(=|!=)\s*"((?:[^"\\]|\\.)*)"$')
_FIELD = re.compile(r"^@?[A-Za-z_][\w.]*$")


def _malformed(message: str) -> Exception:
    return logs_error("MalformedQueryException", message)


@dataclass
class Query:
    """A parsed query of the shapes imgpipe issues."""

    fields: list[str] = field(default_factory=list)
    filters: list[tuple[str, str, str]] = field(default_factory=list)
    sort: tuple[str, bool] = ("@timestamp", True)  # AWS's default: newest first
    limit: int = QUERY_ROW_LIMIT


def parse_query(text: str) -> Query:
    query = Query()
    commands = [part.strip() for part in _split_pipes(text)]
    for command in commands:
        word, _, rest = command.partition(" ")
        rest = rest.strip()
        if word == "fields":
            names = [name.strip() for name in rest.split(",")]
            if not all(_FIELD.match(name) for name in names):
                raise _malformed(f"the local engine does not run this fields command: {command}")
            query.fields.extend(names)
        elif word == "filter":
            for term in re.split(r"\s+and\s+", rest):
                match = _COMPARISON.match(term.strip())
                if not match:
                    raise _malformed(
                        f"the local engine does not run this filter (only field = or != "
                        f'"string", joined by and): {command}'
                    )
                name, operator, value = match.groups()
                query.filters.append((name, operator, json.loads(f'"{value}"')))
        elif word == "sort":
            parts = rest.split()
            if len(parts) not in (1, 2) or not _FIELD.match(parts[0]):
                raise _malformed(f"the local engine does not run this sort: {command}")
            order = parts[1] if len(parts) == 2 else "desc"
            if order not in ("asc", "desc"):
                raise _malformed(f"sort order must be asc or desc: {command}")
            query.sort = (parts[0], order == "desc")
        elif word == "limit":
            if not rest.isdigit() or not 1 <= int(rest) <= QUERY_ROW_LIMIT:
                raise _malformed(f"limit must be between 1 and {QUERY_ROW_LIMIT}: {command}")
            query.limit = int(rest)
        else:
            raise _malformed(f"the local engine does not run the {word!r} command: {command}")
    if not query.fields:
        raise _malformed("the local engine runs only queries that name their fields")
    return query


def _split_pipes(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "|" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def _value(event: Any, stream: Any, group: Any, name: str) -> Any:
    if name == "@timestamp":
        return event.timestamp
    if name == "@message":
        return event.message
    if name == "@logStream":
        return stream.log_stream_name
    if name == "@log":
        return f"{group.account_id}:{group.name}"
    if name == "@ingestionTime":
        return event.ingestion_time
    try:
        value: Any = json.loads(event.message)
    except ValueError:
        return None
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _compare(found: Any, operator: str, value: str) -> bool:
    # An event without the field matches neither = nor != (it has nothing to compare).
    if found is None:
        return False
    return (found == value) == (operator == "=")


def _text(name: str, value: Any) -> str:
    if name in ("@timestamp", "@ingestionTime"):
        moment = datetime.datetime.fromtimestamp(int(value) / 1000, datetime.UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{int(value) % 1000:03d}"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


@dataclass
class InsightsQuery:
    """A started query; its first GetQueryResults says Running, as AWS's often do."""

    query_id: str
    query_string: str
    log_group_names: list[str]
    rows: list[list[dict[str, str]]]
    statistics: dict[str, float]
    create_time: int
    polled: int = 0

    @property
    def status(self) -> str:
        return "Complete" if self.polled > 1 else "Running"

    def to_result_json(self) -> dict[str, Any]:
        self.polled += 1
        if self.status != "Complete":
            return {"results": [], "statistics": {}, "status": self.status}
        return {"results": self.rows, "statistics": self.statistics, "status": self.status}

    def to_json(self, log_group_name: str) -> dict[str, Any]:
        return {
            "queryId": self.query_id,
            "queryString": self.query_string,
            "status": self.status,
            "createTime": self.create_time,
            "logGroupName": log_group_name,
        }


def run_query(
    groups: list[Any], query_string: str, start_time: int, end_time: int
) -> tuple[list[list[dict[str, str]]], dict[str, float]]:
    if end_time < start_time:
        raise logs_error("InvalidParameterException", "End time should not be before start time")
    for group in groups:
        if group_class(group) == "INFREQUENT_ACCESS":
            for command in IA_REFUSED_COMMANDS:
                if re.search(rf"(^|\|)\s*{command}\b", query_string):
                    raise _malformed(
                        f"{command} is not supported for log groups of class INFREQUENT_ACCESS"
                    )
    query = parse_query(query_string)
    matched: list[tuple[Any, Any, Any]] = []
    scanned = records = 0
    for group in groups:
        for stream in group.streams.values():
            for event in stream.events:
                if not start_time * 1000 <= event.timestamp <= end_time * 1000 + 999:
                    continue
                records += 1
                scanned += len(event.message.encode())
                if all(
                    _compare(_value(event, stream, group, name), operator, value)
                    for name, operator, value in query.filters
                ):
                    matched.append((event, stream, group))
    sort_field, descending = query.sort

    def key(item: tuple[Any, Any, Any]) -> tuple[int, Any]:
        value = _value(item[0], item[1], item[2], sort_field)
        return (0, "") if value is None else (1, value)

    matched.sort(key=key, reverse=descending)
    rows = []
    for event, stream, group in matched[: query.limit]:
        row = []
        for name in query.fields:
            value = _value(event, stream, group, name)
            if value is not None:  # AWS leaves out a field an event does not have
                row.append({"field": name, "value": _text(name, value)})
        row.append(
            {"field": "@ptr", "value": f"{group.name}/{stream.log_stream_name}/{event.event_id}"}
        )
        rows.append(row)
    statistics = {
        "recordsMatched": float(len(matched)),
        "recordsScanned": float(records),
        "bytesScanned": float(scanned),
    }
    return rows, statistics


def _insights() -> None:
    from moto.logs.exceptions import ResourceNotFoundException
    from moto.logs.models import LogsBackend

    def start_query(
        self: Any, log_group_names: list[str], start_time: int, end_time: int, query_string: str
    ) -> str:
        missing = [name for name in log_group_names if name not in self.groups]
        if missing:
            raise ResourceNotFoundException(f"Log group '{missing[0]}' does not exist")
        groups = [self.groups[name] for name in log_group_names]
        rows, statistics = run_query(groups, query_string, int(start_time), int(end_time))
        query_id = str(uuid.uuid4())
        self.queries[query_id] = InsightsQuery(
            query_id=query_id,
            query_string=query_string,
            log_group_names=list(log_group_names),
            rows=rows,
            statistics=statistics,
            create_time=int(datetime.datetime.now(datetime.UTC).timestamp() * 1000),
        )
        return query_id

    def get_query_results(self: Any, query_id: str) -> Any:
        if query_id not in self.queries:
            raise logs_error("ResourceNotFoundException", "The specified query does not exist.")
        return self.queries[query_id]

    LogsBackend.start_query = start_query  # type: ignore[method-assign]
    LogsBackend.get_query_results = get_query_results  # type: ignore[method-assign]


# -- CloudFormation ---------------------------------------------------------------------------


def _replacement() -> None:
    from moto.cloudformation.parsing import ResourceMap
    from moto.logs.models import LogGroup, logs_backends

    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:  # moto's keyword names: it calls updates by keyword
        from moto.cloudformation.exceptions import ValidationError

        backend = logs_backends[account_id][region_name]
        properties = dict(cloudformation_json.get("Properties", {}))
        name = properties.get("LogGroupName") or original_resource.name
        chosen = properties.get("LogGroupClass") or "STANDARD"
        # LogGroupName and LogGroupClass replace the group (AWS::Logs::LogGroup reference:
        # "Update requires: Replacement"); the other properties update it in place.
        if name == original_resource.name and chosen == group_class(original_resource):
            original_resource.retention_in_days = properties.get("RetentionInDays")
            return original_resource
        if "LogGroupName" in properties and name == original_resource.name:
            raise ValidationError(
                message="CloudFormation cannot update a stack when a custom-named resource "
                f"requires replacing. Rename {name} and update the stack again."
            )
        if "LogGroupName" not in properties:
            name = new_resource_name
        tags = {t["Key"]: t["Value"] for t in properties.pop("Tags", [])}
        properties.pop("LogGroupName", None)
        created = backend.create_log_group(name, tags, **properties)
        # Retain keeps the old group out of the stack; Delete (imgpipe's choice) removes it.
        if cloudformation_json.get("UpdateReplacePolicy") != "Retain":
            backend.groups.pop(original_resource.name, None)
        return created

    LogGroup.update_from_cloudformation_json = classmethod(update)  # type: ignore[assignment,method-assign]

    original_diff = ResourceMap.build_resource_diff

    def build_resource_diff(
        self: Any, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        found = dict(original_diff(self, other_template, parameters))
        resources = other_template.get("Resources", {})
        groups = [
            name
            for name in found.get("Modify", [])
            if resources.get(name, {}).get("Type") == "AWS::Logs::LogGroup"
        ]
        if not groups:
            return found
        # A replaced group has a new name and ARN: what refers to it is updated after it.
        dependents = [
            name
            for name, resource in resources.items()
            if name not in groups
            and name not in found.get("Add", [])
            and referenced(resource) & set(groups)
        ]
        rest = [n for n in found["Modify"] if n not in groups and n not in dependents]
        found["Modify"] = groups + rest + dependents
        return found

    ResourceMap.build_resource_diff = build_resource_diff  # type: ignore[method-assign]


_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9_]+)(?:\.[A-Za-z0-9_.]+)?\}")


def referenced(node: Any) -> set[str]:
    """Logical ids a template fragment refers to by ``Ref``, ``Fn::GetAtt`` or ``Fn::Sub``."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                if isinstance(text, str):
                    found |= set(_SUB_NAME.findall(text))
            found |= referenced(value)
    elif isinstance(node, list):
        for item in node:
            found |= referenced(item)
    return found
