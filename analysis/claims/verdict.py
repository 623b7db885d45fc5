"""The one verdict rule of the claims lab (docs/claims.md, "The verdict rule").

With the predicted direction s (+1 increase, -1 decrease), the smallest effect that matters
delta > 0 and the 95% interval [lo, hi] of the paired effect, turned into the predicted direction
as [a, b] = sorted(s x lo, s x hi):

    supported      a >= delta    every effect the interval allows is one that matters, the predicted way
    contradicted   b <= -delta   every effect the interval allows matters, the other way
    inconclusive   otherwise     the interval reaches inside (-delta, delta): it straddles zero or a
                                 threshold; also when there is no interval (fewer than 2 pairs, NaN)

Verdicts are never written in: they come from these numbers only.
"""

from __future__ import annotations

import math

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE)


def sign(direction: str) -> int:
    if direction == "increase":
        return 1
    if direction == "decrease":
        return -1
    raise ValueError(f"direction must be increase or decrease, got {direction!r}")


def verdict(ci_low: float, ci_high: float, threshold: float, direction: str) -> str:
    """supported, contradicted or inconclusive (module docstring)."""
    if threshold is None or not threshold > 0:
        raise ValueError(f"the threshold must be > 0, got {threshold!r}")
    if ci_low is None or ci_high is None or not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return INCONCLUSIVE
    s = sign(direction)
    a, b = sorted((s * ci_low, s * ci_high))
    if a >= threshold:
        return SUPPORTED
    if b <= -threshold:
        return CONTRADICTED
    return INCONCLUSIVE


def margins(ci_low: float, ci_high: float, threshold: float, direction: str) -> tuple[float, float]:
    """(support margin a - delta, contradiction margin -b - delta): the verdict is supported when the first
    is >= 0, contradicted when the second is; used to interpolate where a verdict changes."""
    s = sign(direction)
    a, b = sorted((s * ci_low, s * ci_high))
    return a - threshold, -b - threshold


def in_threshold_units(x: float, threshold: float, direction: str) -> float:
    """An effect (or a bound) in units of the threshold, in the predicted direction: 1 = the smallest
    effect that matters, the predicted way; -1 the same the other way (the summary figure's axis)."""
    return sign(direction) * x / threshold
