"""The statistics of a claim: outcomes averaged over years, paired differences, their interval.

For one outcome and one contrast (treatment T against control C, both run with the same R seeds):

- each run's outcome is the metric's mean over the stated years (inclusive);
- the paired differences are d_r = T_r - C_r, r = 1..n (only replications where both arms finished);
- effect = mean(d), in the metric's units;
- two standardised effects: d_z = mean(d) / sd(d) (the paired, within-seed effect) and
  glass = mean(d) / sd(C) (the effect in units of the control arm's spread across seeds);
  sd with ddof = 1; None where the sd is zero or n < 2;
- a 95% interval for the mean of d: the wider of the paired bootstrap (`scipy.stats.bootstrap` over
  the n pairs, BCa, 9,999 resamples, with a random generator fixed by the claim id, the metric and
  the contrast, so that the same runs always give the same interval) and the Student t interval
  (the bootstrap alone covers too rarely with few pairs). When all d_r are equal the interval is
  that value; with n < 2 there is no interval.

A metric that is itself a gap between groups (north_south_gap, size_gap, nonmember_access) makes
the paired difference a difference in differences: (gap under T) - (gap under C).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 9999


def window_mean(years: np.ndarray, values: np.ndarray, first: int, last: int) -> float:
    """Mean of a run's metric over the calendar years first..last (inclusive); NaN if none."""
    m = (years >= first) & (years <= last)
    v = values[m]
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def rng_for(*parts: str) -> np.random.Generator:
    """A generator fixed by text (the claim id, the metric, the contrast): the same interval every time."""
    h = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


@dataclass
class Effect:
    """A paired effect: treatment minus control over n pairs, with its interval at `confidence`."""

    effect: float
    ci_low: float
    ci_high: float
    n: int
    d_z: float | None
    glass: float | None
    control_mean: float
    treatment_mean: float
    control_sd: float | None
    treatment_sd: float | None
    confidence: float = CONFIDENCE
    identical: bool = False  # every pair's runs gave the same outcome (d_r = 0 for all r)
    sd_d: float | None = None  # sd of the paired differences (ddof 1): what more replications would need

    def as_dict(self) -> dict:
        return {"effect": self.effect, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n,
                "confidence": self.confidence, "identical": self.identical, "sd_d": self.sd_d,
                "d_z": self.d_z, "glass": self.glass, "control_mean": self.control_mean,
                "treatment_mean": self.treatment_mean, "control_sd": self.control_sd,
                "treatment_sd": self.treatment_sd}


def _sd(x: np.ndarray) -> float | None:
    return float(x.std(ddof=1)) if len(x) > 1 else None


def _ratio(a: float, b: float | None) -> float | None:
    if b is None or not math.isfinite(b) or b <= 1e-12 * max(1.0, abs(a)):
        return None
    return float(a / b)


def t_interval(d: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student t interval of the mean of d at `confidence` (n >= 2)."""
    from scipy.stats import t

    n = len(d)
    half = float(t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / math.sqrt(n))
    m = float(d.mean())
    return m - half, m + half


def mean_interval(d: np.ndarray, rng: np.random.Generator, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Interval of the mean of d at `confidence` (95% by default): the wider of the paired bootstrap interval (BCa; the percentile
    interval where BCa is undefined) and the Student t interval. The bootstrap alone covers the mean
    too rarely with few pairs (about 84% at 5 pairs and 90% at 20 for normal differences), which would
    make verdicts too decisive; the wider of the two covers about 94% at 3, 5 and 20 normal pairs
    (measured, 300 samples each), less for strongly skewed differences (lognormal: about 80% at 5
    pairs, 90% at 20)."""
    from scipy.stats import bootstrap

    d = np.asarray(d, dtype=float)
    n = len(d)
    if n < 2:
        return float("nan"), float("nan")
    if np.ptp(d) <= 1e-15 * max(1.0, float(np.abs(d).max())):
        m = float(d.mean())
        return m, m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = rng.bit_generator.state
        res = bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=RESAMPLES, method="BCa",
                        vectorized=True, axis=-1, rng=rng)
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            rng.bit_generator.state = state
            res = bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=RESAMPLES, method="percentile",
                            vectorized=True, axis=-1, rng=rng)
            lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    t_lo, t_hi = t_interval(d, confidence)
    return min(lo, t_lo), max(hi, t_hi)


