"""Peak memory of processes, for reports and benchmarks."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far [MB].

    Read from VmHWM in /proc/self/status where available: on Linux, ru_maxrss of a process
    started by fork + exec is never below the peak of its parent at the fork (the kernel
    keeps the larger of the two across exec), so a measurement process started by a large
    parent would report the parent's peak. VmHWM belongs to the process's own address space
    and starts afresh at exec. Elsewhere: ru_maxrss (kB on Linux, bytes on macOS)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def children_peak_rss_mb() -> float:
    """Largest ru_maxrss [MB] of the child processes this process has waited for (an upper
    bound on each child's own peak: see :func:`peak_rss_mb`)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
