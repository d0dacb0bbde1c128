"""Per-request costs of moto's server and interpreter that a burst of uploads pays many times.

Measured under a 100-upload burst (``make soak``; README, Performance): neither changes what
any request does or answers, only how often the same work is repeated.

* moto's dispatcher lists its own package directory (a ``stat`` per service, ~170) to route
  every request, while holding the lock that serialises all of them: the list never changes
  in a running process, so it is read once.
* The Step Functions interpreter builds a new boto3 client for every task it runs (~4 ms of
  CPU in the engine process each, several per upload): one client per service and port.
* It also parses the state machine's definition with its ANTLR grammar for every execution
  (80-140 ms of CPU for the pipeline's ASL, the largest single cost of an upload in the engine
  process under a 60-upload burst): each definition is parsed once and every execution gets its
  own copy of the parsed program (unpickled, ~2 ms), so no state is shared between executions.
* Every JSONPath it evaluates (InputPath, ResultPath, ``.$`` parameters, Choice variables) is
  parsed again by jsonpath_ng, which rebuilds its PLY lexer and parser tables each time (8 % of
  the engine's CPU in the same burst): each path is parsed once; a parsed path is immutable.
"""

from __future__ import annotations

import functools
import importlib
import pickle
import sys
import threading
from typing import Any

_installed = False
_INTERPRETER_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service."
    "state_task_service_aws_sdk",
)


def install() -> None:
    global _installed
    if _installed:
        return
    _cache_module_list()
    _share_interpreter_clients()
    _parse_each_definition_once()
    _parse_each_json_path_once()
    _installed = True


def _cache_module_list() -> None:
    from moto import backends

    names = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: names  # type: ignore[assignment]


def _share_interpreter_clients() -> None:
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    clients: dict[tuple[str, str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # The interpreter's clients carry fixed fake credentials, so only the endpoint differs.
        key = (region, service, str(moto_server_port()))
        with lock:
            if key not in clients:
                clients[key] = original(region, service, state_credentials)
            return clients[key]

    boto_client.boto_client_for = boto_client_for  # type: ignore[assignment]
    for name in _INTERPRETER_MODULES:
        module = sys.modules.get(name) or importlib.import_module(name)
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


def _parse_each_definition_once() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    @functools.lru_cache(maxsize=64)
    def parsed(definition: str) -> bytes:
        program, _ = AmazonStateLanguageParser.parse(definition)
        return pickle.dumps(program)

    def entrypoint(self: ExecutionWorker) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        return pickle.loads(parsed(definition))  # a fresh program tree for each execution

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]


def _parse_each_json_path_once() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):
        module.parse = functools.lru_cache(maxsize=4096)(module.parse)  # type: ignore[attr-defined]
