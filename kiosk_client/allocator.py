"""Keeps the kiosk's memory flat over a long call: frame-sized buffers go back to the system when freed.

A call moves ~1 MiB video frames (640x480) through aiortc's encoder and decoder threads many times a second.
glibc's malloc raises its mmap threshold each time such a mapped block is freed (up to 32 MiB), after
which frames are carved out of per-thread arenas that keep the freed memory: a ten-minute call then saw
the kiosk's RSS climb 15-40 MiB in steps (docs/performance.md, "Soak"). Fixing the threshold at 128 KiB
turns off that adjustment, so every frame buffer is mapped and unmapped, and two arenas are enough for a
program whose threads mostly wait. A few mmap/munmap calls per frame cost microseconds.

Only glibc has these knobs; elsewhere (musl, macOS) nothing is changed. An operator who sets glibc's own
``MALLOC_*`` environment variables keeps them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024
ARENA_MAX = 2
_OPERATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX")


def tune_allocator(environ: Mapping[str, str]) -> bool:
    """Apply the settings above to this process's malloc; True when they were applied."""
    if any(name in environ for name in _OPERATOR_SETTINGS):
        log.debug("malloc: keeping the MALLOC_* settings from the environment")
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_ARENA_MAX, ARENA_MAX))
    log.debug("malloc: mmap threshold %d bytes, %d arenas: %s", MMAP_THRESHOLD_BYTES, ARENA_MAX, applied)
    return applied
