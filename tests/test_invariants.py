"""Property-based invariants of the model state and metrics (hypothesis).

For random seeds and a few random parameters, a small model is stepped a few years and, after
every step, the membership relation, the agents' views, the allocation of funds, the state arrays
and every metric are checked against what must hold whatever the parameters:

- the membership edge list has no duplicate (city, network) pair, refers to existing cities and to
  active networks only, and networks.members equals the counts from the edge list;
- the sparse membership matrix agrees with CityAgent.network_ids / NetworkAgent.member_ids;
- a city whose memberships changed in phase 5 reviewed them, so the engagement of what it holds
  fits its attention and its fees fit its budget; with review_rate = 1 every city reviews every year,
  so this holds for every city after every step; founders are chosen with room for the new network,
  so founding never breaks it either;
- no funder allocates more than its budget, in total not more than the funders' pool, nothing to
  dissolved networks or networks without members, nothing negative;
- every metric is finite (non-member access may be undefined: NaN exactly when no closed network
  operates); shares and indices lie in [0, 1]; state arrays are in range and priorities sum to 1;
- every city practises a standard some network has held, or its own (-1).
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model import membership as membership_mod
from model.agents import CityAgent, NetworkAgent
from model.loading import load_scenario
from model.metrics import COHORT_METRICS, metric_names
from model.model import CityDiplomacyModel

TOL = 1e-9
# more examples for a deeper search: INVARIANT_EXAMPLES=500 python -m pytest tests/test_invariants.py
SETTINGS = {"max_examples": int(os.environ.get("INVARIANT_EXAMPLES", "12")), "deadline": None, "derandomize": False,
                "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}

UNIT_METRICS = ["share_unaffiliated", "funding_hhi", "funding_gini", "neglect_index", "fragmentation_index",
                "duplication_ratio", "mean_capacity", "gini_capacity", "resident_norm_mean", "high_politics_index",
                "agenda_misalignment", "partnered_share"]
UNIT_PREFIXES = ("theme_share_", "funding_share_", "national_stance_")
NONNEG_METRICS = ["n_networks", "n_memberships", "mean_memberships", "standards_per_issue", "nonmember_access",
                  "efficiency", "churn_rate"]
GAP_METRICS = ["north_south_gap", "size_gap"]  # differences of shares: in [-1, 1]

HAS_CATALOGUE = importlib.util.find_spec("model.realdata") is not None  # the real-network catalogue loader
INTERVENTIONS = [None, "pandemic", "cross_network_platform", "io_framework", "open_knowledge", "city_first",
                 "extend_services", "secretariat_exchange", "funding_withdrawal"]


@st.composite
def scenarios(draw, review_rate=None):
    ov = {
        "seed": draw(st.integers(0, 2**32 - 1)),
        "steps": draw(st.integers(2, 5)),
        "cities.n": draw(st.integers(50, 300)),
        "cities.n_countries": draw(st.integers(6, 40)),
        "networks.initial": draw(st.integers(0, 30)),
        "networks.invitation_share": draw(st.floats(0.0, 0.8)),
        "networks.convergence": draw(st.floats(0.0, 1.0)),
        "resources.gamma": draw(st.floats(0.0, 4.0)),
        "membership.review_rate": draw(st.floats(0.0, 1.0)) if review_rate is None else review_rate,
        "spillover.down": draw(st.booleans()),
        "spillover.up": draw(st.booleans()),
        "spillover.horizontal": draw(st.booleans()),
    }
    kind = draw(st.sampled_from(INTERVENTIONS))
    if kind is not None:
        ov["interventions"] = [{"kind": kind, "start": 1981}]  # default start_year 1980: acts from step 2
    if HAS_CATALOGUE and draw(st.booleans()):
        ov["networks.catalogue"] = "data/networks.csv"  # real networks enter and end in their years
    return ov


class Watched(CityDiplomacyModel):
    """Records which networks had no members when this year's funds were allocated."""

    def step(self):
        from model import resources

        real = resources.allocate

        def allocate(model):
            model._empty_at_allocation = ~model.networks.operating()
            return real(model)

        with mock.patch.object(resources, "allocate", allocate):
            super().step()


