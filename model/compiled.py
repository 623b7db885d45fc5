"""Compiled loops (Numba) for the per-membership work of the phases.

The phases keep their state in NumPy arrays; where a phase walks the membership edge list city by
city (a few memberships each, several issues), one compiled pass replaces a dozen array passes and
their temporaries. `jit` is the one decorator they use: compiled on the first call and cached on
disk next to the module (`__pycache__`, or NUMBA_CACHE_DIR where that is not writable), so a run
after the first does not compile again. `error_model="numpy"`: division follows NumPy (inf or nan,
no exception). No parallel loops and no fast-math: sums run in a fixed order, so the same inputs
give the same bits on every machine, serial or in a worker process.
"""

from __future__ import annotations

import numba

jit = numba.njit(cache=True, nogil=True, error_model="numpy")

__all__ = ["jit"]
