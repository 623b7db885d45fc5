"""No claim may hold by construction: the reviewer's findings, each re-run as a test of the honest behaviour.

Each test runs paired arms (common seeds, paired random streams) of a small version of the baseline
world (600 synthetic cities, 1980-2009) and checks that a metric measures a consequence, not the
lever it judges; that every remedy has its cost; that founders commit; and that arms stay paired.
The thresholds below are stated in the metrics' units; a test fails when the model answers the
question by definition again.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from model import CityDiplomacyModel
from model.api import run_scenario
from model.loading import load_scenario
from model.randomness import replication_seeds
from model.state import COMPETITIVE, INVITATION

SMALL = {"cities.n": 600, "steps": 30}
SEEDS = replication_seeds(20261201, 4)


@functools.lru_cache(maxsize=64)
def _run(seed: int, overrides: tuple) -> object:
    ov = dict(SMALL)
    ov.update(_unkey(overrides))
    return run_scenario("scenarios/baseline.yaml", overrides=ov, seed=seed, tables=False).timeseries


def _key(ov: dict) -> tuple:
    import json

    return tuple((k, json.dumps(v, sort_keys=True)) for k, v in sorted(ov.items()))


def _unkey(key: tuple) -> dict:
    import json

    return {k: json.loads(v) for k, v in key}


def paired(control: dict, treatment: dict, metric: str, years=(1995, 2009), seeds=SEEDS) -> tuple[float, float]:
    """(mean, standard error) over seeds of the paired difference treatment - control of `metric`
    averaged over `years`."""
    d = []
    for s in seeds:
        a = _run(s, _key(control))
        b = _run(s, _key(treatment))
        sel = (a["year"] >= years[0]) & (a["year"] <= years[1])
        d.append(float(b.loc[sel, metric].mean() - a.loc[sel, metric].mean()))
    d = np.array(d)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def platform(**params) -> dict:
    return {"interventions": [{"kind": "cross_network_platform", "start": 1990, "params": params}]}


# ---------------------------------------------------------------------------------------------- 1
class Tracked(CityDiplomacyModel):
    def on_networks_founded(self, idx):
        super().on_networks_founded(idx)
        mem = self.memberships
        self.founders_of = getattr(self, "founders_of", {})
        for k in idx:
            self.founders_of[int(k)] = set(mem.city[mem.net == k].tolist())


def test_founders_keep_their_network_and_no_shell_counts():
    """Finding 1: founders dropped new networks in their first year and empty networks counted and
    were funded. Now founders commit: more than half of them are still members a year later, and no
    network counted as operating has zero members (that no network without members receives money is
    checked in tests/test_invariants.py and tests/test_resources.py)."""
    m = Tracked(load_scenario("scenarios/baseline.yaml", overrides=dict(SMALL, seed=SEEDS[0])))
    n0 = m.networks.n
    kept = total = 0
    while m.running:
        m.step()
        nets, mem = m.networks, m.memberships
        for k in range(n0, nets.n):
            if m.year - nets.founded[k] == 1 and m.founders_of.get(k):
                F = m.founders_of[k]
                kept += len(F & set(mem.city[mem.net == k].tolist()))
                total += len(F)
        op = nets.operating()
        assert m.records[-1]["n_networks"] == op.sum()
        assert (nets.members[: nets.n][op] > 0).all()
    assert total > 100
    assert kept / total > 0.5
    # and initiatives can fail: not every proposal finds a coalition
    proposed = sum(x["proposed"] for x in m.founding_log)
    founded = sum(x["founded"] for x in m.founding_log)
    assert 0 < founded <= proposed


# ---------------------------------------------------------------------------------------------- 2
def test_a_platform_without_knowledge_transfer_changes_neither_fragmentation_nor_duplication():
    """Finding 2: platform links counted as integration and merged standards lowered duplication by
    definition. Now a platform whose links carry no knowledge and merge no standard leaves both
    within the smallest effect that matters (0.03) ..."""
    inert = platform(transfer_rate=0.0, merge_rate=0.0)
    for metric in ("fragmentation_index", "duplication_ratio"):
        d, se = paired({}, inert, metric)
        assert abs(d) < 0.03, (metric, d, se)
    # ... while a platform that does transfer knowledge lowers duplication: the metric is alive
    d, se = paired({}, platform(), "duplication_ratio")
    assert d < -0.03, (d, se)


def test_every_remedy_costs_something():
    """The same platform costs capacity when its coordination is paid for; secretariat exchange and
    the IO framework cost coordination; a free platform is better for capacity than a costly one."""
    d_cost, _ = paired(platform(coordination_cost=0.0), platform(coordination_cost=0.2), "mean_capacity")
    assert d_cost < 0
    inert = platform(transfer_rate=0.0, merge_rate=0.0)
    d_inert, _ = paired({}, inert, "mean_capacity")
    assert d_inert < 0  # all cost, no benefit
    free_inert = platform(transfer_rate=0.0, merge_rate=0.0, coordination_cost=0.0)
    d_free, _se = paired({}, free_inert, "mean_capacity")
    assert abs(d_free) < abs(d_inert)


def test_merging_standards_loses_variety():
    """A merged standard stops the losing line of work: with the variety bonus, merging costs
    production that a platform without merges keeps."""
    d, _ = paired(platform(merge_rate=0.0), platform(merge_rate=1.0), "mean_capacity")
    assert d < 0


# ---------------------------------------------------------------------------------------------- 3
def test_city_first_trades_drift_against_partners_resources():
    """Finding 3: city-first lowered misalignment by definition and cost nothing. Now, when partners
    bring no money and no expertise, city-first costs nothing and capacity does not fall; when they
    bring much, it can lower capacity: the sign of its net effect is an outcome."""
    cf = {"interventions": [{"kind": "city_first", "start": 1990, "params": {"strength": 0.9}}]}
    nothing = {"resources.sponsor_share": 0.0, "knowledge.partner_expertise": 0.0}
    much = {"resources.sponsor_share": 0.8, "knowledge.partner_expertise": 3.0}
    d0, se0 = paired(nothing, {**nothing, **cf}, "mean_capacity")
    d1, _se1 = paired(much, {**much, **cf}, "mean_capacity")
    assert d0 > -2 * se0 - 1e-4, (d0, se0)
    assert d1 < 0 and d1 < d0, (d1, d0)


# ---------------------------------------------------------------------------------------------- 4
def test_opening_a_small_circle_costs_it_members_and_sponsors():
    """Finding 4: opening knowledge cost a network nothing. Now members and invitees value a closed
    network's exclusivity less and can learn some of it without joining, and sponsors give less."""
    m0 = CityDiplomacyModel.from_scenario(load_scenario("scenarios/baseline.yaml", overrides=dict(SMALL, seed=SEEDS[1])))
    m1 = CityDiplomacyModel.from_scenario(load_scenario("scenarios/baseline.yaml", overrides=dict(
        SMALL, seed=SEEDS[1], interventions=[{"kind": "open_knowledge", "start": 1990, "params": {"openness": 0.9}}])))
    m0.run()
    m1.run()

    def closed(m):
        n = m.networks.n
        c = m.networks.operating() & np.isin(m.networks.rule[:n], [INVITATION, COMPETITIVE])
        return m.networks.grants[:n][c].sum(), m.networks.members[:n][c].sum()

    g0, n0 = closed(m0)
    g1, n1 = closed(m1)
    assert g1 < g0   # sponsors (and the contest, with fewer members) give less
    assert n1 < n0   # members and invitees value them less