def make(ov: dict) -> CityDiplomacyModel:
    return Watched(load_scenario(None, overrides=dict(ov)))


@contextmanager
def record_phase5_changes(log: list):
    """Wrap the membership phase: log (cities whose memberships changed, model) after each call."""
    real = membership_mod.membership_phase

    def wrapped(model, year):
        before = set(zip(model.memberships.city.tolist(), model.memberships.net.tolist()))
        out = real(model, year)
        after = set(zip(model.memberships.city.tolist(), model.memberships.net.tolist()))
        log.append(np.array(sorted({c for c, _ in before ^ after}), dtype=np.int64))
        return out

    with mock.patch.object(membership_mod, "membership_phase", wrapped):
        yield


# ------------------------------------------------------------------------------------ checks
def fees_per_city(m) -> np.ndarray:
    mem = m.memberships
    return np.bincount(mem.city, weights=m.networks.fee[mem.net], minlength=m.cities.n)


def engagement_per_city(m) -> np.ndarray:
    mem = m.memberships
    return np.bincount(mem.city, weights=m.networks.engagement[mem.net], minlength=m.cities.n)


def check_memberships(m, rng):
    c, nets, mem = m.cities, m.networks, m.memberships
    N, n = c.n, nets.n
    assert mem.city.shape == mem.net.shape == mem.since.shape
    if len(mem):
        assert mem.city.min() >= 0 and mem.city.max() < N
        assert mem.net.min() >= 0 and mem.net.max() < n
    keys = mem.city * max(n, 1) + mem.net
    assert len(np.unique(keys)) == len(keys), "duplicate (city, network) membership"
    assert nets.active[mem.net].all(), "a dissolved network still has members"
    counts = np.bincount(mem.net, minlength=n)
    np.testing.assert_array_equal(nets.members[:n], counts, err_msg="networks.members != edge-list counts")
    assert (nets.members[:n][~nets.active[:n]] == 0).all()
    assert (mem.since <= m.year).all()
    # sparse matrix and agents' views
    S = m.memberships.matrix(m.cities.n, m.networks.n).tocsr()
    assert S.shape == (N, n)
    S.sum_duplicates()
    assert S.nnz == len(mem) and (S.data == 1).all()
    np.testing.assert_array_equal(np.asarray(S.sum(axis=0)).ravel(), counts)
    for i in rng.choice(N, size=min(N, 15), replace=False):
        agent = m.city_agents[i]
        assert isinstance(agent, CityAgent) and agent.index == i
        assert agent.network_ids == sorted(S[i].indices.tolist())
        assert agent.memberships == len(S[i].indices)
    act = np.flatnonzero(nets.active[:n])
    Sc = S.tocsc()
    for k in rng.choice(act, size=min(len(act), 10), replace=False) if len(act) else []:
        agent = m.network_agents[int(k)]
        assert isinstance(agent, NetworkAgent) and agent.index == k
        assert agent.member_ids == sorted(Sc[:, k].indices.tolist())
        assert agent.members == counts[k]


def check_allocation(m):
    A, f, nets = m.flows.allocation, m.funders, m.networks
    n = nets.n
    assert A.shape == (f.n, n)
    assert np.isfinite(A).all() and (A >= 0).all()
    budget = np.where(f.active, f.budget, 0.0)
    assert (A.sum(axis=1) <= budget * (1 + TOL) + TOL).all(), "a funder allocated more than its budget"
    assert A.sum() <= budget.sum() * (1 + TOL) + TOL
    # the funders' pool: exogenous pool plus what active networks mobilise (at most every network founded)
    mobil = getattr(m.cfg.resources, "mobilisation", 0.0)
    assert f.budget.sum() <= (m.pool + mobil * n) * (1 + TOL) + TOL
    assert A.sum() + getattr(m, "unallocated", 0.0) <= budget.sum() * (1 + TOL) + TOL
    assert (A[:, ~nets.active[:n]] == 0).all(), "money allocated to a dissolved network"
    funded_empty = getattr(m, "_empty_at_allocation", None)
    if funded_empty is not None:
        assert (A[:, funded_empty] == 0).all(), "money allocated to a network without members"


