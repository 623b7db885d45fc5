"""Compiled loops (Numba) for the per-membership work of the phases.

The phases keep their state in NumPy arrays; where a phase walks the membership edge list city by
city (a few memberships each, several issues), one compiled pass replaces a dozen array passes and
their temporaries. `jit` is the one decorator they use: compiled on the first call and cached on
disk next to the module (`__pycache__`, or NUMBA_CACHE_DIR where that is not writable), so a run
after the first does not compile again. `error_model="numpy"`: division follows NumPy (inf or nan,
no exception). No parallel loops and no fast-math: sums run in a fixed order, so the same inputs
give the same bits on every machine, serial or in a worker process.

The products below replace BLAS for the per-step sums over cities (a few issues wide): a
multithreaded BLAS gains nothing on a 30,000 x 9 matrix-vector product, and its worker threads spin
after every call, so that a run used about twice the CPU time of its wall time.
"""

from __future__ import annotations

import numba
import numpy as np

jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@jit
def dot(a, b):
    """sum_i a_i b_i (1-D arrays of equal length), in index order."""
    s = 0.0
    for i in range(len(a)):
        s += a[i] * b[i]
    return s


@jit
def matvec(A, x):
    """A @ x for a 2-D A (rows x columns) and a 1-D x (columns)."""
    out = np.zeros(A.shape[0])
    for r in range(A.shape[0]):
        s = 0.0
        for j in range(A.shape[1]):
            s += A[r, j] * x[j]
        out[r] = s
    return out


@jit
def vecmat(x, A):
    """x @ A for a 1-D x (rows) and a 2-D A (rows x columns), rows in order."""
    out = np.zeros(A.shape[1])
    for r in range(A.shape[0]):
        xr = x[r]
        for j in range(A.shape[1]):
            out[j] += xr * A[r, j]
    return out

__all__ = ["dot", "jit", "matvec", "vecmat"]
