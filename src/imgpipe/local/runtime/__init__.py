"""Local Lambda runtime: a function's real handler in warm worker processes on its own Python.

Reusable by any engine (moto here, LocalStack through its RuntimeExecutor plugin): nothing in
this package imports an AWS emulator. Build a :class:`FunctionSpec`, call
:meth:`LambdaRuntime.invoke`.

- :mod:`.spec` the data in and out; :mod:`.pool` warm pools and one invocation's lifecycle;
  :mod:`.process` one worker process; :mod:`.reporting` Lambda's error types and log lines;
  :mod:`.interpreter` which Python runs a Runtime and what the managed runtime provides;
  ``worker.py`` the stdlib-only program inside the sandbox.
"""

from imgpipe.local.runtime.interpreter import (
    Interpreter,
    InterpreterNotFoundError,
    find_interpreter,
    managed_packages,
)
from imgpipe.local.runtime.pool import LambdaRuntime
from imgpipe.local.runtime.spec import FunctionSpec, InvokeResult, LogSink

__all__ = [
    "FunctionSpec",
    "Interpreter",
    "InterpreterNotFoundError",
    "InvokeResult",
    "LambdaRuntime",
    "LogSink",
    "find_interpreter",
    "managed_packages",
]
