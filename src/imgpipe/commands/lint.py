"""``imgpipe validate-asl``: parse each ASL file with the Step Functions grammar and check that
every ``${Placeholder}`` is provided by the template's ``DefinitionSubstitutions``."""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

from imgpipe.cli import CliError

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("validate-asl", help="validate state machine definitions")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.set_defaults(func=run)


def substitutions(template: Path) -> dict[str, set[str]]:
    """DefinitionUri → the names its DefinitionSubstitutions provide."""
    from imgpipe.local.deploy import load_template

    provided: dict[str, set[str]] = {}
    for resource in load_template(template)["Resources"].values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            uri = str((template.parent / str(props["DefinitionUri"])).resolve())
            provided[uri] = set(props.get("DefinitionSubstitutions", {}))
    return provided


def validate(path: Path, provided: set[str] | None) -> list[str]:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    # Its warnings are about what moto's interpreter runs, not about the definition.
    logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor").setLevel(logging.ERROR)

    text = path.read_text()
    try:
        json.loads(text)
    except ValueError as error:
        return [f"{path}: not JSON: {error}"]
    problems = []
    used = set(PLACEHOLDER.findall(text))
    if provided is not None:
        problems += [f"{path}: ${{{name}}} has no substitution" for name in sorted(used - provided)]
        problems += [f"{path}: substitution {name} is unused" for name in sorted(provided - used)]
    # Placeholders become plausible values so the grammar sees a deployable definition.
    concrete = PLACEHOLDER.sub(
        lambda m: f"arn:aws:lambda:us-east-1:123456789012:function:{m.group(1)}", text
    )
    try:
        AmazonStateLanguageParser.parse(concrete)
    except Exception as error:
        problems.append(f"{path}: {error}")
    return problems


def run(args: argparse.Namespace) -> int:
    provided = substitutions(args.template) if args.template.exists() else {}
    problems: list[str] = []
    for path in args.files:
        problems += validate(path, provided.get(str(path.resolve())))
    if problems:
        raise CliError("\n".join(problems))
    print(f"{len(args.files)} definition(s) valid")
    return 0
