"""Giving the memory of large image buffers back to the OS (glibc malloc), so the node's RSS returns to its
baseline after a high-resolution stream stops.

glibc serves allocations above its mmap threshold with mmap and unmaps them on free, but it raises that
threshold (up to 32 MiB) after the first such free; later 4K frames (24 MiB) then come from the heap
arenas and stay resident after the stream stops. Pinning the threshold keeps every frame-sized buffer
mmapped (returned on free); malloc_trim releases what the arenas still hold once frames stop. Elsewhere
(musl, macOS) both are reported as unavailable and nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h); setting it also disables the dynamic adjustment
FRAME_MMAP_THRESHOLD = 2 * 1024 * 1024  # above a 640x480 bgr8 frame (0.9 MiB), below 1280x720 (2.6 MiB)


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def pin_mmap_threshold(nbytes: int = FRAME_MMAP_THRESHOLD) -> bool:
    """Serve allocations of nbytes and more with mmap from now on; False where glibc is absent."""
    return _LIBC is not None and _LIBC.mallopt(M_MMAP_THRESHOLD, int(nbytes)) == 1


def release_free_memory() -> bool:
    """Return free heap memory to the OS (malloc_trim); False where unavailable or nothing was freed."""
    return _LIBC is not None and _LIBC.malloc_trim(0) == 1
