"""Unit tests of the submodels (one phase function at a time) with hand-computed expectations.

Each test builds a tiny, fully controlled state (see conftest.py: `make_model`, `add_networks`,
`set_members`), overwrites the arrays it needs with small known numbers, calls one function and
compares with numbers computed by hand in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import A_PEACE, ABC, TINY
from model import agenda, founding, knowledge, membership, metrics, resources, spillover
from model.cities import synthetic_cities, synthetic_countries
from model.config import ScenarioError
from model.loading import load_scenario
from model.membership import refresh_counts
from model.resources import update_funder_budgets
from model.model import CityDiplomacyModel
from model.state import COMPETITIVE, GLOBAL_SCOPE, INVITATION, OPEN

# ---------------------------------------------------------------------------------------------
# Agenda (phase 3)


def _agenda_state(make_model, add_networks, set_members, **ov):
    """Network 0: theme a, partner_share 0.5, partner_pref (0,0,1), agenda (1/3,1/3,1/3);
    members 0 and 1 with priorities (0.6,0.4,0) and (0.2,0.4,0.4): mean (0.4,0.4,0.2).
    Network 1: theme b, no members, agenda (0.2,0.6,0.2), no partners.
    Network 2: inactive, agenda (0.1,0.1,0.8)."""
    m = make_model(ABC, **ov)
    add_networks(m, 3, themes=[0, 1, 2],
                 agenda=[[1 / 3, 1 / 3, 1 / 3], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8]],
                 partner_share=[0.5, 0.0, 0.5], partner_pref=[[0, 0, 1], [0, 0, 1], [1, 0, 0]])
    m.cities.priority[0] = [0.6, 0.4, 0.0]
    m.cities.priority[1] = [0.2, 0.4, 0.4]
    set_members(m, {0: [0, 1], 2: [2]})
    m.networks.active[2] = False
    m.networks.misalignment[2] = 0.77
    return m


def test_member_mean_priority(make_model, add_networks, set_members):
    m = _agenda_state(make_model, add_networks, set_members)
    mean = agenda.member_mean_priority(m)
    assert mean[0] == pytest.approx([0.4, 0.4, 0.2])
    # no members: the network's own agenda
    assert mean[1] == pytest.approx([0.2, 0.6, 0.2])


def test_agenda_full_adaptation_partner_blend(make_model, add_networks, set_members):
    # mission_weight m = 0.5, agenda_adaptation = 1 (agenda jumps to its target), city_first = 0
    m = _agenda_state(make_model, add_networks, set_members, networks__agenda_adaptation=1.0)
    agenda.agenda_phase(m)
    # w = 0.5 x (1 - 0) = 0.5
    # blend  = 0.5 (0.4,0.4,0.2) + 0.5 (0,0,1) = (0.2,0.2,0.6)
    # target = 0.5 (1,0,0) + 0.5 (0.2,0.2,0.6) = (0.6,0.1,0.3)
    assert m.networks.agenda[0] == pytest.approx([0.6, 0.1, 0.3])
    # misalignment: TVD to the agenda members alone would set,
    # city_agenda = 0.5 (1,0,0) + 0.5 (0.4,0.4,0.2) = (0.7,0.2,0.1)
    # TVD = 0.5 (|0.6-0.7| + |0.1-0.2| + |0.3-0.1|) = 0.5 x 0.4 = 0.2
    assert m.networks.misalignment[0] == pytest.approx(0.2)


def test_agenda_city_first_halves_partner_weight(make_model, add_networks, set_members):
    m = _agenda_state(make_model, add_networks, set_members, networks__agenda_adaptation=1.0,
                      governance__city_first=0.5)
    assert m.levers.city_first == 0.5
    agenda.agenda_phase(m)
    # w = 0.5 x (1 - 0.5) = 0.25
    # blend  = 0.75 (0.4,0.4,0.2) + 0.25 (0,0,1) = (0.3,0.3,0.4)
    # target = 0.5 (1,0,0) + 0.5 (0.3,0.3,0.4) = (0.65,0.15,0.2)
    assert m.networks.agenda[0] == pytest.approx([0.65, 0.15, 0.2])
    # TVD to (0.7,0.2,0.1) = 0.5 (0.05 + 0.05 + 0.1) = 0.1
    assert m.networks.misalignment[0] == pytest.approx(0.1)


def test_agenda_full_city_first_no_misalignment(make_model, add_networks, set_members):
    m = _agenda_state(make_model, add_networks, set_members, networks__agenda_adaptation=1.0,
                      governance__city_first=1.0)
    agenda.agenda_phase(m)
    # w = 0: target = city agenda = (0.7,0.2,0.1); misalignment 0
    assert m.networks.agenda[0] == pytest.approx([0.7, 0.2, 0.1])
    assert m.networks.misalignment[0] == pytest.approx(0.0, abs=1e-12)


def test_agenda_partial_adaptation_and_other_networks(make_model, add_networks, set_members):
    # defaults: mission_weight 0.5, agenda_adaptation 0.2
    m = _agenda_state(make_model, add_networks, set_members)
    agenda.agenda_phase(m)
    # network 0: target (0.6,0.1,0.3); agenda = 1/3 + 0.2 (target - 1/3)
    a0 = [1 / 3 + 0.2 * (0.6 - 1 / 3), 1 / 3 + 0.2 * (0.1 - 1 / 3), 1 / 3 + 0.2 * (0.3 - 1 / 3)]
    assert a0 == pytest.approx([0.386667, 0.286667, 0.326667], abs=1e-6)
    assert m.networks.agenda[0] == pytest.approx(a0)
    assert m.networks.agenda[0].sum() == pytest.approx(1.0)
    # TVD to the city agenda (0.7,0.2,0.1): 0.5 (0.313333 + 0.086667 + 0.226667) = 0.313333
    assert m.networks.misalignment[0] == pytest.approx(0.5 * (abs(a0[0] - 0.7) + abs(a0[1] - 0.2) + abs(a0[2] - 0.1)))
    assert m.networks.misalignment[0] == pytest.approx(0.313333, abs=1e-6)
    # network 1 (theme b, no members, no partners): mean = own agenda (0.2,0.6,0.2)
    # target = 0.5 (0,1,0) + 0.5 (0.2,0.6,0.2) = (0.1,0.8,0.1); agenda = (0.2,0.6,0.2) + 0.2 (-0.1,0.2,-0.1)
    assert m.networks.agenda[1] == pytest.approx([0.18, 0.64, 0.18])
    # no members: nothing to be misaligned with -> misalignment 0 (not the TVD 0.16 to its own old agenda)
    assert m.networks.misalignment[1] == 0.0
    # network 2 is inactive: agenda and misalignment untouched
    assert m.networks.agenda[2] == pytest.approx([0.1, 0.1, 0.8])
    assert m.networks.misalignment[2] == pytest.approx(0.77)


# ---------------------------------------------------------------------------------------------
# Resources (phase 4)


def _contest_state(make_model, add_networks, set_members, **ov):
    """One funder with preference (1,0,0) and budget 10; network 0 agenda (0.5,0.25,0.25) with 3 members,
    network 1 agenda (0.25,0.5,0.25) with 1 member; every city's visibility 0.75 (prestige 0.75)."""
    m = make_model(ABC, **ov)
    add_networks(m, 2, themes=[0, 1], agenda=[[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]])
    m.cities.visibility[:] = 0.75
    set_members(m, {0: [0, 1, 2], 1: [3]})
    f = m.funders
    f.pref[0] = [1.0, 0.0, 0.0]
    f.budget[0] = 10.0
    f.active[0] = True
    f.region[0] = GLOBAL_SCOPE
    return m


