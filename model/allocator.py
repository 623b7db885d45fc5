"""An opt-in tuning of glibc's allocator for large runs (used by the command line and the benchmarks).

The phases allocate many short-lived arrays of a few MB. glibc's malloc serves those with mmap and
returns them on free, so every allocation pays page faults on first touch (about 15% of a
world-scale run's time, all in the kernel). Raising the mmap and trim thresholds keeps them on the
heap for reuse; peak memory is unchanged. It changes the allocator of the whole process, so it is
never done on import: call `keep_large_arrays_on_the_heap()` once in a program that wants it. No
effect off glibc.
"""

from __future__ import annotations


def keep_large_arrays_on_the_heap() -> bool:
    """Raise glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD to 256 MiB; True when it took effect."""
    try:
        import ctypes
        import sys

        if not sys.platform.startswith("linux"):
            return False
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-3, 1 << 28)  # M_MMAP_THRESHOLD
        ok &= libc.mallopt(-1, 1 << 28)  # M_TRIM_THRESHOLD
        return bool(ok)
    except (OSError, AttributeError):
        return False
