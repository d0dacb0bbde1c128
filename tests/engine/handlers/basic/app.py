"""Handlers for tests/engine/test_runtime.py: each returns what the test needs to see."""

import ctypes
import os
import sys
import time

from aws_lambda_powertools import Logger

logger = Logger(service="runtime-test")
INVOCATIONS = 0  # module state survives warm invocations


class PixelBombError(Exception):
    pass


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


def try_import(event, context):
    try:
        __import__(event["module"])
    except ImportError:
        return False
    return True


def sleep(event, context):
    time.sleep(event["seconds"])
    return {"slept": event["seconds"], "pid": os.getpid()}


def fail(event, context):
    raise PixelBombError("image exceeds 40 megapixels")


def allocate(event, context):
    blob = b"x" * (event["mb"] << 20)
    return len(blob)


def exit_hard(event, context):
    os._exit(3)


def segfault(event, context):
    ctypes.string_at(0)


def unserialisable(event, context):
    return {1, 2}


def too_large(event, context):
    return "x" * (7 << 20)


def chatty(event, context):
    print("hello from print")
    print("to stderr", file=sys.stderr)
    os.write(1, b"raw fd write\n")
    return "ok"


@logger.inject_lambda_context
def logged(event, context):
    logger.info("resizing", extra={"variant": "thumb"})
    return "ok"