def test_network_visibility(make_model, add_networks, set_members):
    m = _contest_state(make_model, add_networks, set_members)
    # vis = log(1 + members) x (0.25 + 0.75)
    assert resources.network_visibility(m) == pytest.approx([math.log(4), math.log(2)])


@pytest.mark.parametrize("gamma, expected", [
    # fit = 3 x pref.agenda = (1.5, 0.75); vis = (ln 4, ln 2) = (2 ln2, ln2)
    # fit x vis = (3 ln2, 0.75 ln2): ratio 4 : 1
    (1.0, [8.0, 2.0]),                 # 10 x (4/5, 1/5)
    (2.0, [160 / 17, 10 / 17]),        # 10 x (16/17, 1/17)
    (0.0, [5.0, 5.0]),                 # equal split
])
def test_tullock_contest_two_networks(make_model, add_networks, set_members, gamma, expected):
    m = _contest_state(make_model, add_networks, set_members, resources__gamma=gamma)
    alloc = resources.allocate(m)
    assert alloc.shape == (1, 2)
    assert alloc[0] == pytest.approx(expected)
    assert alloc.sum() == pytest.approx(10.0)
    assert m.unallocated == pytest.approx(0.0)


def test_sponsor_share_then_contest(make_model, add_networks, set_members):
    m = _contest_state(make_model, add_networks, set_members, resources__gamma=1.0, resources__sponsor_share=0.4)
    m.networks.sponsor[0] = 0
    alloc = resources.allocate(m)
    # sponsorship 0.4 x 10 = 4 to network 0; the remaining 6 split 4:1 -> (4.8, 1.2)
    assert alloc[0] == pytest.approx([4.0 + 4.8, 1.2])
    assert alloc.sum() == pytest.approx(10.0)


def test_sponsor_exit_under_city_first(make_model, add_networks, set_members):
    m = _contest_state(make_model, add_networks, set_members, resources__gamma=1.0, resources__sponsor_share=0.4,
                       resources__sponsor_exit=0.5, governance__city_first=0.5)
    m.networks.sponsor[0] = 0
    alloc = resources.allocate(m)
    # sponsorship 0.4 x 10 x (1 - 0.5 x 0.5) = 3 to network 0; remaining 7 split 4:1 -> (5.6, 1.4)
    assert alloc[0] == pytest.approx([3.0 + 5.6, 1.4])
    assert alloc.sum() == pytest.approx(10.0)


def test_sponsor_share_split_among_sponsored(make_model, add_networks, set_members):
    m = _contest_state(make_model, add_networks, set_members, resources__gamma=1.0, resources__sponsor_share=0.5)
    m.networks.sponsor[:2] = 0
    alloc = resources.allocate(m)
    # 5 split equally (2.5 each) + contest on the other 5: (4, 1)
    assert alloc[0] == pytest.approx([6.5, 3.5])


def test_regional_funder_eligibility(make_model, add_networks, set_members):
    m = _contest_state(make_model, add_networks, set_members, resources__gamma=1.0)
    m.funders.region[0] = 2
    # network 0 in region 3 (ineligible), network 1 in region 2 (eligible): all 10 to network 1
    m.networks.scope[0] = 3
    m.networks.scope[1] = 2
    alloc = resources.allocate(m)
    assert alloc[0] == pytest.approx([0.0, 10.0])
    # a global network is eligible for a regional funder: 4:1 again
    m.networks.scope[0] = GLOBAL_SCOPE
    alloc = resources.allocate(m)
    assert alloc[0] == pytest.approx([8.0, 2.0])
    # no eligible network: nothing allocated, the budget is unallocated
    m.networks.scope[:2] = 4
    alloc = resources.allocate(m)
    assert alloc.sum() == 0.0
    assert m.unallocated == pytest.approx(10.0)


def test_inactive_network_and_funder_get_nothing(make_model, add_networks, set_members):
    m = _contest_state(make_model, add_networks, set_members, resources__gamma=1.0)
    m.networks.active[1] = False
    alloc = resources.allocate(m)
    assert alloc[0] == pytest.approx([10.0, 0.0])
    m.funders.active[0] = False
    assert resources.allocate(m).sum() == 0.0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), gamma=st.floats(0.0, 4.0), sponsor=st.floats(0.0, 1.0),
       pooled=st.floats(0.0, 1.0), regional=st.sampled_from([0.0, 0.5, 1.0]))
def test_nothing_allocated_beyond_budget(seed, gamma, sponsor, pooled, regional):
    cfg = load_scenario(None, overrides={"cities.n": 60, "networks.initial": 12, "resources.n_funders": 4,
                                         "resources.gamma": gamma, "resources.sponsor_share": sponsor,
                                         "resources.regional_funders": regional, "seed": seed})
    m = CityDiplomacyModel(cfg)
    m.levers.io_pooled_share = pooled
    m.levers.io_affiliated = m.rng.random(m.networks.n) < 0.5
    m.networks.active[0] = False
    alloc = resources.allocate(m)
    budget = np.where(m.funders.active, m.funders.budget, 0.0)
    assert (alloc >= 0).all()
    assert (alloc.sum(axis=1) <= budget * (1 + 1e-9) + 1e-12).all()
    # every unit is either allocated or reported unallocated
    assert alloc.sum() + m.unallocated == pytest.approx(budget.sum())
    assert alloc[:, 0].sum() == 0.0  # inactive network


def test_resources_phase_income_secretariat_programme(make_model, add_networks, set_members):
    m = _contest_state(make_model, add_networks, set_members, resources__gamma=1.0, resources__overhead=0.3,
                       resources__secretariat_scale=1.0, resources__efficiency_gain=0.05)
    m.networks.fee[:2] = [0.5, 0.0]
    m.networks.efficiency[:2] = [0.5, 0.5]
    resources.resources_phase(m)
    nets = m.networks
    # grants (8, 2); fees 0.5 x 3 members = 1.5 -> income (9.5, 2)
    assert nets.grants[:2] == pytest.approx([8.0, 2.0])
    assert nets.funds[:2] == pytest.approx([9.5, 2.0])
    # secretariat = 1 - exp(-0.3 x income / 1)
    assert nets.secretariat[:2] == pytest.approx([1 - math.exp(-2.85), 1 - math.exp(-0.6)])
    # one network per theme: no competitive pressure, efficiency unchanged; programme = 0.7 x income x 0.5
    assert nets.efficiency[:2] == pytest.approx([0.5, 0.5])
    assert m.networks.programme[: m.networks.n] == pytest.approx([0.7 * 9.5 * 0.5, 0.7 * 2.0 * 0.5])
    # funding shares by issue = grants . agenda / total = (8 (0.5,.25,.25) + 2 (.25,.5,.25)) / 10
    assert m.last_funding_share == pytest.approx([0.45, 0.3, 0.25])


