"""Reports what its sandbox gives it; the action is chosen by the event."""

import importlib
import sys
import time


class ProbeError(Exception):
    """Raised on request: Lambda reports the class name as the errorType."""


def handler(event, context):
    action = event["action"]
    if action == "describe":
        found = {}
        for name in event["modules"]:
            try:
                importlib.import_module(name)
                found[name] = True
            except ImportError:
                found[name] = False
        return {
            "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
            "modules": found,
            "memory": context.memory_limit_in_mb,
            "request_id": context.aws_request_id,
        }
    if action == "identity":
        import boto3  # the managed runtime's

        return {"arn": boto3.client("sts").get_caller_identity()["Arn"]}
    if action == "raise":
        raise ProbeError("raised on request")
    if action == "sleep":
        time.sleep(60)  # far past the function's 8 s Timeout
    if action == "allocate":
        hold = bytearray(512 * 1024 * 1024)  # 512 MB, four times its MemorySize
        return len(hold)
    return None
