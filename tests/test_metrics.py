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
from model.state import INVITATION, OPEN

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
    """Networks 0-2 active on issue a only (standards 5, 5, 7); network 3 on issue b only."""
    m = make_model(ABC)
    add_networks(m, 4, themes=[0, 0, 0, 1], agenda=[[1, 0, 0]] * 3 + [[0, 1, 0]],
                 standard=[[5, 1, 2], [5, 3, 4], [7, 6, 8], [9, 10, 11]])
    set_members(m, {0: [0], 2: [1, 2]})
    return m


def test_active_on(make_model, add_networks, set_members):
    m = _frag_state(make_model, add_networks, set_members)
    on = metrics.active_on(m)
    assert on.tolist() == [[True, False, False]] * 3 + [[False, True, False]]
    m.networks.agenda[3] = [0.1, 0.7, 0.2]  # 0.2 >= activity threshold 0.15; 0.1 is not
    assert metrics.active_on(m)[3].tolist() == [False, True, True]


def test_fragmentation(make_model, add_networks, set_members):
    m = _frag_state(make_model, add_networks, set_members)
    on = metrics.active_on(m)
    # issue a: 3 networks, 2 share a standard: 2 components -> (2 - 1)/(3 - 1) = 0.5, weight 3
    # issue b: 1 network: f = 0, weight 1;  index = (3 x 0.5 + 1 x 0) / (3 + 1) = 0.375
    assert metrics.fragmentation(m, on) == pytest.approx(0.375)
    m.networks.active[3] = False
    assert metrics.fragmentation(m, metrics.active_on(m)) == pytest.approx(0.5)
    # a cooperation link between 0 and 2 joins the components
    L = np.zeros((4, 4))
    L[0, 2] = L[2, 0] = 1.0
    m.levers.links = L
    assert metrics.fragmentation(m, metrics.active_on(m)) == pytest.approx(0.0)
    # all different standards, no links: 3 components -> 1
    m.levers.links = None
    m.networks.standard[1, 0] = 6
    assert metrics.fragmentation(m, metrics.active_on(m)) == pytest.approx(1.0)


def test_standards_per_issue(make_model, add_networks, set_members):
    m = _frag_state(make_model, add_networks, set_members)
    on = metrics.active_on(m)
    # issue a: weights members + 1 = (2, 1, 3); standard 5: 3/6, standard 7: 3/6 -> 1/(0.25+0.25) = 2
    # issue b: one standard -> 1;  mean over issues with networks = 1.5
    assert metrics.standards_per_issue(m, on) == pytest.approx(1.5)
    m.networks.standard[1, 0] = 6  # (2, 1, 3)/6 -> 1/(1/9 + 1/36 + 1/4) = 36/14
    assert metrics.standards_per_issue(m, metrics.active_on(m)) == pytest.approx((36 / 14 + 1) / 2)


def test_nonmember_access(make_model, add_networks, set_members):
    m = make_model(ABC)
    add_networks(m, 2, rules=[INVITATION, OPEN], agenda=[[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    c = m.cities
    c.practice[:] = [0.3, 0.2, 0.0]
    c.practice[:2] = [0.6, 0.4, 0.9]
    set_members(m, {0: [0, 1], 1: [2, 3]})
    # w = (0.5, 0.5, 0): outside (0.3 x 0.5 + 0.2 x 0.5) / inside (0.6 x 0.5 + 0.4 x 0.5) = 0.25/0.5
    assert metrics.nonmember_access(m) == pytest.approx(0.5)
    assert metrics.in_invitation_network(m).tolist() == [True, True] + [False] * 8
    # no invitation network: no gap by definition
    m.networks.rule[0] = OPEN
    assert metrics.nonmember_access(m) == 1.0


def test_observe_has_contract_columns(small_model):
    small_model.step()
    row = small_model.records[-1]
    assert list(row) == ["step", "year"] + metrics.metric_names(small_model.issue_names)
    assert row["year"] == small_model.cfg.start_year
    assert 0.0 <= row["fragmentation_index"] <= 1.0
    assert 0.0 <= row["duplication_ratio"] <= 1.0
    assert all(name.isidentifier() for name in row)