def test_competition_spurs_efficiency(make_model, add_networks, set_members):
    m = _contest_state(make_model, add_networks, set_members, resources__efficiency_gain=0.05)
    m.networks.theme[:2] = 0  # two networks on one theme: pressure 1 - 1/2
    m.networks.efficiency[:2] = [0.5, 0.8]
    resources.resources_phase(m)
    # eff += 0.05 x 0.5 x (1 - eff)
    assert m.networks.efficiency[:2] == pytest.approx([0.5 + 0.025 * 0.5, 0.8 + 0.025 * 0.2])


# ---------------------------------------------------------------------------------------------
# Membership (phase 5)


def _utility_state(make_model, add_networks, set_members):
    """City 0 (non-member) and network 0 with members 1 (same country), 2 (same region), 3 (elsewhere)."""
    m = make_model(ABC)
    add_networks(m, 1, themes=[0], agenda=[[0.5, 0.25, 0.25]], knowledge=[[0.6, 0.2, 0.2]], fee=[0.1])
    c = m.cities
    c.country[:4] = [0, 0, 1, 2]
    c.region[:4] = [0, 0, 0, 1]
    for i in (0, 1):
        c.priority[i] = [0.5, 0.5, 0.0]
        c.practice[i] = [0.2, 0.2, 0.2]
        c.capacity[i] = 0.5
        c.budget[i] = 1.0
    c.visibility[:4] = [0.9, 0.4, 0.6, 0.8]
    set_members(m, {0: [1, 2, 3]})
    m.networks.programme[0] = 2.0
    return m


def test_utility_nonmember(make_model, add_networks, set_members):
    m = _utility_state(make_model, add_networks, set_members)
    assert m.networks.prestige[0] == pytest.approx(0.6)  # mean visibility of members (0.4+0.6+0.8)/3
    U = membership.utility(m, np.array([0]), np.array([0]), np.array([0]))
    fit = 3 * (0.5 * 0.5 + 0.5 * 0.25) - 1           # 0.125
    learn = 3 * 0.5 * (0.5 * (0.6 - 0.2))            # 0.3 (gaps on b, c are 0)
    funds = math.log(1 + 2.0 / (3 + 1) / 1.0)        # log 1.5
    prestige = 0.6 * 2 * 0.9                         # prestige_k x 2 x visibility_c = 1.08
    peers = (1 + 0.3 * 2) / (3 + 1)                  # 1 same country, 2 same region: 0.4
    similar = 1 - abs(0.9 - 0.6)                     # 0.7
    exclusive = 0.0                                  # open network
    fee = 0.1 / 1.0
    expected = (1.0 * fit + 2.0 * learn + 0.5 * funds + 0.6 * prestige + 0.8 * peers + 0.8 * similar
                + 1.0 * exclusive - 1.0 * fee - 0.9)
    # 0.125 + 0.6 + 0.5 log 1.5 + 0.648 + 0.32 + 0.56 - 0.1 - 0.9
    assert expected == pytest.approx(1.455733, abs=1e-6)
    assert U[0] == pytest.approx(expected)


def test_utility_member_excludes_itself(make_model, add_networks, set_members):
    m = _utility_state(make_model, add_networks, set_members)
    U = membership.utility(m, np.array([1]), np.array([0]), np.array([1]))
    # city 1 is a member: m_other = 2, same country 1 - 1 = 0, same region 2 - 1 = 1
    # (prestige is the mean visibility of all members, 0.6, city 1 included)
    funds = math.log(1 + 2.0 / 3 / 1.0)
    peers = (0 + 0.3 * 1) / 3
    prestige = 0.6 * 2 * 0.4                         # visibility of city 1: 0.4 -> 0.48
    similar = 1 - abs(0.4 - 0.6)                     # 0.8
    expected = 0.125 + 2.0 * 0.3 + 0.5 * funds + 0.6 * prestige + 0.8 * peers + 0.8 * similar - 0.1 - 0.9
    # 0.125 + 0.6 + 0.5 log(5/3) + 0.288 + 0.08 + 0.64 - 0.1 - 0.9
    assert expected == pytest.approx(0.988413, abs=1e-6)
    assert U[0] == pytest.approx(expected)


def test_utility_similarity_and_exclusivity(make_model, add_networks, set_members):
    """w_similar (1 - |visibility_c - prestige_k|) and w_exclusive visibility_c [invitation or competitive]:
    a globally fluent city prefers prestigious closed networks, a little-known city an open one of its standing."""
    m = make_model(ABC)
    assert (m.cfg.membership.w_similar, m.cfg.membership.w_exclusive) == (0.8, 1.0)
    # fit 3 x 1/3 - 1 = 0 (uniform agendas), no learning (knowledge 0), no funds, no fee
    add_networks(m, 3, rules=[OPEN, INVITATION, COMPETITIVE], agenda=[[1 / 3, 1 / 3, 1 / 3]] * 3,
                 knowledge=[[0.0, 0.0, 0.0]] * 3)
    c = m.cities
    c.country[:8] = [0, 1, 1, 1, 1, 1, 1, 0]   # no peers: the members are from another country and region
    c.region[:8] = [0, 1, 1, 1, 1, 1, 1, 0]
    c.visibility[:8] = [0.9, 0.2, 0.4, 0.8, 1.0, 0.5, 0.7, 0.1]
    set_members(m, {0: [1, 2], 1: [3, 4], 2: [5, 6]})
    # prestige = members' mean visibility: open 0.3, invitation 0.9, competitive 0.6
    assert m.networks.prestige[:3] == pytest.approx([0.3, 0.9, 0.6])
    pairs_c, pairs_k = np.array([0, 0, 0, 7, 7, 7]), np.array([0, 1, 2, 0, 1, 2])
    U = membership.utility(m, pairs_c, pairs_k, np.zeros(6, dtype=np.int64))
    # U = 0.6 x prestige_k x 2 vis_c + 0.8 (1 - |vis_c - prestige_k|) + 1.0 vis_c [closed] - 0.9
    # city 0 (visibility 0.9):
    #   open:        0.6 x 0.3 x 1.8 = 0.324; 0.8 x (1 - 0.6) = 0.32;            -> 0.324 + 0.32 - 0.9 = -0.256
    #   invitation:  0.6 x 0.9 x 1.8 = 0.972; 0.8 x (1 - 0)   = 0.8;  excl 0.9  -> 0.972 + 0.8 + 0.9 - 0.9 = 1.772
    #   competitive: 0.6 x 0.6 x 1.8 = 0.648; 0.8 x (1 - 0.3) = 0.56; excl 0.9  -> 0.648 + 0.56 + 0.9 - 0.9 = 1.208
    # city 7 (visibility 0.1):
    #   open:        0.6 x 0.3 x 0.2 = 0.036; 0.8 x (1 - 0.2) = 0.64;            -> 0.036 + 0.64 - 0.9 = -0.224
    #   invitation:  0.6 x 0.9 x 0.2 = 0.108; 0.8 x (1 - 0.8) = 0.16; excl 0.1  -> 0.108 + 0.16 + 0.1 - 0.9 = -0.532
    #   competitive: 0.6 x 0.6 x 0.2 = 0.072; 0.8 x (1 - 0.5) = 0.4;  excl 0.1  -> 0.072 + 0.4 + 0.1 - 0.9 = -0.328
    assert U == pytest.approx([-0.256, 1.772, 1.208, -0.224, -0.532, -0.328])
    # each term on its own: without exclusivity the closed networks lose w_exclusive x visibility_c
    m.cfg.membership.w_exclusive = 0.0
    U_ne = membership.utility(m, pairs_c, pairs_k, np.zeros(6, dtype=np.int64))
    assert U - U_ne == pytest.approx([0.0, 0.9, 0.9, 0.0, 0.1, 0.1])
    # without similarity (and exclusivity) they lose 0.8 (1 - |vis_c - prestige_k|)
    m.cfg.membership.w_similar = 0.0
    U_ns = membership.utility(m, pairs_c, pairs_k, np.zeros(6, dtype=np.int64))
    assert U_ne - U_ns == pytest.approx([0.32, 0.8, 0.56, 0.64, 0.16, 0.4])


