from __future__ import annotations

import subprocess
import sys


def test_freeze_startup_heap_freezes_what_is_alive_and_spares_later_objects() -> None:
    # In a child process: freezing is process-wide and must not leak into this test session.
    script = """
import gc
from factflow_foundation import freeze_startup_heap
survivor = [object() for _ in range(1000)]
frozen = freeze_startup_heap()
assert frozen >= 1000, frozen
assert gc.get_freeze_count() == frozen
later = [[] for _ in range(100)]
assert gc.get_freeze_count() == frozen, "objects made after the freeze stay collectable"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_raising_the_young_threshold_keeps_the_older_ones() -> None:
    script = """
import gc
from factflow_foundation import YOUNG_COLLECTION_THRESHOLD, raise_young_collection_threshold
before = gc.get_threshold()
raise_young_collection_threshold()
assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *before[1:]), gc.get_threshold()
gc.collect()
garbage = []
garbage.append(garbage)  # a cycle: only the collector frees it
del garbage
assert gc.collect() >= 1, "cyclic garbage is still collected"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
