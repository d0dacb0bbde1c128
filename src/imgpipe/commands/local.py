"""``imgpipe local ...``: run the embedded AWS engine and deploy SAM templates to any endpoint."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

from imgpipe.cli import CliError
from imgpipe.local import discovery
from imgpipe.local.deploy import Deployer, DeployError, parse_overrides

PROJECT_TEMPLATE = Path("template.yaml")
DEFAULT_STACK = "imgpipe"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    local = subparsers.add_parser("local", help="the local AWS engine (no Docker, no AWS account)")
    sub = local.add_subparsers(dest="local_command", metavar="ACTION", required=True)

    up = sub.add_parser("up", help="start the engine, deploy template.yaml, serve until Ctrl-C")
    up.add_argument("--port", type=int, default=0, help="engine port (default: a free one)")
    up.add_argument("--template", type=Path, default=PROJECT_TEMPLATE)
    up.add_argument("--stack-name", default=DEFAULT_STACK)
    up.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    up.add_argument("--no-deploy", action="store_true", help="start the engine only")
    up.add_argument(
        "--faults",
        type=Path,
        metavar="FILE",
        help="a JSON fault plan to inject (README: Fault injection)",
    )
    up.add_argument("--verbose", action="store_true", help="print the engine's request log")
    up.set_defaults(func=cmd_up)

    deploy = sub.add_parser("deploy", help="deploy a SAM template (engine, LocalStack or AWS)")
    deploy.add_argument("--template", type=Path, default=PROJECT_TEMPLATE)
    deploy.add_argument("--stack-name", default=DEFAULT_STACK)
    deploy.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    deploy.add_argument(
        "--endpoint-url",
        help="default: the running `imgpipe local up`; e.g. http://localhost:4566 for LocalStack",
    )
    deploy.add_argument("--region", default=None)
    deploy.set_defaults(func=cmd_deploy)

    logs = sub.add_parser("logs", help="print a function's invocation logs (CloudWatch Logs)")
    logs.add_argument("function", help="function name or a prefix of it, e.g. the logical id")
    logs.add_argument("--endpoint-url")
    logs.add_argument("--limit", type=int, default=200)
    logs.set_defaults(func=cmd_logs)

    localstack = sub.add_parser(
        "localstack", help="LocalStack, the second engine: install, start or stop it (no Docker)"
    )
    localstack.add_argument("action", choices=["start", "stop"])
    localstack.add_argument(
        "--port", type=int, default=0, help="gateway port (default: a free one)"
    )
    localstack.add_argument("--state-dir", type=Path, default=Path(".localstack"))
    localstack.add_argument("--venv", type=Path, default=Path(".venv-localstack"))
    localstack.set_defaults(func=cmd_localstack)


def cmd_up(args: argparse.Namespace) -> int:
    from imgpipe.local import api_server
    from imgpipe.local.engine import Engine

    started = time.monotonic()
    stop = threading.Event()
    # SIGTERM ends the engine as cleanly as Ctrl-C does: workers killed, nothing left running.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # moto's server logs every request through werkzeug; it buries this command's own output.
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.ERROR)
    with Engine(port=args.port) as engine:
        print(f"endpoint: {engine.endpoint_url}", flush=True)
        if args.faults:
            try:
                plan = engine.faults.load(args.faults)
            except (OSError, ValueError) as error:
                raise CliError(f"fault plan {args.faults}: {error}") from error
            rules = len(plan.lambda_) + len(plan.s3) + len(plan.dynamodb)
            print(f"faults: {rules} rule(s) from {args.faults}, seed {plan.seed}", flush=True)
        outputs: dict[str, str] = {}
        if not args.no_deploy:
            _print_interpreters(args.template)
            try:
                overrides = parse_overrides(args.parameter_overrides)
                overrides = _with_local_api(args.template, overrides)
                overrides = _with_signing_key(engine, args.stack_name, overrides)
                result = engine.deploy(args.template, args.stack_name, overrides, prewarm=True)
            except DeployError as error:
                raise CliError(str(error)) from error
            outputs = result.outputs
            print(f"stack: {args.stack_name} ({result.status})", flush=True)
        # The local API server replaces the API Gateway URL, which has no meaning here.
        outputs = {**outputs, **api_server.start(engine, args.stack_name, outputs)}
        _print_outputs(outputs)
        discovery.write(engine.endpoint_url, args.stack_name, outputs)
        print(f"ready in {time.monotonic() - started:.1f}s — Ctrl-C to stop", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            discovery.clear(engine.endpoint_url)
            print("stopping engine", flush=True)
    return 0


def _print_interpreters(template: Path) -> None:
    """Say which Python each Runtime of the template runs on; refuse when one has none."""
    from imgpipe.local.deploy import DeployError, function_runtimes, load_template
    from imgpipe.local.runtime import InterpreterNotFoundError, find_interpreter

    try:
        runtimes = function_runtimes(load_template(template))
        for runtime in runtimes:
            print(f"lambda {find_interpreter(runtime).describe()}", flush=True)
    except (DeployError, InterpreterNotFoundError) as error:
        raise CliError(str(error)) from error


def _with_local_api(template: Path, overrides: dict[str, str]) -> dict[str, str]:
    """Reserve the local API's port first: published URLs point at its /cdn (see api_server)."""
    from imgpipe.local import api_server
    from imgpipe.local.deploy import load_template

    parsed = load_template(template)
    if "ApiFunction" not in parsed["Resources"]:
        return overrides
    if "PublicBaseUrl" not in parsed.get("Parameters", {}):
        return overrides
    url = api_server.bind()
    bound = {"PublicBaseUrl": f"{url}/cdn"}
    if "ApiBaseUrl" in parsed["Parameters"]:
        bound["ApiBaseUrl"] = url  # statusUrl comes from configuration, not the Host header
    return {**bound, **overrides}


