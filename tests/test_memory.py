"""Process memory helpers (ssbfv.memory)."""

import sys

import numpy as np
import pytest

from ssbfv.memory import peak_rss_mb, release_freed_memory


def resident_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_release_freed_memory_returns_the_held_heap():
    """400 MB in 8 kB blocks (below glibc's mmap threshold, so they come from the heap),
    freed: glibc keeps them resident; the trim gives most of them back."""
    base = resident_mb()
    blocks = [np.ones(1000) for _ in range(50_000)]
    assert resident_mb() - base > 300
    del blocks
    held = resident_mb() - base
    if held < 100:
        pytest.skip(f"the allocator gave the memory back by itself ({held:.0f} MB still held)")
    assert release_freed_memory() is True
    assert resident_mb() - base < 0.5 * held
    assert peak_rss_mb() >= base + 300
