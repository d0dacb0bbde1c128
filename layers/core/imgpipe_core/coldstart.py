"""A handler's init with the cyclic garbage collector paused: imported first, ``ready()`` last.

Init loads some 600 modules and builds settings, models and clients that live as long as the
execution environment, and makes next to no garbage; yet the collector, triggered by every 700
allocations, kept walking that growing heap: pausing it saves 10-20 % of a cold start
(bench/coldstart.py). ``ready()`` moves what init built to the permanent generation
(``gc.freeze``), so the collections of later requests skip it too, and resumes collection.
"""

from __future__ import annotations

import gc

gc.disable()


def ready() -> None:
    """The end of a handler module's init: everything it built stays; collect from now on."""
    gc.freeze()
    gc.enable()
