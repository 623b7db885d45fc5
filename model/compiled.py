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

def argsort_stable(x: np.ndarray) -> np.ndarray:
    """np.argsort(x, kind="stable") of a 1-D float array (NaN last, -0.0 equal to 0.0): a radix sort
    of the values' bit patterns, about three times faster than NumPy's on 30,000 values."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    return _radix_argsort(x) if len(x) else np.zeros(0, dtype=np.int64)


@jit
def _radix_argsort(x):
    """Stable ascending order of x: least-significant-digit radix sort (11-bit digits) of keys that
    order as the floats do (sign bit flipped for positives, all bits for negatives)."""
    n = len(x)
    sign = np.uint64(1) << np.uint64(63)
    bits = x.view(np.uint64)
    keys = np.empty(n, np.uint64)
    for j in range(n):
        b = bits[j]
        if x[j] != x[j]:
            keys[j] = ~np.uint64(0)  # NaN: after every number, in index order
        elif b == sign:
            keys[j] = sign  # -0.0 as 0.0
        else:
            keys[j] = ~b if b & sign else b | sign
    idx = np.arange(n)
    k2, i2 = np.empty(n, np.uint64), np.empty(n, np.int64)
    counts = np.empty(2048, np.int64)
    mask = np.uint64(2047)
    for p in range(6):
        shift = np.uint64(11 * p)
        counts[:] = 0
        for j in range(n):
            counts[(keys[j] >> shift) & mask] += 1
        if counts.max() == n:  # every key has the same digit here: the pass would move nothing
            continue
        s = 0
        for d in range(2048):
            c = counts[d]
            counts[d] = s
            s += c
        for j in range(n):
            d = (keys[j] >> shift) & mask
            t = counts[d]
            k2[t] = keys[j]
            i2[t] = idx[j]
            counts[d] = t + 1
        keys, k2 = k2, keys
        idx, i2 = i2, idx
    return idx


__all__ = ["argsort_stable", "dot", "jit", "matvec", "vecmat"]