# ---------------------------------------------------------------------------------------------- 5
def test_theme_shares_follow_coalitions_not_only_the_appeal_table():
    """Finding 5: theme shares copied funders' appeal. Now a theme needs cities that want it: with the
    same funder appeal, cities' salience of an issue moves its share of networks."""
    from model.config import default_issues

    issues = [i.model_dump() for i in default_issues()]
    more = [dict(i, salience=i["salience"] * (3.0 if i["name"] == "gender" else 1.0)) for i in issues]
    d, se = paired({"issues": issues}, {"issues": more}, "theme_share_gender")
    assert d > 0.01, (d, se)


# ---------------------------------------------------------------------------------------------- 6
def test_spillover_thresholds_fit_their_signals_and_high_politics_moves_slowly():
    """Finding 6: one threshold served norms and practice (40% of countries above it on peace at the
    start) and priorities flattened. Now few countries start above either threshold, the
    high-politics stance moves more slowly than the low-politics stances networks work on, and
    priorities do not flatten toward uniform."""
    from model import spillover

    m = CityDiplomacyModel.from_scenario(load_scenario("scenarios/baseline.yaml", overrides=dict(SMALL, seed=SEEDS[2])))
    sig, _, has = spillover.signals(m, spillover.engagement(m))
    above = (sig > spillover.thresholds(m)[None, :])[has].mean(axis=0)
    assert above[m.high].max() < 0.15 and above[~m.high].max() < 0.15, above

    def entropy(P):
        P = np.clip(P, 1e-12, 1)
        return float((-(P * np.log(P)).sum(axis=1) / np.log(P.shape[1])).mean())

    e0 = entropy(m.cities.priority)
    m.run()
    assert entropy(m.cities.priority) < e0 + 0.03
    ts = m.timeseries()
    names = m.issue_names
    change = np.array([ts[f"national_stance_{i}"].iloc[-1] - ts[f"national_stance_{i}"].iloc[0] for i in names])
    # low-politics issues weighted by how much networks work on them (their funding shares)
    w = np.array([ts[f"funding_share_{i}"].mean() for i in names]) * ~m.high
    assert change[m.high].mean() < (change * w).sum() / w.sum()