def _greedy_state(make_model, add_networks, set_members, attention, budget=10.0, fees=(0.0, 0.0, 0.0)):
    """City 0 belongs to networks 0, 1, 2 (open, global) whose fit to it is 0.2, 1.4 and 0.8."""
    m = make_model(ABC, membership__review_rate=1.0, membership__candidates=0, membership__fluency_gain=0.0)
    add_networks(m, 3, themes=[0, 0, 0], agenda=[[0.4, 0.3, 0.3], [0.8, 0.1, 0.1], [0.6, 0.2, 0.2]],
                 fee=list(fees))
    c = m.cities
    c.priority[0] = [1.0, 0.0, 0.0]
    c.visibility[0] = 1.0
    c.attention[0] = attention
    c.budget[0] = budget
    set_members(m, {0: [0], 1: [0], 2: [0]})
    return m


def _zero_learning(m):
    m.networks.knowledge[:3] = 0.0


def test_greedy_utilities(make_model, add_networks, set_members):
    m = _greedy_state(make_model, add_networks, set_members, attention=3)
    _zero_learning(m)
    U = membership.utility(m, np.array([0, 0, 0]), np.array([0, 1, 2]), np.array([1, 1, 1]))
    # fit 3 A_a - 1 = (0.2, 1.4, 0.8); city 0 is each network's only member, so prestige_k = its
    # visibility 1: prestige 0.6 x 1 x 2 x 1 = 1.2; similarity 0.8 x (1 - |1 - 1|) = 0.8; open: no
    # exclusivity; no learning, funds, peers or fee; attention cost 0.9:
    # U = fit + 1.2 + 0.8 - 0.9 = fit + 1.1 = (1.3, 2.5, 1.9)
    assert U == pytest.approx([1.3, 2.5, 1.9])


@pytest.mark.parametrize("attention, kept", [(1, {1}), (2, {1, 2}), (3, {0, 1, 2}), (0, set())])
def test_greedy_attention(make_model, add_networks, set_members, attention, kept):
    m = _greedy_state(make_model, add_networks, set_members, attention=attention)
    _zero_learning(m)
    # U = (1.3, 2.5, 1.9) (test_greedy_utilities): all above -switching_cost (-0.15), so all are wanted;
    # the city keeps the `attention` best by utility: network 1, then 2, then 0
    out = membership.membership_phase(m, 2000)
    assert set(m.memberships.net[m.memberships.city == 0].tolist()) == kept
    assert out["leaves"] == 3 - len(kept)
    assert out["joins"] == 0
    assert m.last_churn == pytest.approx((3 - len(kept)) / 3)


def test_greedy_budget(make_model, add_networks, set_members):
    # city 0 at visibility 0 (so each network's prestige, its only member's visibility, is 0 too):
    # prestige 0.6 x 0 x 2 x 0 = 0; similarity 0.8 x (1 - |0 - 0|) = 0.8; U = fit + 0.8 - 0.9 - fee
    # fees (0.5, 0.8, 0.3) with budget 1: U = (0.2-0.1-0.5, 1.4-0.1-0.8, 0.8-0.1-0.3) = (-0.4, 0.5, 0.4)
    # network 0 is below -0.15 (leaves); by utility: network 1 (fees 0.8 <= 1) kept,
    # network 2 (fees 0.8 + 0.3 = 1.1 > 1) dropped although attention would allow it
    m = _greedy_state(make_model, add_networks, set_members, attention=3, budget=1.0, fees=(0.5, 0.8, 0.3))
    _zero_learning(m)
    m.cities.visibility[0] = 0.0
    refresh_counts(m)   # prestige follows the members' visibility
    assert m.networks.prestige[:3] == pytest.approx([0.0, 0.0, 0.0])
    U = membership.utility(m, np.array([0, 0, 0]), np.array([0, 1, 2]), np.array([1, 1, 1]))
    assert U == pytest.approx([-0.4, 0.5, 0.4])
    out = membership.membership_phase(m, 2000)
    assert set(m.memberships.net[m.memberships.city == 0].tolist()) == {1}
    assert out["leaves"] == 2


def test_join_open_network_and_threshold_rule(make_model, add_networks, set_members):
    """A non-member joins a network it draws as a candidate when U > join_threshold; a threshold
    network admits only cities at or above its population threshold."""
    m = make_model(ABC, membership__review_rate=1.0, membership__candidates=3, membership__attention_cost=0.0)
    add_networks(m, 1, themes=[0], rules=[1], agenda=[[1.0, 0.0, 0.0]], knowledge=[[0.0, 0.0, 0.0]],
                 threshold=[1e5])
    c = m.cities
    c.priority[:] = [1.0, 0.0, 0.0]   # fit = 3 - 1 = 2 > 0 for everyone
    c.attention[:] = 5
    c.population[:] = 5e4
    c.population[:4] = 2e5
    membership.membership_phase(m, 2000)
    members = set(m.memberships.city[m.memberships.net == 0].tolist())
    assert members == {0, 1, 2, 3}


def test_competitive_network_admits_best_ranked_up_to_target(make_model, add_networks, set_members):
    m = make_model(ABC, membership__review_rate=1.0, membership__candidates=2, membership__attention_cost=0.0)
    add_networks(m, 1, rules=[COMPETITIVE], agenda=[[1.0, 0.0, 0.0]], knowledge=[[0.0, 0.0, 0.0]], target=[3])
    c = m.cities
    c.priority[:] = [1.0, 0.0, 0.0]   # U >= fit = 2 for everyone: all apply, the member stays
    c.attention[:] = 5
    set_members(m, {0: [0]})
    m.ranking.score = np.arange(10) / 10.0   # city 9 ranks first
    membership.membership_phase(m, 2000)
    # slots = target 3 - 1 staying member = 2: the two best-ranked applicants, cities 9 and 8
    assert set(m.memberships.city[m.memberships.net == 0].tolist()) == {0, 8, 9}


