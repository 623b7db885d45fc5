"""Mechanism off, claim by claim: with the mechanism a claim names switched off (its file's
`mechanism_off` block, applied to both arms), the claimed effect disappears.

Each claim's control and treatment arms run with and without the mechanism on the quick world of
its file (300 cities) and its quick replications, with common seeds, and are judged with the lab's
own statistics (paired bootstrap interval, the one verdict rule). "Disappears" means: the verdict
with the mechanism off is not supported and the effect in the claimed direction is smaller than the
smallest effect that matters. Where switching the mechanism off leaves a countervailing force of its own (C2: open
circles share what they make; C5: city-first still costs partners' money and expertise), the test
says what that force must do instead. These are properties of the mechanisms, not verdicts of the
claims: a claim may be supported, inconclusive or contradicted with its mechanism on.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from analysis.claims import default_files
from analysis.claims.evaluate import outcome_values
from analysis.claims.plan import load_claim
from analysis.claims.statistics import paired_effect, rng_for
from analysis.claims.verdict import verdict
from analysis.execution import _mp_context
from model.api import run_scenario

ARMS = [("main", "control"), ("main", "treatment"), ("off", "control"), ("off", "treatment")]


def _run(args):
    data, seed, metrics = args
    ts = run_scenario(data, seed=seed, tables=False).timeseries
    ts = ts[ts["step"] >= 1]
    return ts["year"].to_numpy(np.int64), {m: ts[m].to_numpy(float) for m in metrics}


@pytest.fixture(scope="module")
def effects():
    """{claim id: {metric: {"on", "off", "part": (Effect, verdict)}, "_threshold": {...}}}."""
    plans = {p.id: p for p in (load_claim(f, quick=True) for f in default_files())}
    jobs, keys = [], []
    for cid, plan in plans.items():
        seeds = plan.seeds
        for role, arm in ARMS:
            a = plan.find(role, arm)
            for r, s in enumerate(seeds):
                jobs.append((a.data, s, plan.metrics))
                keys.append((cid, role, arm, r))
    with ProcessPoolExecutor(2, mp_context=_mp_context()) as ex:
        results = list(ex.map(_run, jobs, chunksize=4))
    series = {}
    for (cid, role, arm, r), (years, vals) in zip(keys, results):
        series.setdefault((cid, role, arm), {})[r] = (years, vals)
    out = {}
    for cid, plan in plans.items():
        rec = {}
        for o in plan.spec.outcomes:
            def y(role, arm, o=o, cid=cid, plan=plan):
                rows = series[(cid, role, arm)]
                return np.array([outcome_values(rows[r][1][o.metric][None, :], rows[r][0], o.years)[0]
                                 for r in range(len(plan.seeds))])
            on = paired_effect(y("main", "treatment"), y("main", "control"), rng_for(cid, o.metric, "main"))
            off = paired_effect(y("off", "treatment"), y("off", "control"), rng_for(cid, o.metric, "mechanism_off"))
            part = paired_effect(y("main", "treatment") - y("main", "control"),
                                 y("off", "treatment") - y("off", "control"),
                                 rng_for(cid, o.metric, "mechanism_contribution"))
            rec[o.metric] = {k: (e, verdict(e.ci_low, e.ci_high, o.threshold, o.direction))
                             for k, e in (("on", on), ("off", off), ("part", part))}
            rec[o.metric]["threshold"] = o.threshold
        out[cid] = rec
    return out


def _gone(rec: dict, metric: str, direction: int):
    """The claimed effect disappears with the mechanism off: not supported, and smaller than what matters
    in the claimed direction (`direction` +1 increase, -1 decrease)."""
    e, v = rec[metric]["off"]
    thr = rec[metric]["threshold"]
    assert v != "supported", (metric, e)
    assert direction * e.effect < thr, (metric, e.effect, thr)


def test_every_shipped_claim_is_covered(effects):
    assert sorted(effects) == [f"C{i}" for i in range(1, 9)]


def test_c1_without_competition_proliferation_duplicates_nothing(effects):
    """Competition off (equal shares, themes by niche, networks on an issue pool their knowledge and
    standards): more networks no longer re-create knowledge another network holds."""
    _gone(effects["C1"], "duplication_ratio", +1)
    _gone(effects["C1"], "fragmentation_index", +1)


def test_c2_keeping_solutions_inside_widens_the_gap_compared_with_sharing_them(effects):
    """Retention off (closed networks fully open): whatever circles do to the size gap, keeping their
    solutions inside cannot narrow it relative to sharing them; the retention's own part of the effect
    is a widening (its interval above zero), and with retention off the gap does not widen."""
    rec = effects["C2"]
    part, _ = rec["size_gap"]["part"]
    assert part.ci_low > 0, part
    assert rec["size_gap"]["off"][1] != "supported"


def test_c3_without_spillover_networks_cannot_reach_national_stances(effects):
    """All three channels off: networks have no route to national stances or residents' norms, so the
    effect of having networks at all is exactly zero (no hidden route)."""
    for m in ("high_politics_index", "national_stance_climate", "resident_norm_mean"):
        e, v = effects["C3"][m]["off"]
        assert v == "inconclusive" and abs(e.effect) < 1e-12 and abs(e.ci_low) < 1e-12 and abs(e.ci_high) < 1e-12, m


def test_c4_remedies_without_knowledge_transfer_do_not_integrate(effects):
    """The remedies with their costs but no transfer, no merged or shared standard and no exchange:
    fragmentation and duplication no longer fall (platform links alone are not integration)."""
    _gone(effects["C4"], "fragmentation_index", -1)
    _gone(effects["C4"], "duplication_ratio", -1)


def test_c5_without_drift_consequences_city_first_only_costs(effects):
    """Drift without consequence: city-first can no longer raise capability; what is left is its cost
    in partners' money and expertise, so the effect is not supported and not positive beyond noise."""
    e, v = effects["C5"]["mean_capacity"]["off"]
    assert v != "supported", e
    assert e.ci_low < 0, e


def test_c6_opening_reaches_no_one_when_non_members_cannot_learn(effects):
    _gone(effects["C6"], "size_gap", -1)
    _gone(effects["C6"], "north_south_gap", -1)


def test_c7_when_money_steers_no_theme_funders_appeal_does_not_set_the_shares(effects):
    _gone(effects["C7"], "theme_share_climate", +1)
    _gone(effects["C7"], "theme_share_peace", -1)


def test_c8_a_shock_without_cuts_or_selectivity_leaves_no_one_out(effects):
    for m, direction in (("participation_small_large", -1), ("mean_memberships", -1), ("share_unaffiliated", +1),
                         ("participation_south_north", -1)):
        _gone(effects["C8"], m, direction)
