"""A cold start with the cyclic garbage collector paused: imported first by every handler.

Init loads some 600 modules and builds settings and models, and the first invocation the
clients it calls: all of it lives as long as the execution environment, next to no garbage.
Yet the collector, run every 700 allocations, kept walking that growing heap: pausing it saves
10-20 % of a cold start (bench/coldstart.py). When the first invocation returns, what the cold
start built moves to the permanent generation (``gc.freeze``), so later collections skip it,
and collection resumes.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from imgpipe_core import reexports

P = ParamSpec("P")
R = TypeVar("R")

gc.disable()

# Powertools' re-exporting packages, each name loaded with its own submodule (reexports.py).
for _package in (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
):
    reexports.defer(_package)


def resume_after_first_invocation(handler: Callable[P, R]) -> Callable[P, R]:
    """The outermost decorator of a handler: its first invocation ends the cold start."""

    @functools.wraps(handler)
    def invoke(*args: P.args, **kwargs: P.kwargs) -> R:
        if gc.isenabled():
            return handler(*args, **kwargs)
        try:
            return handler(*args, **kwargs)
        finally:
            gc.freeze()
            gc.enable()

    return invoke
