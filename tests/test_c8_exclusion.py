"""C8 Shock and selectivity: the exclusion metrics, the heterogeneous costs that keep the verdict off a
knife-edge, and the reviewer's checks (docs/claims.md, C8).

The reviewer re-ran C8 seed by seed and found (i) that the old primary measured proportional loss, not
exclusion, (ii) a cliff at an attention cut of 1/3 (the cheap slot 0.15 held one declaration 0.1 exactly
up to that cut) and (iii) that money never bound. These tests reproduce the arms of scenarios/claims/C8.yaml
(resolved by the claims lab's own loader) seed by seed and assert what the reviewer asked for; they can
fail, and a failure is a finding, not something to tune away.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis.claims.plan import load_claim
from model.api import run_scenario
from model.membership import held_totals, money_cost
from model.randomness import replication_seeds

CLAIM = Path(__file__).resolve().parents[1] / "scenarios" / "claims" / "C8.yaml"
CUTS = [round(0.30 + 0.01 * i, 2) for i in range(11)]  # 0.30, 0.31, ..., 0.40 (the old cliff was at 1/3)
# Neighbouring attention cuts (0.01 apart) may move the primary's mean effect by at most this much: three
# points, a tenth of the old cliff (0.33 -> 0.34 moved the smallest half without any membership by 35 points)
# and well under the effect at the default cut (about +0.05).
MAX_JUMP = 0.03


def primary():
    out = yaml.safe_load(CLAIM.read_text())["outcomes"][0]
    assert out["metric"] == "exclusion_small_large"
    return out


def arms(quick: bool = False):
    p = load_claim(CLAIM, quick=quick)
    ctrl, trt = p.find("main", "control").data, p.find("main", "treatment").data
    off = p.find("off", "treatment").data
    return p, ctrl, trt, off


def with_cut(data: dict, cut: float, n: int | None = None) -> dict:
    d = copy.deepcopy(data)
    if n is not None:
        d["cities"]["n"] = n
    for iv in d["interventions"]:
        if iv["kind"] == "pandemic":
            iv["params"] = dict(iv.get("params") or {}, attention_cut=cut)
    return d


def levels(data: dict, seeds, metric: str, years, n: int | None = None) -> np.ndarray:
    """Per seed: the metric's mean over `years` (inclusive)."""
    out = []
    for s in seeds:
        d = copy.deepcopy(data)
        d["seed"] = int(s)
        if n is not None:
            d["cities"]["n"] = n
        ts = run_scenario(d, tables=False).timeseries.set_index("year")
        out.append(float(ts.loc[years[0]:years[1], metric].mean()))
    return np.array(out)


def effect(ctrl: dict, trt: dict, seeds, metric: str, years, n: int | None = None, base=None) -> np.ndarray:
    """Per seed: treatment minus control of the metric's mean over `years` (the lab's paired effect;
    `base`: the control's levels, when already run)."""
    base = levels(ctrl, seeds, metric, years, n) if base is None else base
    return levels(trt, seeds, metric, years, n) - base


# ------------------------------------------------------------------ the metrics


def test_exclusion_metric_follows_the_reference_cohort():
    _, ctrl, trt, _ = arms()
    d = with_cut(trt, 0.6, n=400)
    d["seed"] = 5
    res = run_scenario(d, tables=False, keep_model=True)
    m, ts = res.model, res.timeseries.set_index("year")
    ref = m.cfg.membership.reference_year
    assert ts.loc[:ref, "exclusion_small_large"].isna().all()  # nothing to follow up to the reference year
    assert ts.loc[ref + 1:, "exclusion_small_large"].notna().all()
    # recompute the last year's value from the state
    cohort, none = m.exclusion_cohort, m.memberships.per_city(m.cities.n) == 0
    big, small = m.fixed.size_classes
    north = m.cities.north.astype(bool)

    def rate(x, g):
        return (x & cohort & g).sum() / (cohort & g).sum()

    last = ts.iloc[-1]
    assert last["exclusion_small_large"] == pytest.approx(rate(none, small) - rate(none, big))
    assert last["exclusion_south_north"] == pytest.approx(rate(none, ~north) - rate(none, north))
    assert last["ever_excluded_small_large"] == pytest.approx(rate(m.ever_excluded, small) - rate(m.ever_excluded, big))
    assert (m.ever_excluded >= (none & cohort)).all()  # cumulative
    # a city counted as excluded was in the cohort; a city outside it never counts
    assert not (m.ever_excluded & ~cohort).any()


# ------------------------------------------------------------------ heterogeneous costs


