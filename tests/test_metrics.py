"""Phase 8, observation (model/metrics.py): unit tests with hand-computed expectations.

Each test builds a tiny, fully controlled state (see conftest.py: `make_model`, `add_networks`,
`set_members`), overwrites the arrays it needs with small known numbers, calls one function and
compares with numbers computed by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ABC

from model import metrics
from model.state import COMPETITIVE, INVITATION, OPEN, active_on


@pytest.mark.parametrize("x, g", [
    ([1, 1, 1, 1], 0.0),
    ([0, 0, 0, 1], 0.75),          # (n - 1)/n
    ([1, 2, 3], 2 / 9),            # sum |xi - xj| / (2 n^2 mean) = 8 / 36
    ([3, 1, 2], 2 / 9),            # order does not matter
    ([], 0.0),
    ([0, 0], 0.0),
])
def test_gini(x, g):
    assert metrics.gini(np.array(x, dtype=float)) == pytest.approx(g)


def _frag_state(make_model, add_networks, set_members):
    """Networks 0-2 active on issue a only (standards 5, 5, 7); network 3 on issue b only; networks 1 and
    3 have no members."""
    m = make_model(ABC)
    add_networks(m, 4, themes=[0, 0, 0, 1], agenda=[[1, 0, 0]] * 3 + [[0, 1, 0]],
                 standard=[[5, 1, 2], [5, 3, 4], [7, 6, 8], [9, 10, 11]])
    set_members(m, {0: [0], 2: [1, 2]})
    return m


def test_active_on_counts_operating_networks_only(make_model, add_networks, set_members):
    m = _frag_state(make_model, add_networks, set_members)
    on = active_on(m)
    # networks without members do not operate: they are active on nothing
    assert on.tolist() == [[True, False, False], [False] * 3, [True, False, False], [False] * 3]
    set_members(m, {0: [0], 2: [1, 2], 3: [4]})
    m.networks.agenda[3] = [0.1, 0.7, 0.2]  # 0.2 >= activity threshold 0.15; 0.1 is not
    assert active_on(m)[3].tolist() == [False, True, True]


def _practised(m):
    """Cities 0-3 practise on issue a standards 5, 5, 7 and their own (-1) at practice 0.2, 0.2, 0.4, 0.9;
    cities 0 and 1 practise standard 10 on issue b at 0.1; nobody practises a network standard on c."""
    c = m.cities
    c.standard[:] = -1
    c.standard[:4, 0] = [5, 5, 7, -1]
    c.practice[:4, 0] = [0.2, 0.2, 0.4, 0.9]
    c.standard[:2, 1] = 10
    c.practice[:2, 1] = 0.1
    return m


def test_fragmentation_of_practised_standards(make_model, add_networks, set_members):
    m = _practised(_frag_state(make_model, add_networks, set_members))
    # issue a: practice shares q_5 = 0.4/0.8, q_7 = 0.4/0.8 -> 1 - (0.25 + 0.25) = 0.5, weight 0.8
    # issue b: one standard -> 0, weight 0.2;  index = (0.8 x 0.5 + 0.2 x 0) / 1.0 = 0.4
    assert metrics.fragmentation(m) == pytest.approx(0.4)
    # a platform link changes nothing until cities practise something else
    L = np.zeros((4, 4))
    L[0, 2] = L[2, 0] = 1.0
    m.levers.links = L
    assert metrics.fragmentation(m) == pytest.approx(0.4)
    # when they all practise one standard, fragmentation is gone
    m.cities.standard[2, 0] = 5
    assert metrics.fragmentation(m) == pytest.approx(0.0)
    # local practice (-1) is no network standard: it does not count
    m.cities.standard[:4, 0] = -1
    assert metrics.fragmentation(m) == pytest.approx(0.0)


def test_standards_per_issue(make_model, add_networks, set_members):
    m = _practised(_frag_state(make_model, add_networks, set_members))
    # issue a: 1 / (0.25 + 0.25) = 2; issue b: 1; mean over issues with practised standards = 1.5
    assert metrics.standards_per_issue(m) == pytest.approx(1.5)
    m.cities.standard[1, 0] = 6  # a: shares (0.25, 0.25, 0.5) -> 1/(1/16 + 1/16 + 1/4) = 8/3
    assert metrics.standards_per_issue(m) == pytest.approx((8 / 3 + 1) / 2)


def _access_state(make_model, add_networks, set_members, rule=INVITATION):
    """Populations 1e5 ... 1e6 (quintiles: cities 0-1, 2-3, ...), one region; a closed network (agenda
    (0.5, 0.5, 0)) with members 0 and 2; an open network with members 8 and 9."""
    m = make_model(ABC)
    c = m.cities
    c.population[:] = np.arange(1, 11) * 1e5
    c.region[:] = 0
    m.fixed.rebuild()  # populations do not change in a run: the fixed groups are rebuilt for the edited ones
    add_networks(m, 2, rules=[rule, OPEN], agenda=[[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    set_members(m, {0: [0, 2], 1: [8, 9]})
    g = np.zeros((10, 3))
    g[0] = [0.04, 0.02, 0.5]   # member, stratum 0: growth 0.5 x 0.04 + 0.5 x 0.02 = 0.03 (c does not count)
    g[1] = [0.02, 0.02, 0.0]   # non-member, stratum 0: 0.02
    g[2] = [0.06, 0.06, 0.0]   # member, stratum 1: 0.06
    g[3] = [0.03, 0.03, 0.0]   # non-member, stratum 1: 0.03
    m.flows.gains = g
    return m


def test_nonmember_access_is_a_difference_in_differences(make_model, add_networks, set_members):
    m = _access_state(make_model, add_networks, set_members)
    # strata with members and non-members: 0 and 1; pooled by members (1 each):
    # (0.02 + 0.03) / (0.03 + 0.06) = 5/9
    assert metrics.nonmember_access(m) == pytest.approx(5 / 9)
    # levels do not matter (selection is not access): members far ahead, same growth -> 1
    m.cities.practice[[0, 2]] = 0.9
    m.flows.gains[[1, 3]] = m.flows.gains[[0, 2]]
    assert metrics.nonmember_access(m) == pytest.approx(1.0)
    # competitive networks are closed too
    assert metrics.nonmember_access(_access_state(make_model, add_networks, set_members, COMPETITIVE)) == \
        pytest.approx(5 / 9)


def test_nonmember_access_undefined_without_a_closed_network(make_model, add_networks, set_members):
    m = _access_state(make_model, add_networks, set_members)
    m.networks.rule[0] = OPEN
    assert np.isnan(metrics.nonmember_access(m))  # no small circle: no gap to measure (not "no gap")


def test_participation_of_small_and_southern_cities(make_model, add_networks, set_members):
    m = _access_state(make_model, add_networks, set_members)
    m.cities.north[:] = [False] * 5 + [True] * 5
    row = metrics.observe(m, {})
    # smallest 50% (cities 0-4): 2 memberships / 5; largest 10% (city 9): 1 -> 0.4
    assert row["participation_small_large"] == pytest.approx(0.4)
    # South (0-4): 2/5; North (5-9): 2/5 -> 1
    assert row["participation_south_north"] == pytest.approx(1.0)


def test_small_city_growth_is_the_absolute_growth_of_a_fixed_group(make_model, add_networks, set_members):
    m = _access_state(make_model, add_networks, set_members)
    # smallest half (populations 1e5 ... 5e5: cities 0-4), mean gain over the three low-politics issues x 1000:
    # (0.56 + 0.04 + 0.12 + 0.06 + 0) / 15 x 1000 = 52; members of the closed network (0, 2) count like the others
    assert metrics.small_city_growth(m) == pytest.approx((0.56 + 0.04 + 0.12 + 0.06) / 15 * 1000)
    # a lower growth of members does not raise it (unlike nonmember_access, a ratio to members' growth)
    before = metrics.small_city_growth(m)
    m.flows.gains[[2, 8, 9]] *= 0.1
    assert metrics.small_city_growth(m) <= before


def test_efficiency_counts_the_io_overhead_as_money_spent(small_model):
    m = small_model
    m.step()
    row = metrics.observe(m, {"network_gain": 1.0})
    m.flows.io_overhead_spent = 5.0
    row2 = metrics.observe(m, {"network_gain": 1.0})
    # efficiency = gain / N x 1000 / spent: the overhead raises the denominator by 5 (M USD)
    assert 1 / row2["efficiency"] - 1 / row["efficiency"] == pytest.approx(5.0 * m.cities.n / 1000)


def test_observe_has_contract_columns(small_model):
    small_model.step()
    row = small_model.records[-1]
    assert list(row) == ["step", "year"] + metrics.metric_names(small_model.issue_names)
    assert row["year"] == small_model.cfg.start_year
    assert 0.0 <= row["fragmentation_index"] <= 1.0
    assert 0.0 <= row["duplication_ratio"] <= 1.0
    assert all(name.isidentifier() for name in row)


def test_step_0_flow_metrics_are_empty(small_model):
    """Step 0 is the state before the first year: nothing has flowed, so every flow metric (spending,
    grants and fees by issue and across networks, practice gained, memberships ended) is NaN there, not
    0 or 1; the stocks are measured. From step 1 on the flows are numbers."""
    row0 = small_model.records[0]
    flows = [k for k in row0 if metrics.is_flow(k)]
    assert {"funding_hhi", "funding_gini", "neglect_index", "duplication_ratio", "efficiency",
            "churn_rate"} <= set(flows)
    assert [f"funding_share_{i}" for i in small_model.issue_names] == [k for k in flows if k.startswith("funding_share_")]
    assert all(np.isnan(row0[k]) for k in flows), {k: row0[k] for k in flows}
    stocks = [k for k in metrics.metric_names(small_model.issue_names) if not metrics.is_flow(k)]
    assert all(np.isfinite(row0[k]) for k in stocks if k not in ("participation_small_large",
                                                                 "participation_south_north")
               + metrics.COHORT_METRICS), row0
    small_model.step()
    row1 = small_model.records[-1]
    assert all(np.isfinite(row1[k]) for k in flows if k != "nonmember_access")