def pairs(treatment: np.ndarray, control: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(treatment, control) of the replications where both runs finished."""
    t = np.asarray(treatment, dtype=float)
    c = np.asarray(control, dtype=float)
    ok = np.isfinite(t) & np.isfinite(c)
    return t[ok], c[ok]


def paired_effect(treatment: np.ndarray, control: np.ndarray, rng: np.random.Generator,
                  confidence: float = CONFIDENCE) -> Effect:
    """The paired effect of treatment over control (arrays per replication; NaN where a run is missing),
    with its interval at `confidence`."""
    t, c = pairs(treatment, control)
    d = t - c
    n = len(d)
    if n == 0:
        nan = float("nan")
        return Effect(nan, nan, nan, 0, None, None, nan, nan, None, None, confidence)
    eff = float(d.mean())
    lo, hi = mean_interval(d, rng, confidence)
    return Effect(effect=eff, ci_low=lo, ci_high=hi, n=n, d_z=_ratio(eff, _sd(d)), glass=_ratio(eff, _sd(c)),
                  control_mean=float(c.mean()), treatment_mean=float(t.mean()), control_sd=_sd(c),
                  treatment_sd=_sd(t), confidence=confidence, identical=bool(np.all(d == 0)),
                  sd_d=_sd(d))


# ---------------------------------------------------------------------------------------------
# Replications until decided: looks, the level of each look, p-values of verdicts, Holm


ALPHA = 1 - CONFIDENCE


def looks(initial: int, cap: int) -> list[int]:
    """The fixed schedule of looks of the sequential procedure: the initial replications, doubled until the
    cap, and the cap itself (20, 160 -> [20, 40, 80, 160]; 20, 100 -> [20, 40, 80, 100]; a cap at or below
    the initial replications: one look)."""
    initial, cap = int(initial), int(cap)
    out = [initial]
    while out[-1] < cap:
        out.append(min(2 * out[-1], cap))
    return out


def look_confidence(n_looks: int, alpha: float = ALPHA) -> float:
    """The confidence of the interval at every look: 1 - alpha / K for K planned looks (Bonferroni). Whatever
    look the procedure stops at, the interval there covers the true effect with probability at least 1 - alpha
    (the union bound over the K looks), so a verdict's error rate stays at most alpha under optional stopping."""
    return 1.0 - alpha / max(1, int(n_looks))


def verdict_p(d: np.ndarray, parts: tuple[str, ...], threshold: float, direction: str, n_looks: int = 1,
              alpha: float = ALPHA) -> float:
    """The p-value of the verdict that the intervals of this procedure give d: the smallest level a (0 < a <= 1)
    at which the interval at confidence 1 - a / K still gives the same decided verdict (supported,
    contradicted or negligible); 1.0 for undetermined (not decided at alpha); 1e-12 at the
    least. A verdict is decided at level alpha exactly when its
    p-value is at most alpha, which is what Holm's procedure needs. The interval is recomputed with the
    generator fixed by `parts` at every level (the same resamples), so it widens monotonically as a falls."""
    from analysis.claims.verdict import UNDETERMINED, verdict

    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return 1.0

    def v_at(a: float) -> str:
        lo, hi = mean_interval(d, rng_for(*parts), 1.0 - a / max(1, n_looks))
        return verdict(lo, hi, threshold, direction)

    v = v_at(alpha)
    if v == UNDETERMINED:
        return 1.0
    lo_a, hi_a = 1e-12, alpha
    if v_at(lo_a) == v:
        return lo_a
    # bisection in log(a) between a level where the verdict fails (lo_a) and one where it holds (hi_a)
    for _ in range(30):
        mid = math.sqrt(lo_a * hi_a)
        if v_at(mid) == v:
            hi_a = mid
        else:
            lo_a = mid
        if hi_a / lo_a < 1.001:
            break
    return float(hi_a)


def holm(p: list[float], alpha: float = ALPHA) -> list[float]:
    """Holm's adjusted p-values (step-down): sort p ascending; p_adj(i) = max over j <= i of
    min(1, (m - j) p(j)) for 0-based rank j; a hypothesis is rejected (its verdict kept) when p_adj <= alpha."""
    m = len(p)
    order = sorted(range(m), key=lambda i: (p[i], i))
    adj = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p[i])))
        adj[i] = running
    return adj


def replications_needed(effect: float, sd_d: float | None, threshold: float, direction: str,
                        confidence: float) -> int | None:
    """About how many pairs an undetermined verdict would need to be decided (from the observed spread): the
    n at which the normal interval's half-width z sd / sqrt(n) no longer reaches the nearest threshold
    (+delta or -delta) from the point effect. None when the point effect sits on a threshold (no n decides it)
    or the spread is unknown."""
    from scipy.stats import norm

    from analysis.claims.verdict import sign

    if sd_d is None or not (math.isfinite(effect) and math.isfinite(sd_d)):
        return None
    m = sign(direction) * effect
    dist = min(abs(m - threshold), abs(m + threshold))
    if dist <= 1e-15:
        return None
    z = float(norm.ppf(0.5 + confidence / 2))
    return math.ceil((z * sd_d / dist) ** 2)


def mean_band(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% t interval of the mean along `axis` (NaNs ignored): for the over-time figures."""
    from scipy.special import stdtrit

    x = np.asarray(x, dtype=float)
    n = np.sum(np.isfinite(x), axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = np.nanmean(x, axis=axis)
        sd = np.nanstd(x, axis=axis, ddof=1)
        t = np.where(n > 1, stdtrit(np.maximum(n - 1, 1), 0.975), np.nan)
        half = t * sd / np.sqrt(np.maximum(n, 1))
    half = np.where(n > 1, half, 0.0)
    return m, m - half, m + half
