"""`riskwall.proxy.StartupFrozen`: once the sidecar runs, what it built while starting is out of the cyclic garbage
collector's sight, so a full collection walks only what the sidecar made since (and still frees it). Run in a
child interpreter: freezing the test process's own objects would change every later test's collections."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc, json
import riskwall.proxy, riskwall.addon, riskwall.cli, mitmproxy.tools.dump  # what a starting sidecar imports
from riskwall.proxy import StartupFrozen

tracked_before = len(gc.get_objects())
StartupFrozen().running()
tracked_after = len(gc.get_objects())

class Node:
    pass

garbage = Node()
garbage.self = garbage  # a cycle only the collector can free
del garbage
freed = gc.collect()
print(json.dumps({"before": tracked_before, "after": tracked_after, "frozen": gc.get_freeze_count(),
                  "freed": freed}))
"""


def test_running_when_the_sidecar_started_then_startup_objects_frozen_and_new_cycles_still_freed() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["before"] > 50_000  # mitmproxy, the modules and their objects: what a full collection walked
    assert seen["frozen"] >= seen["before"] * 0.9
    assert seen["after"] < seen["before"] * 0.05  # what a full collection walks from now on
    assert seen["freed"] >= 1  # the cycle made after the freeze