def check_arrays(m):
    c, nets, co = m.cities, m.networks, m.countries
    n = nets.n
    for name, arr in [("practice", c.practice), ("norm", c.norm), ("visibility", c.visibility),
                      ("capacity", c.capacity), ("stance", co.stance), ("knowledge", nets.knowledge[:n]),
                      ("openness", nets.openness[:n]), ("secretariat", nets.secretariat[:n]),
                      ("partner_share", nets.partner_share[:n]), ("misalignment", nets.misalignment[:n])]:
        assert np.isfinite(arr).all(), f"{name} not finite"
        assert (arr >= -TOL).all() and (arr <= 1 + TOL).all(), f"{name} outside [0, 1]: {arr.min()}..{arr.max()}"
    assert (c.priority >= 0).all()
    np.testing.assert_allclose(c.priority.sum(axis=1), 1.0, atol=1e-9, err_msg="priorities do not sum to 1")
    act = nets.active[:n]
    ag = nets.agenda[:n][act]
    assert (ag >= -TOL).all()
    np.testing.assert_allclose(ag.sum(axis=1), 1.0, atol=1e-9, err_msg="agendas do not sum to 1")
    assert (nets.funds[:n] >= 0).all() and np.isfinite(nets.funds[:n]).all()
    assert (c.budget > 0).all() and (c.attention >= 0).all()
    assert (nets.engagement[:n][act] > 0).all() and (nets.engagement[:n] <= 1 + TOL).all()
    # practised standards are standards some network has held (ids below the counter), or local (-1)
    assert (c.standard >= -1).all() and (c.standard < max(nets.next_standard, 1)).all()


def check_metrics(m):
    row = m.records[-1]
    assert list(row) == ["step", "year"] + metric_names(m.issue_names)
    assert row["step"] == m.steps and row["year"] == m.cfg.start_year + m.steps - 1
    closed = m.networks.operating() & np.isin(m.networks.rule[: m.networks.n], [2, 3])
    for k, v in row.items():
        if k == "nonmember_access" and (not closed.any() or np.isnan(v)):
            # undefined without a closed network, or without comparable members and non-members that grew
            assert np.isnan(v) or closed.any(), "non-member access without a closed network"
            continue
        if k.startswith("participation_") and np.isnan(v):
            continue  # the comparison group holds no membership
        if k in COHORT_METRICS and np.isnan(v):
            assert m.year <= m.cfg.membership.reference_year or m.exclusion_cohort is not None, k
            continue  # up to the reference year, or a group without a member of the cohort
        assert np.isfinite(v), f"{k} = {v}"
    unit = UNIT_METRICS + [k for k in row if k.startswith(UNIT_PREFIXES)]
    for k in unit:
        assert -TOL <= row[k] <= 1 + TOL, f"{k} = {row[k]} outside [0, 1]"
    for k in NONNEG_METRICS:
        assert not row[k] < -TOL, f"{k} = {row[k]} < 0"
    for k in GAP_METRICS:
        assert -1 - TOL <= row[k] <= 1 + TOL, f"{k} = {row[k]}"
    n_act = int(m.networks.operating().sum())
    assert row["n_networks"] == n_act
    assert row["n_memberships"] == len(m.memberships)
    assert row["mean_memberships"] == pytest.approx(len(m.memberships) / m.cities.n)
    per_city = np.bincount(m.memberships.city, minlength=m.cities.n)
    assert row["share_unaffiliated"] == pytest.approx((per_city == 0).mean())
    themes = sum(row[f"theme_share_{i}"] for i in m.issue_names)
    assert themes == pytest.approx(1.0 if n_act else 0.0, abs=1e-9)
    funding = sum(row[f"funding_share_{i}"] for i in m.issue_names)
    assert funding == pytest.approx(1.0, abs=1e-9) or funding == 0.0
    if funding > 0:
        assert row["funding_hhi"] >= 1 / m.n_issues - 1e-9
    practising = (m.cities.standard >= 0).any()
    assert (row["standards_per_issue"] >= 1 - 1e-9) if practising else row["standards_per_issue"] == 0.0