# ---------------------------------------------------------------------------------------------
# Knowledge (phase 6)


def test_best_other_knowledge():
    K = np.array([[0.5], [0.3], [0.7], [0.2]])
    std = np.array([[0], [0], [1], [2]])
    on = np.ones((4, 1), dtype=bool)
    # best per standard: s0 0.5, s1 0.7, s2 0.2; the best other standard than s1 is s0 (0.5)
    assert knowledge.best_other_knowledge(K, std, on)[:, 0] == pytest.approx([0.7, 0.7, 0.5, 0.7])
    # network 2 not active on the issue: s1 no longer counts; best s0 0.5, then s2 0.2
    on[2] = False
    assert knowledge.best_other_knowledge(K, std, on)[:, 0] == pytest.approx([0.2, 0.2, 0.5, 0.5])
    # one standard: nothing to duplicate
    assert knowledge.best_other_knowledge(K, np.zeros((4, 1), dtype=int), np.ones((4, 1), bool))[:, 0] == pytest.approx(0)


def _production_state(make_model, add_networks, same_standard=False):
    m = make_model([{"name": "a"}, {"name": "b"}], knowledge__production=0.12, knowledge__programme_scale=2.0)
    std = [[0, 1], [0, 1]] if same_standard else [[0, 1], [2, 3]]
    add_networks(m, 2, themes=[0, 0], agenda=[[0.8, 0.2], [0.5, 0.5]], knowledge=[[0.2, 0.5], [0.23, 0.1]],
                 standard=std)
    m.networks.programme[:2] = 2 * math.log(2)  # strength 1 - exp(-ln 2) = 0.5
    return m


def test_production_duplication(make_model, add_networks):
    m = _production_state(make_model, add_networks)
    produced, duplicated = knowledge.production(m)
    # focus: net0 (1, 0.25), net1 (1, 1); D = 0.12 x 0.5 x focus x (1 - K)
    D0 = [0.06 * 1 * 0.8, 0.06 * 0.25 * 0.5]   # (0.048, 0.0075)
    D1 = [0.06 * 1 * 0.77, 0.06 * 1 * 0.9]     # (0.0462, 0.054)
    # best other: net0 (0.23, 0.1), net1 (0.2, 0.5); dup = min(D, max(0, other - K))
    dup0 = [min(D0[0], 0.03), 0.0]             # 0.23 - 0.2 = 0.03 caps it
    dup1 = [0.0, min(D1[1], 0.4)]              # 0.054
    assert produced == pytest.approx(sum(D0) + sum(D1))
    assert produced == pytest.approx(0.1557)
    assert duplicated == pytest.approx(sum(dup0) + sum(dup1))
    assert duplicated == pytest.approx(0.084)
    assert m.networks.knowledge[:2] == pytest.approx(np.array([[0.248, 0.5075], [0.2762, 0.154]]))


def test_production_duplication_counts_only_networks_active_on_issue(make_model, add_networks):
    m = _production_state(make_model, add_networks)
    m.networks.agenda[0] = [0.9, 0.1]   # network 0 no longer active on b (0.1 < 0.15, theme a)
    produced, duplicated = knowledge.production(m)
    # D0 = 0.06 x (1 x 0.8, 1/9 x 0.5) = (0.048, 0.003333); D1 = (0.0462, 0.054)
    # production is counted only on issues the producer is active on: not network 0's 0.003333 on b
    assert produced == pytest.approx(0.048 + 0.0462 + 0.054)
    assert m.networks.knowledge[0, 1] == pytest.approx(0.5 + 0.06 / 9 * 0.5)  # but it is still produced
    # network 1 on b: no other network active on b -> no duplication; only 0.03 on a (network 0)
    assert duplicated == pytest.approx(0.03)


def test_production_partner_expertise(make_model, add_networks):
    m = _production_state(make_model, add_networks)
    m.cfg.knowledge.partner_expertise = 1.0
    m.networks.partner_share[:2] = [0.5, 0.0]
    produced, _ = knowledge.production(m)
    # network 0 produces 1 + 1 x 0.5 = 1.5 times as much: D0 = 1.5 x (0.048, 0.0075)
    assert produced == pytest.approx(1.5 * 0.0555 + 0.1002)
    assert m.networks.knowledge[0] == pytest.approx([0.2 + 0.072, 0.5 + 0.01125])


def test_production_same_standard_is_no_duplication(make_model, add_networks):
    m = _production_state(make_model, add_networks, same_standard=True)
    produced, duplicated = knowledge.production(m)
    assert produced == pytest.approx(0.1557)
    assert duplicated == 0.0


def test_production_inactive_network_produces_nothing(make_model, add_networks):
    m = _production_state(make_model, add_networks)
    m.networks.active[1] = False
    produced, duplicated = knowledge.production(m)
    # only net0: D0 = (0.048, 0.0075); best other (net1 inactive): nothing -> no duplication
    assert produced == pytest.approx(0.0555)
    assert duplicated == 0.0
    assert m.networks.knowledge[1] == pytest.approx([0.23, 0.1])


def test_absorption_best_member_practice(make_model, add_networks, set_members):
    m = make_model([{"name": "a"}, {"name": "b"}], knowledge__absorption=0.1)
    add_networks(m, 1, knowledge=[[0.3, 0.5]])
    m.cities.practice[0] = [0.5, 0.1]
    m.cities.practice[1] = [0.7, 0.2]
    set_members(m, {0: [0, 1]})
    knowledge.absorption(m)
    # best member practice (0.7, 0.2): K += 0.1 x max(0, best - K) = (0.3 + 0.04, 0.5)
    assert m.networks.knowledge[0] == pytest.approx([0.34, 0.5])


def _learning_state(make_model, add_networks, set_members, **ov):
    """City 0 (capacity 1, interest 1) in networks 0 and 1 (secretariat 1, misalignment 0);
    issues a (low) and peace (high)."""
    base = dict(knowledge__nonmember_learning=0.0, knowledge__innovation=0.0, knowledge__depreciation=0.0,
                knowledge__high_politics_competence=0.1)
    base.update(ov)
    m = make_model(A_PEACE, **base)
    add_networks(m, 2, knowledge=[[0.8, 0.3], [0.7, 0.9]], secretariat=[1.0, 1.0], misalignment=[0.0, 0.0])
    c = m.cities
    c.practice[:] = 0.2
    c.priority[:] = [0.5, 0.5]  # interest = 0.5 + 0.5 min(1, 2 x 0.5) = 1
    c.capacity[:] = 1.0
    set_members(m, {0: [0], 1: [0]})
    return m


