"""The botocore data imgpipe_core needs, trimmed from the layer's own botocore at layer build.

A client's first creation parses ``endpoints.json`` (1.2 MB, every service in every partition)
and its service's whole model (S3: ~100 operations and their documentation): ~45 ms of CPU of
the API's cold start. This writes, beside imgpipe_core in the built layer, a data directory
that ``imgpipe_core.clients`` searches instead of botocore's (and only it, so a service that is
not here is refused, not loaded from elsewhere):

- for each service the code names (``client("s3")``, ``create("s3", ...)``), its latest model
  with only the operations the code calls (``.put_object(``, ``get_paginator("query")``) and
  those botocore calls itself, the shapes they reach, every modeled exception, and no
  documentation; its endpoint rules and extras as they are; its paginators for those
  operations; no waiters or examples;
- ``endpoints.json`` with only those services, in every partition; the other top-level files
  as they are.

An operation the code does not call is not a method of the client (AttributeError). Derived
from the code each build, never listed by hand; the same inputs give the same bytes (tested).

Usage (python3.12 -S, the layer's python/ directory as built by pip)::

    trim_botocore.py LAYER_PYTHON [--out DIR]   # default: LAYER_PYTHON/imgpipe_core/botocore_data
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import shutil
import sys
from pathlib import Path
from typing import Any

OUTPUT = "botocore_data"
PACKAGE = "imgpipe_core"
# Operations botocore calls on a client by itself, for the services that have them.
BOTOCORE_CALLS = {
    "s3": {
        "CreateBucket",  # generate_presigned_post resolves the endpoint with its model
        "HeadBucket",  # S3RegionRedirector: a bucket in another region
        "CreateSession",  # S3ExpressIdentityResolver: directory buckets
    },
}


class TrimError(Exception):
    """The code names a service or operation botocore does not have."""


def calls_in(package: Path) -> tuple[set[str], set[str]]:
    """(services, method names) the package's code calls: ``client("s3")`` / ``create("s3")``
    name a service; any ``x.name(...)`` or ``get_paginator("name")`` names a method. Over-
    inclusive on purpose (any receiver): a method of another object that shares an
    operation's name keeps an operation the code may not call, never drops one it does."""
    services: set[str] = set()
    methods: set[str] = set()
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0] if node.args else None
            literal = first.value if isinstance(first, ast.Constant) else None
            if name in ("client", "create") and isinstance(literal, str):
                services.add(literal)
            elif name == "get_paginator" and isinstance(literal, str):
                methods.add(literal)
            if isinstance(func, ast.Attribute):
                methods.add(func.attr)
    return services, methods


def _read(path: Path) -> Any:
    for candidate in (path.with_name(path.name + ".json"), path.with_name(path.name + ".json.gz")):
        if candidate.is_file():
            opener = gzip.open if candidate.suffix == ".gz" else open
            with opener(candidate, "rt", encoding="utf-8") as handle:
                return json.load(handle)
    return None


def _write(path: Path, data: Any) -> None:
    # Compact, in botocore's key order (member order is wire order for some protocols).
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n")


def _undocumented(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _undocumented(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [_undocumented(v) for v in value]
    return value


def _reachable(shapes: dict[str, Any], roots: list[str]) -> set[str]:
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        refs = [shape.get(k) for k in ("member", "key", "value")]
        refs += list(shape.get("members", {}).values())
        pending += [ref["shape"] for ref in refs if ref]
    return seen


def trim_model(model: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    operations = {name: op for name, op in model["operations"].items() if name in keep}
    shapes = model["shapes"]
    roots = [name for name, shape in shapes.items() if shape.get("exception")]
    for op in operations.values():
        roots += [op[k]["shape"] for k in ("input", "output") if k in op]
        roots += [error["shape"] for error in op.get("errors", [])]
    wanted = _reachable(shapes, roots)
    # Documentation only where botocore reads it with a default (operations and shapes).
    return {
        **model,
        "operations": _undocumented(operations),
        "shapes": _undocumented({name: s for name, s in shapes.items() if name in wanted}),
    }


def _latest_version(service_dir: Path) -> Path:
    versions = [d for d in service_dir.iterdir() if _read(d / "service-2") is not None]
    if not versions:
        raise TrimError(f"botocore has no service {service_dir.name!r}")
    return max(versions, key=lambda d: d.name)


def trim(layer: Path, out: Path) -> dict[str, list[str]]:
    """Write the trimmed data of ``layer``'s botocore to ``out``; the operations kept."""
    sys.path.insert(0, str(layer))  # the layer's botocore, the runtime's release
    from botocore import xform_name

    source = layer / "botocore" / "data"
    services, methods = calls_in(layer / PACKAGE)
    shutil.rmtree(out, ignore_errors=True)
    kept: dict[str, list[str]] = {}
    prefixes: set[str] = set()
    for service in sorted(services):
        version = _latest_version(source / service)
        model = _read(version / "service-2")
        keep = {
            name
            for name, op in model["operations"].items()
            if xform_name(name) in methods
            or name in BOTOCORE_CALLS.get(service, ())
            or op.get("endpointoperation")  # endpoint discovery's own operation
        }
        if not keep:
            raise TrimError(f"the code creates a {service} client but calls none of its operations")
        kept[service] = sorted(keep)
        prefixes.add(model["metadata"]["endpointPrefix"])
        target = out / service / version.name
        _write(target / "service-2.json", trim_model(model, keep))
        rules = _read(version / "endpoint-rule-set-1")
        if rules is not None:
            _write(target / "endpoint-rule-set-1.json", rules)
        pages = _read(version / "paginators-1")
        if pages is not None:
            pagination = {k: v for k, v in pages["pagination"].items() if k in keep}
            _write(target / "paginators-1.json", {**pages, "pagination": pagination})
        for extras in sorted(version.glob("*.sdk-extras.json")):
            data = json.loads(extras.read_text())
            merge = data.get("merge", {})
            if "pagination" in merge:
                merge["pagination"] = {k: v for k, v in merge["pagination"].items() if k in keep}
            _write(target / extras.name, data)
    for top in sorted(p for p in source.iterdir() if p.is_file()):
        name = top.name.split(".")[0]
        data = _read(source / name)
        if name == "endpoints":
            for partition in data["partitions"]:
                partition["services"] = {
                    k: v for k, v in partition["services"].items() if k in prefixes
                }
        _write(out / f"{name}.json", data)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("layer", type=Path, help="the layer's python/ directory")
    parser.add_argument("--out", type=Path, help=f"default: LAYER/{PACKAGE}/{OUTPUT}")
    args = parser.parse_args(argv)
    try:
        trim(args.layer, args.out or args.layer / PACKAGE / OUTPUT)
    except TrimError as error:
        print(f"trim_botocore: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
