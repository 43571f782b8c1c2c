"""Peak memory of processes, for reports and benchmarks; returning freed heap memory."""

from __future__ import annotations

import ctypes
import ctypes.util
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


def release_freed_memory() -> bool:
    """Return the heap memory that has been freed but is still held by the C allocator to the
    operating system (glibc's ``malloc_trim(0)``); True where that was done, False where the
    C library has no such call (not glibc).

    OpenCASCADE's fragment of the reference cell frees ~2.7 GB of temporaries when it ends,
    but glibc keeps them in the process (seed 4: 3245 MB resident after the fragment, 905 MB
    after the trim; benchmarks/RESULTS.md), and gmsh's meshing then grows on top of them."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return False
    trim(0)
    return True
