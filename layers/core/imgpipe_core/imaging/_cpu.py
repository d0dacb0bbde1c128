"""How many threads of image work can run at once here."""

from __future__ import annotations

import os

# Lambda's CPU share per MB of memory: one full vCPU at 1769 MB, two at twice that.
_LAMBDA_MB_PER_VCPU = 1769


def cores() -> int:
    """Cores this process can keep busy at once: Lambda shows two at any memory size, but
    below 3538 MB they share one vCPU's time, and a second thread only adds its overhead."""
    count = os.cpu_count() or 1
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit():
        count = min(count, max(1, int(memory) // _LAMBDA_MB_PER_VCPU))
    return count
