"""How a batch command's process manages its memory.

glibc maps every big allocation (a column of a chunk) afresh and gives it back when it is
freed, so the kernel zeroes the same pages again and again: on a million-line ingest that is
600,000 page faults and two seconds of system time across the processes. A batch command
that works through a log chunk after chunk of the same size can keep what it freed instead.
"""

from __future__ import annotations

import ctypes

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
KEEP_ALL = 2**31 - 1


def keep_freed_memory() -> bool:
    """Serve big allocations from the heap and never trim it, in this process and those it
    forks later: freed memory is reused, not faulted in again (measured on 1 M lines:
    page faults 600,000 -> 280,000, system time 2.0 -> 1.2 s, wall -8 %; peak RSS +5-10 %,
    as freed pieces are no longer returned). For one-shot commands, not a long-running
    server. Returns whether it applied (False where the C library is not glibc)."""
    mallopt = _glibc("mallopt", ctypes.c_int, ctypes.c_int)
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_ALL))


def release_freed_memory() -> bool:
    """Give the memory freed so far back to the system (glibc's ``malloc_trim``): for a
    phase of other work after the chunks are done, whose allocations do not fit the holes
    the chunks left (measured on 1 M lines: judging the accounts after ingest raised the
    peak by 115 MiB untrimmed, by nothing trimmed). Returns whether it applied."""
    malloc_trim = _glibc("malloc_trim", ctypes.c_size_t)
    if malloc_trim is None:
        return False
    malloc_trim(0)
    return True


def _glibc(name: str, *argtypes):
    """glibc's function ``name`` taking ``argtypes`` and returning an int; None elsewhere."""
    try:
        function = getattr(ctypes.CDLL("libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = argtypes, ctypes.c_int
    return function
