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
    m.flows.funding_share = np.array([0.5, 0.3, 0.2])
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


def test_theme_probabilities_without_funding_fill_the_niche(make_model, add_networks, set_members):
    """Before any grant (the initial networks) there is no money to follow, whatever the funders'
    appeal table says: themes fill the niche even at convergence 1, so arms that differ only in the
    appeal table start with the same networks."""
    m = _theme_state(make_model, add_networks, set_members, 1.0)
    m.flows.funding_share = None
    m.issue_appeal = np.array([3.0, 1.0, 0.5])  # would favour the first issue
    assert founding.theme_probabilities(m) == pytest.approx([2 / 7.5, 3 / 7.5, 2.5 / 7.5])


def _coalition_model(make_model, **ov):
    """Ten cities with priority (1, 0, 0), practice 0.9, attention 5, budget 1, no visibility: the utility of a
    proposal is engagement x (fit - attention_cost) (no status, peers, standing, learning, funds or fee)."""
    base = {"networks__min_founders": 2, "networks__founders": 3, "networks__fee_share": 0.0,
                "membership__w_prestige": 0.0, "membership__w_similar": 0.0, "membership__w_peers": 0.0,
                "membership__w_exclusive": 0.0, "membership__attention_cost": 0.9}
    base.update(ov)
    m = make_model(ABC, **base)
    c = m.cities
    c.priority[:] = [1.0, 0.0, 0.0]
    c.practice[:] = 0.9
    c.attention[:] = 5.0
    c.budget[:] = 1.0
    c.visibility[:] = 0.0
    return m


def _found(m, theme, rule=OPEN, year=2000, **kw):
    return founding.found_networks(m, 1, year, themes=np.array([theme]), rules=np.array([rule]),
                                   scopes=np.array([GLOBAL_SCOPE]), **kw)


def test_a_coalition_founds_what_its_cities_want(make_model):
    m = _coalition_model(make_model)
    # theme a: agenda 0.6 e_a + 0.4/3 -> fit = 3 x 11/15 - 1 = 1.2 > attention cost 0.9: founded
    idx = _found(m, 0)
    assert len(idx) == 1
    nets = m.networks
    assert nets.members[idx[0]] == 3  # the best `founders` of the willing candidates
    # theme b: fit = 3 x 2/15 - 1 = -0.6: nobody wants it, the initiative fails and leaves no trace
    n_before = nets.n
    assert len(_found(m, 1)) == 0
    assert nets.n == n_before
    assert m.founding_log[-1] == {"year": 2000, "kind": founding.OTHER, "proposed": 1, "founded": 0}
    # a real network is founded even so (history is an input): the least unwilling candidates fill in
    assert len(_found(m, 1, require_coalition=False)) == 1


def test_founders_need_room_and_commit(make_model):
    m = _coalition_model(make_model, networks__commitment_years=3)
    c = m.cities
    c.attention[:] = 0.05   # below any engagement (declarations: 0.1): no city has room
    assert len(_found(m, 0)) == 0
    c.attention[[2, 4, 6]] = 5.0
    idx = _found(m, 0, year=2003)
    mem = m.memberships
    mine = mem.net == idx[0]
    assert sorted(mem.city[mine].tolist()) == [2, 4, 6]
    # founders commit for 3 years: through 2005
    assert (mem.committed[mine] == 2005).all()


def test_found_networks_fields(make_model):
    m = _coalition_model(make_model, networks__openness_open=0.5, networks__openness_closed=0.1,
                         networks__target_share=0.5, networks__target_min=2)
    idx = founding.found_networks(m, 2, 2000, themes=np.array([0, 0]), rules=np.array([OPEN, INVITATION]),
                                  scopes=np.array([GLOBAL_SCOPE, GLOBAL_SCOPE]))
    nets = m.networks
    assert idx.tolist() == [0, 1]
    assert nets.active[:2].all() and nets.founded[:2].tolist() == [2000, 2000]
    assert nets.openness[:2] == pytest.approx([0.5, 0.1])
    # invitation targets scale with the cities eligible by scope: 0.5 x 10 x LogNormal(-0.08, 0.4), at least 2
    assert nets.target[0] == 0 and 2 <= nets.target[1] <= 20
    # invitation networks run programmes: engagement in [programme_low, 1]
    assert m.cfg.networks.programme_low <= nets.engagement[1] <= 1.0
    # agenda = 0.6 x theme + 0.4 x salience share (uniform here)
    assert nets.agenda[0] == pytest.approx([0.6 + 0.4 / 3, 0.4 / 3, 0.4 / 3])
    assert nets.members[:2].tolist() == [3, 3]
    # fresh standards: every (network, issue) its own
    assert len(np.unique(nets.standard[:2])) == 6
    assert len(m.network_agents) == 2


