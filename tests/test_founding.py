"""Phase 2, founding and dissolution (model/founding.py): unit tests with hand-computed expectations.

Each test builds a tiny, fully controlled state (see conftest.py: `make_model`, `add_networks`,
`set_members`), overwrites the arrays it needs with small known numbers, calls one function and
compares with numbers computed by hand in the comments.
"""

from __future__ import annotations


import numpy as np
import pytest

from conftest import ABC
from model import founding
from model.state import GLOBAL_SCOPE, INVITATION, OPEN

def test_dissolution_floor_years(make_model, add_networks, set_members):
    m = make_model(ABC, networks__min_members=4, networks__min_income=0.02, networks__floor_years=3)
    add_networks(m, 4, funds=[1.0, 1.0, 0.0, 0.0], founded=[1990, 1990, 1990, 2000])
    # net0: 2 members (below floor); net1: 5 members, funded; net2: 5 members, no income;
    # net3: 5 members, no income but founded this year (income not yet counted)
    set_members(m, {0: [0, 1], 1: [0, 1, 2, 3, 4], 2: [5, 6, 7, 8, 9], 3: [0, 2, 4, 6, 8]})
    m.steps = 2   # incomes are known from the second step on
    assert len(founding.dissolution_phase(m, 2000)) == 0
    assert m.networks.low_years[:4].tolist() == [1, 0, 1, 0]
    assert len(founding.dissolution_phase(m, 2001)) == 0
    assert m.networks.low_years[:4].tolist() == [2, 0, 2, 1]
    gone = founding.dissolution_phase(m, 2002)
    assert sorted(gone.tolist()) == [0, 2]
    nets = m.networks
    assert nets.active[:4].tolist() == [False, True, False, True]
    assert nets.dissolved[:4].tolist() == [2002, -1, 2002, -1]
    assert not np.isin(m.memberships.net, [0, 2]).any()
    assert nets.members[:4].tolist() == [0, 5, 0, 5]


def test_dissolution_no_income_floor_in_first_step(make_model, add_networks, set_members):
    m = make_model(ABC, networks__min_members=4, networks__floor_years=1)
    add_networks(m, 1, funds=[0.0], founded=[1990])
    set_members(m, {0: [0, 1, 2, 3, 4]})
    m.steps = 1   # no income has been allocated yet: only the member floor applies
    assert len(founding.dissolution_phase(m, 2000)) == 0
    m.steps = 2
    assert founding.dissolution_phase(m, 2001).tolist() == [0]


def test_dissolution_counter_resets(make_model, add_networks, set_members):
    m = make_model(ABC, networks__min_members=2, networks__floor_years=2)
    add_networks(m, 1, funds=[1.0], founded=[1990])
    set_members(m, {0: [0]})
    founding.dissolution_phase(m, 2000)
    assert m.networks.low_years[0] == 1
    set_members(m, {0: [0, 1]})   # recovers
    founding.dissolution_phase(m, 2001)
    assert m.networks.low_years[0] == 0
    set_members(m, {0: [0]})
    assert len(founding.dissolution_phase(m, 2002)) == 0
    assert m.networks.active[0]


def _theme_state(make_model, add_networks, set_members, convergence):
    """Every city's priority (0.2,0.3,0.5); cities 0-4 are in a network active on c only."""
    m = make_model(ABC, networks__convergence=convergence)
    m.cities.priority[:] = [0.2, 0.3, 0.5]
    add_networks(m, 1, themes=[2], agenda=[[0.0, 0.0, 1.0]])
    set_members(m, {0: [0, 1, 2, 3, 4]})
    m.last_funding_share = np.array([0.5, 0.3, 0.2])
    return m


def test_unmet_demand(make_model, add_networks, set_members):
    m = _theme_state(make_model, add_networks, set_members, 0.5)
    total, by_issue = founding.unmet_demand(m)
    # unmet mass: a 10 x 0.2 = 2, b 10 x 0.3 = 3, c 5 x 0.5 = 2.5 (cities 0-4 covered) -> 7.5 of 10
    assert total == pytest.approx(0.75)
    assert by_issue == pytest.approx([2 / 7.5, 3 / 7.5, 2.5 / 7.5])


@pytest.mark.parametrize("convergence, expected", [
    (1.0, [0.5, 0.3, 0.2]),                                # follow the money
    (0.0, [2 / 7.5, 3 / 7.5, 2.5 / 7.5]),                  # fill the niche
    (0.5, [0.5 * 0.5 + 0.5 * 2 / 7.5, 0.5 * 0.3 + 0.5 * 0.4, 0.5 * 0.2 + 0.5 * 2.5 / 7.5]),
])
def test_theme_probabilities(make_model, add_networks, set_members, convergence, expected):
    m = _theme_state(make_model, add_networks, set_members, convergence)
    p = founding.theme_probabilities(m)
    assert p == pytest.approx(expected)
    assert p.sum() == pytest.approx(1.0)


