"""The server settles its heap once it has started (app/infra/heap.py): in a process of
its own, as a server would, since a frozen heap stays frozen for the process's life."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import gc, json, weakref
from app.infra import heap
from app.infra.config import get_settings
before = gc.get_threshold()
class Cycle:
    pass
c = Cycle(); c.me = c; ref = weakref.ref(c); del c  # garbage from before the start
heap.settle(get_settings())
print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                  "before": before, "garbage_freed": ref() is None}))
gc.unfreeze()
"""


def _probe(**env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_settle_freezes_the_start_up_heap_and_raises_the_first_threshold():
    got = _probe(GC_FREEZE_ON_START="1", GC_GEN0_THRESHOLD="12345")
    assert got["frozen"] > 10_000  # the modules and settings loaded so far
    assert got["threshold"] == [12345, *got["before"][1:]]
    assert got["garbage_freed"]  # collected first, not kept forever by the freeze


def test_turned_off_the_collector_is_left_as_python_sets_it():
    got = _probe(GC_FREEZE_ON_START="0", GC_GEN0_THRESHOLD="12345")
    assert got["frozen"] == 0
    assert got["threshold"] == got["before"]