def check_all(m, rng):
    check_memberships(m, rng)
    check_allocation(m)
    check_arrays(m)
    check_metrics(m)


# ------------------------------------------------------------------------------------ properties
@settings(**SETTINGS)
@given(ov=scenarios())
def test_invariants_hold_every_step(ov):
    m = make(ov)
    rng = np.random.default_rng(0)
    check_memberships(m, rng)  # after set-up, before any step
    log: list = []
    with record_phase5_changes(log):
        for _ in range(m.cfg.steps):
            m.step()
            check_all(m, rng)
            # cities whose memberships changed in phase 5 reviewed them: what they hold fits their
            # attention and their fees fit their budget (a founder may exceed its attention until
            # its next review, so this is not required of every city)
            changed = log[-1]
            fees = fees_per_city(m)[changed]
            bad = changed[fees > m.cities.budget[changed] * (1 + TOL) + 1e-12]
            assert len(bad) == 0, f"reviewing cities over budget: {bad[:10]}"
            held = engagement_per_city(m)[changed]
            bad = changed[held > m.cities.attention[changed] + 1e-9]
            assert len(bad) == 0, f"reviewing cities above their attention: {bad[:10]}"
    assert len(m.records) == m.cfg.steps + 1 and not m.running  # step 0, the initial state, and every step


@settings(**SETTINGS)
@given(ov=scenarios(review_rate=1.0))
def test_full_review_keeps_every_city_within_budget(ov):
    """With review_rate = 1 every city reviews every year: after each step all fees fit all budgets."""
    m = make(ov)
    for _ in range(m.cfg.steps):
        m.step()
        fees = fees_per_city(m)
        over = np.flatnonzero(fees > m.cities.budget * (1 + TOL) + 1e-12)
        assert len(over) == 0, \
            f"cities over budget: {over[:10]}, fees {fees[over[:10]]}, budget {m.cities.budget[over[:10]]}"
        assert (engagement_per_city(m) <= m.cities.attention + 1e-9).all()


@settings(**SETTINGS)
@given(ov=scenarios())
def test_tables_agree_with_state(ov):
    m = make(ov)
    m.run()
    nets, cities, ts = m.networks_table(), m.cities_table(), m.timeseries()
    last = ts.iloc[-1]
    assert len(nets) == m.networks.n and len(cities) == m.cities.n
    assert (nets["dissolved"].isna() & (nets["members"] > 0)).sum() == last["n_networks"]
    assert nets["members"].sum() == last["n_memberships"] == cities["memberships"].sum()
    assert (nets.loc[nets["dissolved"].notna(), "members"] == 0).all()
    assert (nets.loc[nets["dissolved"].notna(), "dissolved"] >= nets.loc[nets["dissolved"].notna(), "founded"]).all()
    assert cities["in_invitation_network"].sum() <= (cities["memberships"] > 0).sum()
    # in_invitation_network is true exactly for members of some invitation-only network
    inv = set(nets.loc[(nets["rule"] == "invitation") & nets["dissolved"].isna(), "network_id"])
    members_of_inv = {int(c) for c, k in zip(m.memberships.city, m.memberships.net) if int(k) in inv}
    assert set(np.flatnonzero(cities["in_invitation_network"].to_numpy())) == members_of_inv