def test_theme_probabilities_without_funding_follow_appeal(make_model, add_networks, set_members):
    m = _theme_state(make_model, add_networks, set_members, 1.0)
    m.last_funding_share = None
    # ABC issues all have funder_appeal 1: uniform
    assert founding.theme_probabilities(m) == pytest.approx([1 / 3] * 3)


def test_found_networks_fields(make_model):
    m = make_model(ABC, networks__founders=3, networks__openness_open=0.5, networks__openness_closed=0.1,
                   networks__target_size=20)
    idx = founding.found_networks(m, 2, 2000, themes=np.array([1, 2]), rules=np.array([OPEN, INVITATION]),
                                  scopes=np.array([GLOBAL_SCOPE, GLOBAL_SCOPE]))
    nets = m.networks
    assert idx.tolist() == [0, 1]
    assert nets.active[:2].all() and nets.founded[:2].tolist() == [2000, 2000]
    assert nets.openness[:2] == pytest.approx([0.5, 0.1])
    assert nets.target[0] == 0 and nets.target[1] >= 2
    # agenda = 0.6 x theme + 0.4 x salience share (uniform here)
    assert nets.agenda[0] == pytest.approx([0.4 / 3, 0.6 + 0.4 / 3, 0.4 / 3])
    assert nets.members[:2].tolist() == [3, 3]
    # fresh standards: every (network, issue) its own
    assert len(np.unique(nets.standard[:2])) == 6
    assert len(m.network_agents) == 2


def test_founders_seed_knowledge(make_model, add_networks, set_members):
    """Founders need attention >= 1 (not free attention); a new network's knowledge starts at least at
    its founders' best practice x agenda focus (agenda / max agenda)."""
    m = make_model(ABC, networks__founders=2)
    add_networks(m, 1)
    c = m.cities
    c.attention[:] = 0
    c.attention[[3, 5]] = 1            # only cities 3 and 5 can found
    set_members(m, {0: [3]})           # city 3 has no free attention left: it may still found
    c.practice[3] = [0.9, 0.5, 0.1]
    c.practice[5] = [0.4, 0.8, 0.3]
    k = founding.found_networks(m, 1, 2000, themes=np.array([0]), rules=np.array([OPEN]),
                                scopes=np.array([GLOBAL_SCOPE]))[0]
    nets = m.networks
    assert sorted(m.memberships.city[m.memberships.net == k].tolist()) == [3, 5]
    # agenda = 0.6 e_a + 0.4 (1/3, 1/3, 1/3) = (11/15, 2/15, 2/15); focus = agenda / (11/15) = (1, 2/11, 2/11)
    assert nets.agenda[k] == pytest.approx([11 / 15, 2 / 15, 2 / 15])
    # best founder practice (0.9, 0.8, 0.3) x focus = (0.9, 1.6/11, 0.6/11) = (0.9, 0.145455, 0.054545);
    # the drawn start, agenda x U(0.15, 0.35), is at most (0.256667, 0.046667, 0.046667): below on every issue
    assert nets.knowledge[k] == pytest.approx([0.9, 1.6 / 11, 0.6 / 11])

    # a founder whose practice is below the drawn start leaves the draw: elementwise maximum
    c.attention[[3, 5]] = 0
    c.attention[7] = 1
    c.practice[7] = [0.1, 0.9, 0.0]
    k2 = founding.found_networks(m, 1, 2000, themes=np.array([0]), rules=np.array([OPEN]),
                                 scopes=np.array([GLOBAL_SCOPE]))[0]
    assert m.memberships.city[m.memberships.net == k2].tolist() == [7]
    K, A = nets.knowledge[k2], nets.agenda[k2]
    # b: 0.9 x 2/11 = 0.163636 > drawn (<= 0.046667)
    assert K[1] == pytest.approx(0.9 * 2 / 11)
    # a: drawn >= 0.15 x 11/15 = 0.11 > 0.1 x 1; c: drawn >= 0.02 > 0 x 2/11 -> both keep the draw
    # agenda x u with one u in [0.15, 0.35]
    u = K[0] / A[0]
    assert 0.15 <= u <= 0.35
    assert K[2] == pytest.approx(u * A[2])

    # no city with attention: no founders, the drawn start only
    c.attention[:] = 0
    k3 = founding.found_networks(m, 1, 2000, themes=np.array([0]), rules=np.array([OPEN]),
                                 scopes=np.array([GLOBAL_SCOPE]))[0]
    assert nets.members[k3] == 0
    u3 = nets.knowledge[k3, 0] / nets.agenda[k3, 0]
    assert 0.15 <= u3 <= 0.35
    assert nets.knowledge[k3] == pytest.approx(u3 * nets.agenda[k3])


def test_found_phase_respects_max_networks(make_model):
    m = make_model(ABC, networks__founding_rate=50.0, networks__max_networks=3)
    founding.found_phase(m, 2000)
    assert m.networks.active.sum() == 3