def test_cheap_slots_and_declarations_are_spread():
    _, ctrl, _, _ = arms()
    d = copy.deepcopy(ctrl)
    d["cities"]["n"] = 400
    d["steps"] = 20
    m = run_scenario(d, tables=False, keep_model=True).model
    cc, nc = m.cfg.cities, m.cfg.networks
    slot = m.cities.slot
    assert slot.min() >= cc.cheap_slot * (1 - cc.slot_spread) - 1e-12
    assert slot.max() <= cc.cheap_slot * (1 + cc.slot_spread) + 1e-12
    assert len(np.unique(slot.round(6))) > 300  # no shared value
    # attention is the staff's whole units plus the city's own slot
    staff = m.cities.base_attention - slot
    assert np.allclose(staff, np.round(staff))
    e = m.networks.engagement[:m.networks.n]
    dec = e[e < nc.programme_low]
    assert len(dec) > 5 and len(np.unique(dec.round(6))) == len(dec)
    assert dec.min() >= nc.declaration_level * (1 - nc.declaration_spread) - 1e-12
    assert dec.max() <= nc.declaration_level * (1 + nc.declaration_spread) + 1e-12


def test_money_binds_for_some_small_southern_cities():
    """With membership.participation_cost, some affiliated small / Southern cities cannot afford what they
    hold once the pandemic's budget cut (0.3) applies; no large Northern city is in that position."""
    _, ctrl, _, _ = arms()
    d = copy.deepcopy(ctrl)
    d["steps"] = 2019 - d["start_year"] + 1
    d["seed"] = 2
    m = run_scenario(d, tables=False, keep_model=True).model
    c, nets = m.cities, m.networks
    o = m.memberships.by_city(c.n)
    money, held = np.zeros(c.n), np.zeros(c.n)
    held_totals(o.city, o.net, money_cost(m, nets.fee[:nets.n], nets.engagement[:nets.n]), nets.engagement, money, held)
    bound = (held > 0) & (money > 0.7 * c.budget)
    big, small = m.fixed.size_classes
    north = c.north.astype(bool)
    assert bound[small & ~north].sum() > 0
    assert bound[big & north].sum() == 0


# ------------------------------------------------------------------ the reviewer's checks


def _smoothness(n: int, R: int, cuts=CUTS):
    _, ctrl, trt, _ = arms()
    out = primary()
    seeds = replication_seeds(11, R)
    base = levels(ctrl, seeds, out["metric"], out["years"], n)
    means = [effect(ctrl, with_cut(trt, cut), seeds, out["metric"], out["years"], n, base).mean() for cut in cuts]
    jumps = np.abs(np.diff(means))
    return means, jumps


def test_effect_moves_smoothly_across_the_old_cliff_small_world():
    """Fast variant: 500 cities, 3 seeds; the primary's mean effect at attention cuts 0.32 ... 0.35, across
    the old cliff at 1/3 (the slow test below covers 0.30 ... 0.40 in the claim's world)."""
    means, jumps = _smoothness(500, 3, CUTS[2:6])
    assert jumps.max() <= MAX_JUMP, f"a jump of {jumps.max():.3f} between neighbouring cuts: {np.round(means, 3)}"


@pytest.mark.slow
def test_effect_moves_smoothly_in_the_attention_cut():
    """The claim's world (2,000 cities), 6 seeds, attention cuts 0.30, 0.31, ..., 0.40."""
    means, jumps = _smoothness(None, 6)
    assert jumps.max() <= MAX_JUMP, f"a jump of {jumps.max():.3f} between neighbouring cuts: {np.round(means, 3)}"


def _supported_at(cut: float, n: int | None, R: int):
    p, ctrl, trt, off = arms()
    out = primary()
    seeds = p.seeds[:R]
    eff = effect(ctrl, with_cut(trt, cut), seeds, out["metric"], out["years"], n=n)
    off_eff = effect(ctrl, off, seeds[:2], out["metric"], out["years"], n=n)
    return eff, off_eff, out["threshold"]


def test_exclusion_supported_at_attention_cut_06_small_world():
    eff, off_eff, thr = _supported_at(0.6, 500, 4)
    lo = eff.mean() - 2 * eff.std(ddof=1) / np.sqrt(len(eff))
    assert lo > thr, f"effect {eff.round(3)} (lower bound {lo:.3f}) at or under the threshold {thr}"
    assert np.abs(off_eff).max() < thr  # the mechanism-off arm: no exclusion gap


@pytest.mark.slow
def test_exclusion_supported_at_attention_cut_06():
    """The claim's world, 8 of the claim's own seeds: the paired effect's mean minus two standard errors
    clears the threshold (the lab's rule with a t interval would need about the same)."""
    eff, off_eff, thr = _supported_at(0.6, None, 8)
    lo = eff.mean() - 2 * eff.std(ddof=1) / np.sqrt(len(eff))
    assert lo > thr, f"effect {eff.round(3)} (lower bound {lo:.3f}) at or under the threshold {thr}"
    assert np.abs(off_eff).max() < thr