def test_learning_members_sum_of_gains(make_model, add_networks, set_members):
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15)
    gain = knowledge.learning(m)
    # gaps: net0 (0.6, 0.1), net1 (0.5, 0.7); r = 0.15 x 1 x (1 - 0) x 1 each, sum r = 0.3 <= 1:
    # gains add up: 0.15 (0.6 + 0.5, 0.1 + 0.7) = (0.165, 0.12); peace x 0.1 -> (0.165, 0.012)
    assert gain[0] == pytest.approx([0.165, 0.012])
    assert m.cities.practice[0] == pytest.approx([0.365, 0.212])
    # non-members learn nothing (no open learning, no innovation)
    assert gain[1:] == pytest.approx(0.0)


def test_learning_bounded_by_largest_gap(make_model, add_networks, set_members):
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=1.0)
    m.networks.secretariat[:2] = [1.0, 0.5]
    gain = knowledge.learning(m)
    # r = (1, 0.5), sum 1.5 > 1: gain = sum r gap / sum r, a weighted mean of the gaps
    # a: (0.6 + 0.25)/1.5 = 0.566667 <= 0.6;  peace: (0.1 + 0.35)/1.5 = 0.3, x 0.1 -> 0.03
    assert gain[0] == pytest.approx([0.85 / 1.5, 0.03])
    assert gain[0, 0] <= 0.6 and gain[0, 1] <= 0.7
    assert m.cities.practice[0] == pytest.approx([0.2 + 0.85 / 1.5, 0.23])
    # never above the best network knowledge on a low-politics issue
    assert m.cities.practice[0, 0] <= m.networks.knowledge[:2, 0].max() + 1e-12


def test_high_politics_competence_factor(make_model, add_networks, set_members):
    lo = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15,
                         knowledge__high_politics_competence=1.0)
    g1 = knowledge.learning(lo)[0, 1]
    hi = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15,
                         knowledge__high_politics_competence=0.25)
    g2 = knowledge.learning(hi)[0, 1]
    assert g1 == pytest.approx(0.12)
    assert g2 == pytest.approx(0.25 * 0.12)


def test_learning_member_rate_scales_with_secretariat_and_capacity(make_model, add_networks, set_members):
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15)
    m.networks.secretariat[:2] = 0.5
    m.cities.capacity[0] = 0.4
    gain = knowledge.learning(m)
    # r = 0.15 x 0.5 x 0.4 = 0.03; issue a: 0.03 x (0.6 + 0.5) = 0.033
    assert gain[0, 0] == pytest.approx(0.033)


def test_learning_misalignment_weakens_execution(make_model, add_networks, set_members):
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15)
    m.networks.misalignment[:2] = [0.5, 0.0]
    gain = knowledge.learning(m)
    # r = (0.15 x 0.5, 0.15): a: 0.075 x 0.6 + 0.15 x 0.5 = 0.12
    assert gain[0, 0] == pytest.approx(0.12)


def test_open_learning_and_innovation(make_model, add_networks):
    m = make_model(A_PEACE, knowledge__nonmember_learning=0.04, knowledge__innovation=0.01,
                   knowledge__depreciation=0.02, knowledge__high_politics_competence=0.1)
    add_networks(m, 1, knowledge=[[0.8, 0.8]], openness=[0.5])
    c = m.cities
    c.practice[:] = 0.2
    c.priority[:] = [0.5, 0.5]
    c.capacity[:] = 0.5
    gain = knowledge.learning(m)
    # open: 0.04 x max(0, 0.5 x 0.8 - 0.2) x 1 = 0.008
    # innovation: 0.01 x 0.5 x 1 x (1 - 0.2 - 0.008) = 0.00396
    g = 0.008 + 0.01 * 0.5 * (1 - 0.2 - 0.008)
    assert gain[:, 0] == pytest.approx(g)
    assert gain[:, 1] == pytest.approx(0.1 * g)
    # practice after depreciation: (0.2 + g) x 0.98
    assert c.practice[:, 0] == pytest.approx((0.2 + g) * 0.98)


def test_link_weights_bridges(make_model, add_networks, set_members):
    m = make_model(ABC, spillover__bridge_scale=4.0)
    add_networks(m, 3)
    set_members(m, {0: [0, 1, 2], 1: [1, 2], 2: [3]})
    W = knowledge.link_weights(m)
    # shared members: (0,1) 2 -> 2/4 = 0.5; with network 2 none; diagonal 0
    assert W == pytest.approx(np.array([[0, 0.5, 0], [0.5, 0, 0], [0, 0, 0]]))
    links = np.zeros((3, 3))
    links[0, 2] = links[2, 0] = 1.0
    m.levers.links = links
    assert knowledge.link_weights(m)[0, 2] == 1.0


def test_horizontal_flow(make_model, add_networks, set_members):
    m = make_model([{"name": "a"}, {"name": "b"}], spillover__bridge_scale=2.0, spillover__horizontal_rate=0.1,
                   spillover__standard_adoption=0.0)
    add_networks(m, 2, knowledge=[[0.2, 0.6], [0.8, 0.4]])
    set_members(m, {0: [0], 1: [0]})  # one shared member: W = 1/2
    std_before = m.networks.standard[:2].copy()
    knowledge.horizontal(m)
    # net0 gains 0.1 x 0.5 x (0.8 - 0.2) = 0.03 on a; net1 gains 0.1 x 0.5 x 0.2 = 0.01 on b
    assert m.networks.knowledge[:2] == pytest.approx(np.array([[0.23, 0.6], [0.8, 0.41]]))
    assert (m.networks.standard[:2] == std_before).all()  # adoption probability 0


# ---------------------------------------------------------------------------------------------
# Spillover (phase 7)


def _spill_state(make_model, add_networks, set_members, **ov):
    m = make_model(A_PEACE, **ov)
    add_networks(m, 3)
    c = m.cities
    c.norm[:] = [0.2, 0.4]
    c.norm0[:] = [0.3, 0.3]
    c.priority[:] = [0.6, 0.4]
    set_members(m, {0: [0, 1], 1: [0], 2: [0]})  # city 0: 3 memberships, city 1: 1
    return m


def test_spillover_down(make_model, add_networks, set_members):
    m = _spill_state(make_model, add_networks, set_members, spillover__down_rate=0.05, spillover__cobenefit=0.02,
                     spillover__norm_decay=0.01, spillover__priority_feedback=0.05)
    E = np.zeros((m.cities.n, 2))
    E[0] = [0.5, 0.0]
    spillover.down(m, E)
    c = m.cities
    # city 0, issue a: 0.2 + 0.05 x 0.5 x 0.8 = 0.22; decay: 0.22 + 0.01 (0.3 - 0.22) = 0.2208
    # city 0, peace: co-benefit 0.02 x min(1, 3/3) x 0.6 = 0.012 -> 0.412; decay -> 0.412 - 0.00112 = 0.41088
    assert c.norm[0] == pytest.approx([0.2208, 0.41088])
    # city 1 (1 membership, E = 0): a: 0.2 + 0.001 = 0.201; peace: 0.4 + 0.02/3 x 0.6 = 0.404 -> decay
    p1 = 0.4 + 0.02 / 3 * 0.6
    assert c.norm[1] == pytest.approx([0.201, p1 + 0.01 * (0.3 - p1)])
    # city 2 (no memberships): only decay
    assert c.norm[2] == pytest.approx([0.201, 0.399])
    # priorities: 0.95 (0.6, 0.4) + 0.05 norm / sum(norm)
    t = np.array([0.2208, 0.41088]) / (0.2208 + 0.41088)
    assert c.priority[0] == pytest.approx(0.95 * np.array([0.6, 0.4]) + 0.05 * t)
    assert c.priority.sum(axis=1) == pytest.approx(1.0)


