"""The C allocator's settings for a process that decodes: fixed thresholds instead of glibc's
sliding ones.

The engine works in bands: each band of a develop allocates and frees temporaries of one
to a few megabytes (planes, filter outputs, colour conversions). glibc serves a block
above its mmap threshold (128 kB at start) with a fresh ``mmap`` and unmaps it when freed,
and trims the top of the heap beyond its trim threshold; it raises both thresholds only
as such blocks come and go. Until then each band's temporaries are new pages, faulted in
and zeroed by the kernel, then handed back: the first full-size render in a process took
about twice as long as the second (45 MP: 1.4 s against 0.74 s on one core; 24 MP: 1.0 s
against 0.53 s). With the thresholds fixed from the start the first render is as fast as
the later ones, and the peak is unchanged within a few megabytes (``docs/engine.md``).

A block above ``MMAP_THRESHOLD`` (the sensor buffer, a whole image) is still mapped and
given back to the system when freed, and at most ``TRIM_THRESHOLD`` of free heap stays
with the process between files.

This is a setting of the whole process, so the engine never applies it on its own: the
entry points that decode call ``tune_allocator`` once (the Celery worker before it forks
its pool, each ``rawproc process`` worker, the benchmarks' engine children). Elsewhere
than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt(3) parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 8 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024


def tune_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds for this process (and the processes it forks
    later); ``True`` when they were set, ``False`` where there is no glibc ``mallopt``."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
        # gnu_get_libc_version exists in glibc only; musl's mallopt accepts and ignores.
        libc.gnu_get_libc_version  # noqa: B018
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    if not done:
        log.warning("mallopt refused the allocator thresholds; glibc's defaults stay")
    return done
