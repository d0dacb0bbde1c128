"""JSONata for moto's Step Functions interpreter, so state machines can read variables.

moto's interpreter (LocalStack's) evaluates every variable reference (``$job.processingId`` in a
JSONPath state's ``Parameters``, a Choice rule, an intrinsic's argument) and every JSONata
expression by composing a JSONata program (``($job:={...};$job.processingId)``) for a Java
JSONata run through jpype. moto ships that bridge unset, so any read of a variable ends the
state in ``States.Runtime`` ("'NoneType' object is not callable"). This installs
``jsonata-python``, a pure-Python port of the same Java implementation, in its place; results
go through JSON as the Java bridge's do, errors surface as the interpreter's JSONataException.
LocalStack's plugin (``localstack_plugins/parity.py``) plugs the same evaluator into its copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.stepfunctions.parser.asl.jsonata import jsonata as bridge

    bridge._eval_jsonata = evaluator(bridge.JSONataException)
    _installed = True


def evaluator(error_type: Callable[[str, str], Exception]) -> Callable[[str], Any]:
    """The interpreter's ``_eval_jsonata``: a composed program in, a JSON value out."""

    def evaluate(expression: str) -> Any:
        import jsonata as jsonata_python

        try:
            result = jsonata_python.Jsonata(expression).evaluate(None)
            # Through JSON, as the Java bridge does: plain values, no library sequence types.
            return json.loads(json.dumps(result))
        except Exception as error:
            raise error_type("UNKNOWN", str(error)) from error

    return evaluate
