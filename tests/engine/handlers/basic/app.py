"""Handlers for tests/engine/test_runtime.py: each returns what the test needs to see."""

import ctypes
import logging
import os
import subprocess
import sys
import time

from aws_lambda_powertools import Logger

logger = Logger(service="runtime-test")
INVOCATIONS = 0  # module state survives warm invocations


class PixelBombError(Exception):
    pass


def _importable(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def echo(event, context):
    return {"event": event, "pid": os.getpid()}


def counter(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    return {"count": INVOCATIONS, "pid": os.getpid()}


def inspect(event, context):
    return {
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "sys_path": sys.path,
        "importable": {
            name: _importable(name) for name in ("imgpipe", "imgpipe_core", "PIL", "moto", "pytest")
        },
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "client_context": context.client_context and context.client_context.custom,
        },
    }


def sleep(event, context):
    time.sleep(event["seconds"])
    return {"slept": event["seconds"], "pid": os.getpid()}


def fail(event, context):
    if event.get("raise"):
        raise PixelBombError("image exceeds 40 megapixels")
    return {"pid": os.getpid()}


def allocate(event, context):
    blob = b"x" * (event["mb"] << 20)
    return {"allocated": len(blob), "pid": os.getpid()}


def crash(event, context):
    if event.get("crash") == "exit":
        os._exit(3)
    if event.get("crash") == "segfault":
        ctypes.string_at(0)
    return {"pid": os.getpid()}


def unserialisable(event, context):
    return {1, 2}


def too_large(event, context):
    return "x" * (7 << 20)


def chatty(event, context):
    print("hello from print")
    print("to stderr", file=sys.stderr)
    os.write(1, b"raw fd write\n")
    logging.getLogger("app").warning("via the root handler")
    return "ok"


@logger.inject_lambda_context
def logged(event, context):
    logger.info("resizing", extra={"variant": "thumb"})
    return "ok"


def spawn_and_hang(event, context):
    child = subprocess.Popen(["sleep", "60"])
    print(f"child pid {child.pid}")
    time.sleep(60)