def _with_signing_key(engine: Any, stack_name: str, overrides: dict[str, str]) -> dict[str, str]:
    """Delivery=private without a key: make one in the engine, as `imgpipe cdn-key create`."""
    if overrides.get("Delivery") != "private" or overrides.get("CdnPublicKeyPem"):
        return overrides
    from imgpipe.commands.cdnkey import store_key_pair

    name, public = store_key_pair(engine.client("ssm"), stack_name, replace=True)
    print(f"cdn-key: new signing key in {name}", flush=True)
    return {**overrides, "CdnPublicKeyPem": public}


def cmd_deploy(args: argparse.Namespace) -> int:
    endpoint = args.endpoint_url or discovery.endpoint()
    overrides = parse_overrides(args.parameter_overrides)
    local_engine = endpoint is not None and discovery.is_engine(endpoint)
    if local_engine:
        from imgpipe.local.engine import fake_session

        session = fake_session(args.region or "us-east-1")
    else:
        session = None
    deployer = Deployer(endpoint_url=endpoint, region=args.region, session=session)
    try:
        result = deployer.deploy(args.template, args.stack_name, overrides)
    except DeployError as error:
        raise CliError(str(error)) from error
    print(f"stack: {result.stack_name} ({result.status}) in {result.seconds:.1f}s")
    _print_outputs(result.outputs)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from imgpipe.aws import Stack

    stack = Stack.connect(endpoint_url=args.endpoint_url)
    logs = stack.client("logs")
    groups = [
        g["logGroupName"]
        for g in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
        if args.function in g["logGroupName"]
    ]
    if not groups:
        raise CliError(f"no log group matches {args.function!r}")
    for group in groups:
        events = logs.filter_log_events(logGroupName=group, limit=args.limit)["events"]
        for event in sorted(events, key=lambda e: e["timestamp"]):
            print(f"{group}  {event['message'].rstrip()}")
    return 0


def cmd_localstack(args: argparse.Namespace) -> int:
    from imgpipe.local.localstack import LocalStack, LocalStackError

    localstack = LocalStack(args.state_dir, args.venv)
    try:
        if args.action == "start":
            print(f"endpoint: {localstack.start(args.port)}", flush=True)
        else:
            localstack.stop()
    except LocalStackError as error:
        raise CliError(str(error)) from error
    return 0


def _print_outputs(outputs: dict[str, str]) -> None:
    width = max((len(k) for k in outputs), default=0)
    for key, value in sorted(outputs.items()):
        print(f"  {key.ljust(width)}  {value}", flush=True)
