"""Engine test handler: behaviour is chosen by the object key, so tests drive it through S3."""

import os
import time

COLD_STARTS = {"count": 0}
COLD_STARTS["count"] += 1


class WorkerRefused(Exception):
    """Raised for keys under jobs/refuse/; the state machine catches it by this name."""


def handler(event, context):
    if event.get("action") == "square":
        return event["value"] * event["value"]
    key = event["key"]
    if key.startswith("jobs/refuse/"):
        raise WorkerRefused(f"refusing {key}")
    if key.startswith("jobs/slow/"):
        time.sleep(30)  # far past the function's 2 s Timeout
    return {
        "greeting": os.environ["GREETING"],
        "table": os.environ["TABLE_NAME"],
        "function": context.function_name,
        "items": [1, 2, 3, 4],
    }