def _up_state(make_model, add_networks, set_members):
    """Country 0 has cities 0 (pop 1e6) and 1 (pop 3e6); every other city is in country 1."""
    m = make_model(A_PEACE, spillover__up_rate=0.08, spillover__up_threshold=0.35, spillover__advocacy=0.2,
                   spillover__reversal=0.03, spillover__national_uptake=0.02)
    c, co = m.cities, m.countries
    c.country[:] = 1
    c.country[:2] = 0
    c.population[:2] = [1e6, 3e6]
    c.practice[:2, 0] = [0.2, 0.6]   # level a = (0.2 + 1.8) / 4 = 0.5
    c.norm[:2, 1] = [0.1, 0.2]       # level peace = (0.1 + 0.6) / 4 = 0.175
    co.stance[0] = [0.3, 0.4]
    return m


def test_spillover_up_threshold_and_reversal(make_model, add_networks, set_members):
    m = _up_state(make_model, add_networks, set_members)
    E = np.zeros((m.cities.n, 2))
    E[0, 0] = 1.0                    # voice a = 1e6 / 4e6 = 0.25
    spillover.up(m, E)
    s = m.countries.stance[0]
    # a: signal 0.5 + 0.2 x 0.25 = 0.55 > 0.35: rise 0.08 x 0.2/0.65 x (1 - 0.3)
    assert s[0] == pytest.approx(0.3 + 0.08 * 0.2 / 0.65 * 0.7)
    # peace (norm, high politics): signal 0.175 < 0.35: fall 0.03 x 0.4 x (0.35 - 0.175)/0.35 = 0.006
    assert s[1] == pytest.approx(0.394)
    # national uptake on low-politics issues: p += 0.02 max(0, new stance - p)
    s_a = 0.3 + 0.08 * 0.2 / 0.65 * 0.7
    assert m.cities.practice[0, 0] == pytest.approx(0.2 + 0.02 * (s_a - 0.2))
    assert m.cities.practice[1, 0] == pytest.approx(0.6)      # above the national stance: unchanged


def test_spillover_up_high_politics_uses_norm_not_practice(make_model, add_networks, set_members):
    m = _up_state(make_model, add_networks, set_members)
    m.cities.practice[:2, 1] = 1.0   # practice on peace is irrelevant
    spillover.up(m, np.zeros((m.cities.n, 2)))
    assert m.countries.stance[0, 1] == pytest.approx(0.394)


def test_spillover_up_locked_stance(make_model, add_networks, set_members):
    m = _up_state(make_model, add_networks, set_members)
    m.countries.locked[0, 0] = True
    spillover.up(m, np.ones((m.cities.n, 2)))
    # signal on a is above threshold, but the stance is held at 0 by the withdrawal
    assert m.countries.stance[0, 0] == 0.0
    assert m.countries.stance[0, 1] > 0.0


def test_spillover_phase_switches(make_model, add_networks, set_members):
    m = _spill_state(make_model, add_networks, set_members, spillover__down=False, spillover__up=False)
    norm, stance = m.cities.norm.copy(), m.countries.stance.copy()
    spillover.spillover_phase(m)
    assert (m.cities.norm == norm).all()
    assert (m.countries.stance == stance).all()
    # engagement: city 0 in 3 networks, sum of agendas capped at 1
    E = spillover.engagement(m)
    expected = np.minimum(1.0, m.networks.agenda[:3].sum(axis=0))
    assert E[0] == pytest.approx(expected)


def test_spillover_up_country_without_cities_keeps_stance(make_model, add_networks, set_members):
    m = _up_state(make_model, add_networks, set_members)
    empty = np.flatnonzero(np.bincount(m.cities.country, minlength=m.countries.n) == 0)
    assert len(empty) > 0
    before = m.countries.stance[empty].copy()
    spillover.up(m, np.zeros((m.cities.n, 2)))
    assert m.countries.stance[empty] == pytest.approx(before)


# ---------------------------------------------------------------------------------------------
# Metrics (phase 8)


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


# ---------------------------------------------------------------------------------------------
# Founding and dissolution (phase 2)


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


# ---------------------------------------------------------------------------------------------
# Synthetic cities


def test_synthetic_cities():
    cfg = load_scenario(None, overrides={"cities.n": 3000, "seed": 7})
    rng = np.random.default_rng(7)
    high = np.array([i.politics == "high" for i in cfg.issues])
    countries = synthetic_countries(cfg, rng, len(cfg.issues), high)
    c = synthetic_cities(cfg, rng, countries, high)
    cc = cfg.cities
    assert c.n == 3000
    assert (c.population >= cc.pop_min).all() and (c.population <= cc.pop_max).all()
    per_capita = np.where(c.north, cc.budget_per_capita_north, cc.budget_per_capita_south)
    city_budget = c.population * per_capita / 1e6
    assert (c.budget > 0).all()
    assert (c.budget <= 0.01 * city_budget * (1 + 1e-12)).all()      # at most 1% of the city budget
    assert np.median(c.budget / city_budget) < 0.005                 # typically well under 1%
    assert c.priority.sum(axis=1) == pytest.approx(1.0)
    assert (c.priority >= 0).all()
    assert ((c.practice >= 0) & (c.practice <= 1)).all()
    assert ((c.norm >= 0) & (c.norm <= 1)).all()
    assert ((c.capacity > 0) & (c.capacity <= 1)).all()
    assert ((c.attention >= cc.attention_min) & (c.attention <= cc.attention_max)).all()
    assert (countries.north[c.country] == c.north).all()
    assert (countries.region[c.country] == c.region).all()
    # high-politics practice is low: scaled by 0.3
    assert c.practice[:, high].mean() < c.practice[:, ~high].mean()
    # Zipf: most cities are small
    assert np.median(c.population) < 10 * cc.pop_min


# ---------------------------------------------------------------------------------------------
# Configuration validation


def _err(overrides=None, path=None):
    with pytest.raises(ScenarioError) as ei:
        load_scenario(path, overrides=overrides)
    return ei.value


def test_config_defaults_valid():
    cfg = load_scenario(None)
    assert cfg.issue_names[0] == "climate" and "peace" in cfg.issue_names
    assert cfg.end_year == cfg.start_year + cfg.steps - 1


def test_config_unknown_key_override():
    e = _err({"resources.poool": 1})
    assert e.path == "resources.poool"
    assert "unknown field" in e.message


