"""The server's heap, settled once it has started.

A full garbage collection walks every object the process holds. Most of an API
process's objects are made at start (modules, the schema, Tortoise's models) and live
as long as it does, so each full collection under load re-walked some 200,000 objects
to free a request's few cycles: about a tenth of a loaded server's CPU. `gc.freeze()`
moves what exists at start out of the collector's sight (Python's own advice for
long-running servers; it is the public API, not an internal), and a larger first
generation lets a request's short-lived cycles die young instead of being promoted
while other requests are in flight. Measured in BENCHMARKS.md (issue 15).

GC_FREEZE_ON_START=0 leaves the collector as Python sets it.
"""

from __future__ import annotations

import gc

from app.infra.config import Settings


def settle(settings: Settings) -> None:
    """Once the server is up: collect, then freeze what is left; raise the first
    generation's threshold. Only a server process calls this (the app's lifespan when it
    manages the database), never a test's in-process app, whose objects would stay."""
    if not settings.gc_freeze_on_start:
        return
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(settings.gc_gen0_threshold, older, oldest)
