"""The one verdict rule of the claims lab (docs/claims.md, "The verdict rule").

With the predicted direction s (+1 increase, -1 decrease), the smallest effect that matters
delta > 0 and the interval [lo, hi] of the paired effect, turned into the predicted direction
as [a, b] = sorted(s x lo, s x hi):

    supported      a >= delta              every effect the interval allows matters, the predicted way
    contradicted   b <= -delta             every effect the interval allows matters, the other way
    negligible     -delta < a, b < delta   every effect the interval allows is smaller than what matters
                                           (its sign is settled when the interval excludes zero)
    undetermined   otherwise               the interval reaches across a threshold: more runs would decide;
                                           also when there is no interval (fewer than 2 pairs, NaN)

The four cover every interval, and the rule is symmetric: swapping the arms turns supported into
contradicted and back, and leaves negligible and undetermined as they are. Arms whose runs are
identical in every pair give the interval [0, 0]: negligible, reported as "no difference: identical
runs" (`no_difference`). Verdicts are never written in: they come from these numbers only.
"""

from __future__ import annotations

import math

SUPPORTED, CONTRADICTED, NEGLIGIBLE, UNDETERMINED = "supported", "contradicted", "negligible", "undetermined"
VERDICTS = (SUPPORTED, CONTRADICTED, NEGLIGIBLE, UNDETERMINED)
DECIDED = (SUPPORTED, CONTRADICTED, NEGLIGIBLE)

# One plain sentence per verdict, shown beside it in the report, the Claims tab and docs/claims.md.
EXPLAIN = {
    SUPPORTED: "Every effect the interval allows is at least the smallest effect that matters, in the "
               "predicted direction.",
    CONTRADICTED: "Every effect the interval allows is at least the smallest effect that matters, against the "
                  "predicted direction.",
    NEGLIGIBLE: "Whatever the effect is, the runs have settled that it is smaller than the smallest effect "
                "that matters.",
    UNDETERMINED: "The interval reaches across a threshold: the runs cannot yet tell whether the effect "
                  "matters; more replications would decide.",
}
NO_DIFFERENCE = "no difference: identical runs"


def sign(direction: str) -> int:
    if direction == "increase":
        return 1
    if direction == "decrease":
        return -1
    raise ValueError(f"direction must be increase or decrease, got {direction!r}")


def verdict(ci_low: float, ci_high: float, threshold: float, direction: str) -> str:
    """supported, contradicted, negligible or undetermined (module docstring)."""
    if threshold is None or not threshold > 0:
        raise ValueError(f"the threshold must be > 0, got {threshold!r}")
    if ci_low is None or ci_high is None or not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return UNDETERMINED
    s = sign(direction)
    a, b = sorted((s * ci_low, s * ci_high))
    if a >= threshold:
        return SUPPORTED
    if b <= -threshold:
        return CONTRADICTED
    if a > -threshold and b < threshold:
        return NEGLIGIBLE
    return UNDETERMINED


def sign_settled(ci_low: float, ci_high: float) -> str | None:
    """For a negligible effect: 'positive' or 'negative' when the interval excludes zero, 'zero' when it is
    the single point 0 (identical runs), None when it straddles zero (the sign is not settled)."""
    if ci_low is None or ci_high is None or not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return None
    if ci_low == 0 and ci_high == 0:
        return "zero"
    if ci_low > 0:
        return "positive"
    if ci_high < 0:
        return "negative"
    return None


def describe(v: str, ci_low: float | None = None, ci_high: float | None = None, identical: bool = False) -> str:
    """The verdict as a reader sees it: 'negligible (sign settled: positive)', 'no difference: identical runs'."""
    if identical:
        return NO_DIFFERENCE
    if v == NEGLIGIBLE:
        s = sign_settled(ci_low, ci_high)
        if s in ("positive", "negative"):
            return f"negligible ({s}, sign settled)"
        return "negligible (sign not settled)"
    return v


def margins(ci_low: float, ci_high: float, threshold: float, direction: str) -> tuple[float, float]:
    """(support margin a - delta, contradiction margin -b - delta): the verdict is supported when the first
    is >= 0, contradicted when the second is; used to interpolate where a verdict changes."""
    s = sign(direction)
    a, b = sorted((s * ci_low, s * ci_high))
    return a - threshold, -b - threshold


def margin(v: str, ci_low: float, ci_high: float, threshold: float, direction: str) -> float:
    """How far the interval is inside verdict v's region (>= 0 inside for supported and contradicted, > 0
    for negligible): used to interpolate where a verdict changes along a moderator."""
    s_margin, c_margin = margins(ci_low, ci_high, threshold, direction)
    if v == SUPPORTED:
        return s_margin
    if v == CONTRADICTED:
        return c_margin
    if v == NEGLIGIBLE:
        a, b = sorted((sign(direction) * ci_low, sign(direction) * ci_high))
        return min(threshold - b, a + threshold)
    raise ValueError(f"no region for the verdict {v!r}")


def in_threshold_units(x: float, threshold: float, direction: str) -> float:
    """An effect (or a bound) in units of the threshold, in the predicted direction: 1 = the smallest
    effect that matters, the predicted way; -1 the same the other way (the summary figure's axis)."""
    return sign(direction) * x / threshold