def test_config_unknown_key_in_file(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("resources:\n  pool: 10\n  poool: 1\n")
    e = _err(path=f)
    assert e.path == "resources.poool"
    assert e.source == str(f)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_config_nan_override(value):
    e = _err({"resources.pool": value})
    assert e.path == "resources.pool"
    assert "finite" in e.message


def test_config_nan_in_file(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("knowledge:\n  production: .nan\n")
    assert _err(path=f).path == "knowledge.production"


@pytest.mark.parametrize("key, value", [
    ("resources.gamma", -1.0),
    ("networks.convergence", 1.5),
    ("cities.n", 5),
    ("spillover.up_threshold", -0.1),
    ("membership.review_rate", 2),
])
def test_config_out_of_range(key, value):
    assert _err({key: value}).path == key


def test_config_rule_shares_over_one():
    e = _err({"networks.invitation_share": 0.5, "networks.competitive_share": 0.3, "networks.threshold_share": 0.3})
    assert e.path == "networks"
    assert "at most 1" in e.message
    # exactly 1 is fine
    load_scenario(None, overrides={"networks.invitation_share": 0.5, "networks.competitive_share": 0.2,
                                   "networks.threshold_share": 0.3})


def test_config_pop_range_and_duplicate_issues():
    assert _err({"cities.pop_min": 1e6, "cities.pop_max": 1e5}).path == "cities"
    assert _err({"issues": [{"name": "a"}, {"name": "a"}]}).path == "issues"
    assert _err({"issues": [{"name": "a"}, {"name": "Bad Name"}]}).path == "issues.1.name"


def test_config_bad_yaml_files(tmp_path):
    empty = tmp_path / "e.yaml"
    empty.write_text("")
    assert "empty" in _err(path=empty).message
    lst = tmp_path / "l.yaml"
    lst.write_text("- 1\n- 2\n")
    assert "mapping" in _err(path=lst).message
    assert "not found" in _err(path=tmp_path / "missing.yaml").message
    evil = tmp_path / "x.yaml"
    evil.write_text("seed: !!python/object/apply:os.system ['true']\n")
    assert "not allowed" in _err(path=evil).message


def test_config_overrides_apply():
    cfg = load_scenario(None, overrides={"resources__pool": 50, "networks.convergence": 0.25})
    assert cfg.resources.pool == 50 and cfg.networks.convergence == 0.25


# ---------------------------------------------------------------------------------------------
# Model schedule


def test_model_years_and_steps(small_model):
    assert small_model.year == small_model.cfg.start_year - 1
    small_model.run()
    assert small_model.steps == 5
    assert small_model.year == small_model.cfg.start_year + 4
    ts = small_model.timeseries()
    assert ts["year"].tolist() == list(range(small_model.cfg.start_year, small_model.cfg.start_year + 5))
    assert not small_model.running


def test_pool_growth(small_model):
    pool0 = small_model.pool
    small_model.step()
    assert small_model.pool == pytest.approx(pool0)  # no growth in the first year
    small_model.step()
    assert small_model.pool == pytest.approx(pool0 * (1 + small_model.cfg.resources.growth))
    # budgets: exogenous pool plus what active networks mobilise (mobilisation x active networks)
    update_funder_budgets(small_model)
    n_act = int(small_model.networks.active.sum())
    expected = small_model.pool + small_model.cfg.resources.mobilisation * n_act
    assert small_model.funders.budget.sum() == pytest.approx(expected)


def test_same_seed_same_run(small_cfg):
    a = CityDiplomacyModel(small_cfg).run().timeseries()
    b = CityDiplomacyModel(small_cfg).run().timeseries()
    assert a.equals(b)


def test_state_invariants_after_run(small_model):
    small_model.run()
    c, nets = small_model.cities, small_model.networks
    n = nets.n
    assert c.priority.sum(axis=1) == pytest.approx(1.0)
    assert ((c.practice >= 0) & (c.practice <= 1)).all()
    assert ((nets.knowledge[:n] >= 0) & (nets.knowledge[:n] <= 1)).all()
    assert nets.agenda[:n][nets.active[:n]].sum(axis=1) == pytest.approx(1.0)
    assert ((small_model.countries.stance >= 0) & (small_model.countries.stance <= 1)).all()
    # memberships only in active networks, no duplicate pairs, within bincount
    mem = small_model.memberships
    assert nets.active[mem.net].all()
    keys = mem.city * n + mem.net
    assert len(np.unique(keys)) == len(keys)
    assert (nets.members[:n] == np.bincount(mem.net, minlength=n)).all()


# ---------------------------------------------------------------------------------------------
# Invitations (phase 5)


def _ranked_state(make_model, add_networks, set_members, **ov):
    """10 cities with rank scores 0.9, 0.8, ..., 0.0 (city 0 best); cities 0-4 in region 0, 5-9 in
    region 1; one global invitation network (0) with target 4 and one in region 1 (1) with target 2."""
    m = make_model(**ov)
    m.cities.region[:] = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    m.ranking.score = np.linspace(0.9, 0.0, 10)
    m._ranked = None
    add_networks(m, 2, rules=[INVITATION, INVITATION], scopes=[GLOBAL_SCOPE, 1], target=[4, 2])
    set_members(m, {0: [1], 1: []})
    return m


def test_invitations_fill_open_slots_with_the_best_ranked_non_members(make_model, add_networks, set_members):
    m = _ranked_state(make_model, add_networks, set_members)
    c, k = membership.invitations(m)
    got = {int(n): sorted(int(x) for x in c[k == n]) for n in (0, 1)}
    # network 0: target 4, 1 member (city 1) -> 3 open slots: the best-ranked non-members 0, 2, 3
    assert got[0] == [0, 2, 3]
    # network 1 (region 1 only): 2 slots -> the best of cities 5-9: 5 and 6
    assert got[1] == [5, 6]


def test_invitations_skip_cities_that_declined_and_stop_at_target(make_model, add_networks, set_members):
    m = _ranked_state(make_model, add_networks, set_members)
    m.memberships.declined = {0: np.array([0]), 1: np.array([5])}  # city 0 refused network 0; city 5 network 1
    c, k = membership.invitations(m)
    assert sorted(int(x) for x in c[k == 0]) == [2, 3, 4]   # next in line after the refusal
    assert sorted(int(x) for x in c[k == 1]) == [6, 7]
    # a full network invites nobody
    set_members(m, {0: [1, 2, 3, 4], 1: []})
    c, k = membership.invitations(m)
    assert not (k == 0).any()


def test_declined_invitations_are_remembered(make_model, add_networks, set_members):
    # nobody wants to join (join threshold 100): every invitation is refused
    m = _ranked_state(make_model, add_networks, set_members, membership__join_threshold=100.0)
    m.networks.programme[: m.networks.n] = 0.0
    membership.membership_phase(m, m.year)
    assert set(m.memberships.declined[0].tolist()) >= {0, 2, 3}
    assert set(m.memberships.declined[1].tolist()) >= {5, 6}