def test_declarations_and_programmes(make_model):
    # all open networks declarations: engagement declaration_level, fee scaled by it
    m = _coalition_model(make_model, networks__declaration_share=1.0, networks__declaration_level=0.1,
                         networks__fee_share=0.08)
    k = _found(m, 0, require_coalition=False)[0]
    assert m.networks.engagement[k] == pytest.approx(0.1)
    fee_decl = m.networks.fee[k]
    m2 = _coalition_model(make_model, networks__declaration_share=0.0, networks__fee_share=0.08)
    k2 = _found(m2, 0, require_coalition=False)[0]
    # the same proposal stream: the same lognormal factor; the fee scales with engagement
    assert m2.networks.fee[k2] == pytest.approx(fee_decl * m2.networks.engagement[k2] / 0.1)


def test_proposals_draw_from_their_own_streams(make_model):
    """The j-th proposal of a year has the same attributes however many proposals there are."""
    a = _coalition_model(make_model)
    b = _coalition_model(make_model)
    ia = founding.found_networks(a, 1, 2000, kind=founding.SYNTHETIC, require_coalition=False)
    ib = founding.found_networks(b, 3, 2000, kind=founding.SYNTHETIC, require_coalition=False)
    for key in ("theme", "rule", "scope", "engagement", "fee", "partner_share", "efficiency"):
        assert getattr(a.networks, key)[ia[0]] == getattr(b.networks, key)[ib[0]], key
    assert a.networks.knowledge[ia[0]] == pytest.approx(b.networks.knowledge[ib[0]])


def test_founders_seed_knowledge(make_model):
    """A new network's knowledge starts at least at its founders' best practice x agenda focus."""
    m = _coalition_model(make_model, networks__founders=2, networks__min_founders=1)
    c = m.cities
    c.attention[:] = 0
    c.attention[[3, 5]] = 5.0          # only cities 3 and 5 have room
    c.practice[:] = 0.0
    c.practice[3] = [0.9, 0.5, 0.1]
    c.practice[5] = [0.4, 0.8, 0.3]
    k = _found(m, 0)[0]
    nets = m.networks
    assert sorted(m.memberships.city[m.memberships.net == k].tolist()) == [3, 5]
    # agenda = 0.6 e_a + 0.4 (1/3, 1/3, 1/3) = (11/15, 2/15, 2/15); focus = agenda / (11/15) = (1, 2/11, 2/11)
    assert nets.agenda[k] == pytest.approx([11 / 15, 2 / 15, 2 / 15])
    # best founder practice (0.9, 0.8, 0.3) x focus = (0.9, 1.6/11, 0.6/11) = (0.9, 0.145455, 0.054545);
    # the drawn start, agenda x U(0.15, 0.35), is at most (0.256667, 0.046667, 0.046667): below on every issue
    assert nets.knowledge[k] == pytest.approx([0.9, 1.6 / 11, 0.6 / 11])
    # without founders (tests' networks): the drawn start only
    k3 = _found(m, 0, founders=0)[0]
    assert nets.members[k3] == 0
    u3 = nets.knowledge[k3, 0] / nets.agenda[k3, 0]
    assert 0.15 <= u3 <= 0.35
    assert nets.knowledge[k3] == pytest.approx(u3 * nets.agenda[k3])


def test_found_phase_respects_max_networks(make_model):
    m = _coalition_model(make_model, networks__founding_rate=50.0, networks__max_networks=3,
                         networks__min_founders=1)
    founding.found_phase(m, 2000)
    assert 0 < m.networks.n <= 3


def test_empty_networks_dissolve_after_their_grace(make_model, add_networks, set_members):
    m = make_model(ABC, networks__min_members=0, networks__empty_grace_years=1)
    add_networks(m, 2, funds=[1.0, 1.0], founded=[1990, 1990])
    set_members(m, {1: [0, 1, 2]})   # network 0 is empty
    m.steps = 2
    assert len(founding.dissolution_phase(m, 2000)) == 0   # first empty year: grace
    assert not m.networks.operating()[0]                   # but it does not operate
    assert founding.dissolution_phase(m, 2001).tolist() == [0]
    # a network that regains members in its grace year survives
    m = make_model(ABC, networks__min_members=0, networks__empty_grace_years=1)
    add_networks(m, 1, funds=[1.0], founded=[1990])
    m.steps = 2
    founding.dissolution_phase(m, 2000)
    set_members(m, {0: [4]})
    assert len(founding.dissolution_phase(m, 2001)) == 0
    assert m.networks.empty_years[0] == 0