# ---------------------------------------------------------------------------------------------- 7
def test_metrics_measure_what_their_names_say():
    """Finding 7. Duplication moves with the number of parallel networks; fragmentation is not 1 when
    horizontal spillover is off; non-member access is undefined without a closed network (not "no
    gap"); churn in year 1 is a share of memberships, not of the few founders'."""
    d, se = paired({"networks.founding_rate": 0.5, "networks.demand_rate": 0.5, "networks.initial": 5},
                   {}, "duplication_ratio", years=(1980, 1990))
    assert d > 0.05, (d, se)
    ts = _run(SEEDS[0], _key({"spillover.horizontal": False}))
    assert ts["fragmentation_index"].max() < 0.9
    ts = _run(SEEDS[0], _key({"networks.invitation_share": 0.0, "networks.competitive_share": 0.0}))
    assert ts["nonmember_access"].isna().all()
    base = _run(SEEDS[0], _key({}))
    assert base["churn_rate"].iloc[1] < 0.2
    assert base["nonmember_access"].iloc[1:].notna().all()


def test_efficiency_counts_only_what_networks_caused():
    """Efficiency excludes cities' own innovation: with no network money and no fees nothing is
    caused by networks' money, and the metric is 0 (it used to count all practice gains)."""
    ts = _run(SEEDS[0], _key({"resources.pool": 0.0, "resources.mobilisation": 0.0, "networks.fee_share": 0.0}))
    assert (ts["efficiency"].iloc[1:] == 0.0).all()
    assert np.isnan(ts["efficiency"].iloc[0])  # the initial state: nothing has flowed yet


# ---------------------------------------------------------------------------------------------- 8
def test_small_circles_stay_small():
    """Finding 8: 35% of cities belonged to an invitation-only network. Now targets scale with the
    eligible cities, and memberships differ in engagement (a declaration is cheap)."""
    m = CityDiplomacyModel.from_scenario(load_scenario("scenarios/baseline.yaml", overrides={"seed": SEEDS[3]}))  # 2,000 cities
    m.run()
    mem, nets = m.memberships, m.networks
    inv = nets.rule[mem.net] == INVITATION
    share = np.isin(np.arange(m.cities.n), mem.city[inv]).mean()
    assert share < 0.12, share
    eng = nets.engagement[: nets.n][nets.operating()]
    assert eng.min() < 0.2 and eng.max() > 0.6  # declarations and programmes


# ---------------------------------------------------------------------------------------------- 9
def test_the_pandemic_recruits_no_one():
    """Finding 9: the pandemic forced every city to review and unaffiliation fell. Now it does not
    fall, memberships fall, and cuts reach cities with a single cheap slot."""
    pan = {"interventions": [{"kind": "pandemic", "start": 2000, "end": 2001}]}
    d, se = paired({}, pan, "share_unaffiliated", years=(2000, 2002))
    assert d > -se - 1e-6, (d, se)
    d, se = paired({}, pan, "mean_memberships", years=(2000, 2002))
    assert d < 0
    m = CityDiplomacyModel.from_scenario(load_scenario("scenarios/baseline.yaml", overrides=dict(SMALL, seed=SEEDS[0], **pan)))
    one = m.cities.base_attention <= 1.2
    while m.year < 2000:
        m.step()
    assert (m.cities.attention[one] < m.cities.base_attention[one]).all()


# --------------------------------------------------------------------------------------------- 10
def test_a_placebo_lever_changes_nothing():
    """Two arms that differ only in a field no phase reads (the description) give identical outputs."""
    a = run_scenario("scenarios/baseline.yaml", overrides=SMALL, seed=SEEDS[0], tables=False).timeseries
    b = run_scenario("scenarios/baseline.yaml", overrides=dict(SMALL, description="placebo"), seed=SEEDS[0],
                     tables=False).timeseries
    assert a.equals(b)


def test_a_lever_change_leaves_the_years_before_it_untouched():
    """Paired streams: an intervention that starts in 2000 leaves every year before identical."""
    a = _run(SEEDS[0], _key({}))
    b = _run(SEEDS[0], _key({"interventions": [{"kind": "secretariat_exchange", "start": 2000}]}))
    before = a["year"] < 2000
    assert a[before].equals(b[before])


@pytest.mark.slow
def test_paired_differences_spread_less_than_seeds():
    """Finding 10: for the pool +5%, the spread over seeds of paired differences of the main outcomes
    is at most 0.7 of their spread over seeds (it was about 1.3: no pairing)."""
    seeds = replication_seeds(7, 8)
    metrics = ["fragmentation_index", "duplication_ratio", "mean_capacity", "north_south_gap", "size_gap",
               "nonmember_access", "high_politics_index", "share_unaffiliated", "n_networks", "agenda_misalignment"]
    ratios = []
    for metric in metrics:
        ctrl, diff = [], []
        for s in seeds:
            a = _run(s, _key({}))
            b = _run(s, _key({"resources.pool": 126.0}))
            ctrl.append(a[metric].iloc[-10:].mean())
            diff.append(b[metric].iloc[-10:].mean() - ctrl[-1])
        ratios.append(np.std(diff, ddof=1) / np.std(ctrl, ddof=1))
    assert np.median(ratios) <= 0.7, dict(zip(metrics, np.round(ratios, 3)))
