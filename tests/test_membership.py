"""Phase 5, membership: utility, the greedy choice, competitive selection, invitations (model/membership.py): unit tests with hand-computed expectations.

Each test builds a tiny, fully controlled state (see conftest.py: `make_model`, `add_networks`,
`set_members`), overwrites the arrays it needs with small known numbers, calls one function and
compares with numbers computed by hand in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ABC

from model import membership
from model.membership import refresh_counts
from model.state import COMPETITIVE, GLOBAL_SCOPE, INVITATION, OPEN


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
    assert m.networks.openness[0] == 0.5  # an open network
    U = membership.utility(m, np.array([0]), np.array([0]), np.array([0]))
    fit = 3 * (0.5 * 0.5 + 0.5 * 0.25) - 1           # 0.125
    # what city 0 can learn without joining: the open pool, 0.5 x K = (0.3, 0.1, 0.1); so the gap that
    # counts for joining is K - max(practice, open) = (0.6 - 0.3, 0, 0)
    learn = 3 * 0.5 * 1.0 * (0.5 * (0.6 - 0.3))      # I x capacity x engagement x P.gap = 0.225
    funds = math.log(1 + 2.0 / (3 + 1) / 1.0)        # log 1.5
    prestige = 0.6 * 2 * 0.9                         # prestige_k x 2 x visibility_c = 1.08
    peers = (1 + 0.3 * 2) / (3 + 1)                  # 1 same country, 2 same region: 0.4
    similar = 1 - abs(0.9 - 0.6)                     # 0.7
    exclusive = 0.0                                  # open network
    fee = 0.1 / 1.0
    engaged = 1.0 * fit + 0.6 * prestige + 0.8 * peers + 0.8 * similar + 1.0 * exclusive - 0.9  # x engagement 1
    expected = engaged + 2.0 * learn + 0.5 * funds - 1.0 * fee - 1.0 * 0.0  # no drift
    # 0.125 + 0.648 + 0.32 + 0.56 - 0.9 + 0.45 + 0.5 log 1.5 - 0.1
    assert expected == pytest.approx(1.305733, abs=1e-6)
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
    expected = (0.125 + 0.6 * prestige + 0.8 * peers + 0.8 * similar - 0.9) + 2.0 * 0.225 + 0.5 * funds - 0.1
    # 0.125 + 0.288 + 0.08 + 0.64 - 0.9 + 0.45 + 0.5 log(5/3) - 0.1
    assert expected == pytest.approx(0.838413, abs=1e-6)
    assert U[0] == pytest.approx(expected)


def test_utility_engagement_drift_and_free_riding(make_model, add_networks, set_members):
    """The engaged terms (fit, status, peers, standing, attention) scale with the network's engagement,
    learning too; drift costs utility; what is openly available does not count."""
    m = _utility_state(make_model, add_networks, set_members)
    base = membership.utility(m, np.array([0]), np.array([0]), np.array([0]))[0]
    # a declaration (engagement 0.1): engaged 0.753 and learning 0.225 are both scaled by 0.1
    m.networks.engagement[0] = 0.1
    U = membership.utility(m, np.array([0]), np.array([0]), np.array([0]))[0]
    funds, fee = 0.5 * math.log(1.5), 0.1
    assert U == pytest.approx(0.1 * 0.753 + 2.0 * 0.1 * 0.225 + funds - fee)
    # drift 0.2 at weight 1 costs 0.2
    m.networks.engagement[0] = 1.0
    m.networks.drift[0] = 0.2
    assert membership.utility(m, np.array([0]), np.array([0]), np.array([0]))[0] == pytest.approx(base - 0.2)
    # a fully closed network (openness 0): nothing to learn for free, the whole gap 0.4 counts
    m.networks.drift[0] = 0.0
    m.networks.openness[0] = 0.0
    U = membership.utility(m, np.array([0]), np.array([0]), np.array([0]))[0]
    assert U == pytest.approx(base + 2.0 * 3 * 0.5 * 0.5 * (0.4 - 0.3))


def test_utility_similarity_and_exclusivity(make_model, add_networks, set_members):
    """w_similar (1 - |visibility_c - prestige_k|) and w_exclusive visibility_c (1 - openness_k) [invitation or
    competitive]: a globally fluent city prefers prestigious closed networks, a little-known city an open one
    of its standing; a closed network that opens is worth less to those who value its exclusivity."""
    m = make_model(ABC)
    assert (m.cfg.membership.w_similar, m.cfg.membership.w_exclusive) == (0.8, 1.0)
    # fit 3 x 1/3 - 1 = 0 (uniform agendas), no learning (knowledge 0), no funds, no fee
    add_networks(m, 3, rules=[OPEN, INVITATION, COMPETITIVE], agenda=[[1 / 3, 1 / 3, 1 / 3]] * 3,
                 knowledge=[[0.0, 0.0, 0.0]] * 3, openness=[0.5, 0.0, 0.5])
    c = m.cities
    c.country[:8] = [0, 1, 1, 1, 1, 1, 1, 0]   # no peers: the members are from another country and region
    c.region[:8] = [0, 1, 1, 1, 1, 1, 1, 0]
    c.visibility[:8] = [0.9, 0.2, 0.4, 0.8, 1.0, 0.5, 0.7, 0.1]
    set_members(m, {0: [1, 2], 1: [3, 4], 2: [5, 6]})
    # prestige = members' mean visibility: open 0.3, invitation 0.9, competitive 0.6
    assert m.networks.prestige[:3] == pytest.approx([0.3, 0.9, 0.6])
    pairs_c, pairs_k = np.array([0, 0, 0, 7, 7, 7]), np.array([0, 1, 2, 0, 1, 2])
    U = membership.utility(m, pairs_c, pairs_k, np.zeros(6, dtype=np.int64))
    # U = 0.6 x prestige_k x 2 vis_c + 0.8 (1 - |vis_c - prestige_k|) + 1.0 vis_c (1 - openness_k) [closed] - 0.9
    # city 0 (visibility 0.9):
    #   open:        0.6 x 0.3 x 1.8 = 0.324; 0.8 x (1 - 0.6) = 0.32;              -> 0.324 + 0.32 - 0.9 = -0.256
    #   invitation:  0.6 x 0.9 x 1.8 = 0.972; 0.8 x (1 - 0)   = 0.8;  excl 0.9     -> 0.972 + 0.8 + 0.9 - 0.9 = 1.772
    #   competitive: 0.6 x 0.6 x 1.8 = 0.648; 0.8 x (1 - 0.3) = 0.56; excl 0.45    -> 0.648 + 0.56 + 0.45 - 0.9 = 0.758
    # city 7 (visibility 0.1):
    #   open:        0.6 x 0.3 x 0.2 = 0.036; 0.8 x (1 - 0.2) = 0.64;              -> 0.036 + 0.64 - 0.9 = -0.224
    #   invitation:  0.6 x 0.9 x 0.2 = 0.108; 0.8 x (1 - 0.8) = 0.16; excl 0.1     -> 0.108 + 0.16 + 0.1 - 0.9 = -0.532
    #   competitive: 0.6 x 0.6 x 0.2 = 0.072; 0.8 x (1 - 0.5) = 0.4;  excl 0.05    -> 0.072 + 0.4 + 0.05 - 0.9 = -0.378
    assert U == pytest.approx([-0.256, 1.772, 0.758, -0.224, -0.532, -0.378])
    # each term on its own: without exclusivity the closed networks lose w_exclusive x visibility_c (1 - openness)
    m.cfg.membership.w_exclusive = 0.0
    U_ne = membership.utility(m, pairs_c, pairs_k, np.zeros(6, dtype=np.int64))
    assert U - U_ne == pytest.approx([0.0, 0.9, 0.45, 0.0, 0.1, 0.05])
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
    assert m.flows.churn == pytest.approx((3 - len(kept)) / 3)


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

def _ranked_state(make_model, add_networks, set_members, **ov):
    """10 cities with rank scores 0.9, 0.8, ..., 0.0 (city 0 best); cities 0-4 in region 0, 5-9 in
    region 1; one global invitation network (0) with target 4 and one in region 1 (1) with target 2."""
    m = make_model(**ov)
    m.cities.region[:] = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    m.ranking.score = np.linspace(0.9, 0.0, 10)  # a new score array: the ranking sorts it when next read
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


def test_choice_takes_each_wanted_network_that_still_fits_committed_first_then_by_utility():
    # city 0: networks 0, 1, 2 of engagement 1.0, 0.6, 0.1 with utilities 3, 2, 1, attention 1.15: the
    # first fits (1.0), the second does not (1.6), the third still does (1.1); city 1: fees 0.5, 0.6
    # with budget 1: the second would overflow it. City 2: the committed network (utility 0, fee 0.7)
    # comes before the one of utility 5 (fee 0.6), which no longer fits the budget of 1; the unwanted
    # network of utility 9 is not taken although it would fit.
    pc = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    pk = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    U = np.array([3.0, 2.0, 1.0, 1.0, 0.5, 5.0, 0.0, 9.0])
    committed = np.array([False] * 6 + [True, False])
    want = np.array([True] * 7 + [False])
    engagement = np.array([1.0, 0.6, 0.1, 0.2, 0.2, 0.1, 0.1, 0.1])
    fee = np.array([0, 0, 0, 0.5, 0.6, 0.6, 0.7, 0.0])
    got = membership.choose(pc, pk, U, committed, want, engagement, fee,
                            attention=np.array([1.15, 5.0, 5.0]), budget=np.array([10.0, 1.0, 1.0]))
    assert got.tolist() == [True, False, True, True, False, False, True, False]
    # the order of the pairs within a city does not matter, only utility and commitment
    rev = np.array([2, 1, 0, 4, 3, 7, 6, 5])
    again = membership.choose(pc, pk[rev], U[rev], committed[rev], want[rev], engagement, fee,
                              attention=np.array([1.15, 5.0, 5.0]), budget=np.array([10.0, 1.0, 1.0]))
    assert again.tolist() == got[rev].tolist()


def test_a_declaration_fits_where_a_programme_network_does_not(make_model, add_networks, set_members):
    """Attention is counted in units of engagement: a city with only its cheap slot (0.15) keeps the
    declaration (engagement 0.1), not the programme network it values more (engagement 1)."""
    m = _greedy_state(make_model, add_networks, set_members, attention=0.15)
    _zero_learning(m)
    m.networks.engagement[:3] = [0.1, 1.0, 1.0]
    out = membership.membership_phase(m, 2000)
    assert set(m.memberships.net[m.memberships.city == 0].tolist()) == {0}
    assert out["leaves"] == 2
    assert m.flows.churn == pytest.approx(2 / 3)  # memberships that ended / memberships at the start


def test_founders_keep_a_committed_network_unless_their_budget_fails(make_model, add_networks, set_members):
    m = _greedy_state(make_model, add_networks, set_members, attention=3, budget=1.0, fees=(0.5, 0.0, 0.0))
    _zero_learning(m)
    m.networks.agenda[0] = [0.0, 0.5, 0.5]  # fit 3 x 0 - 1 = -1: utility well below -switching_cost
    U = membership.utility(m, np.array([0]), np.array([0]), np.array([1]))
    assert U[0] < -m.cfg.membership.switching_cost
    m.memberships.committed[m.memberships.net == 0] = 2001  # a founder, committed through 2001
    membership.membership_phase(m, 2000)
    assert 0 in m.memberships.net[m.memberships.city == 0]  # kept through the commitment
    # the budget fails (a shock cuts it below the fee): the commitment cannot be kept
    m.cities.budget[0] = 0.4
    membership.membership_phase(m, 2001)
    assert 0 not in m.memberships.net[m.memberships.city == 0]
    # after the commitment a member leaves a network it no longer values
    set_members(m, {0: [0], 1: [0], 2: [0]})
    m.memberships.committed[:] = 2001
    m.cities.budget[0] = 1.0
    membership.membership_phase(m, 2002)
    assert 0 not in m.memberships.net[m.memberships.city == 0]


def test_selectivity_raises_the_bar_for_keeping(make_model, add_networks, set_members):
    m = _greedy_state(make_model, add_networks, set_members, attention=3)
    _zero_learning(m)
    # U = (1.3, 2.5, 1.9); with selectivity 1.6 a member keeps a network only while U > -0.15 + 1.6 = 1.45
    m.levers.selectivity = 1.6
    membership.membership_phase(m, 2000)
    assert set(m.memberships.net[m.memberships.city == 0].tolist()) == {1, 2}


def test_review_draws_do_not_depend_on_the_state(make_model, add_networks, set_members):
    """One uniform per city and `candidates` per city each year, whatever the state: the membership
    phase of two different states asks its stream for the same draws, so paired arms stay paired."""

    class Recorder:
        def __init__(self, rng):
            self.rng, self.calls = rng, []

        def random(self, size=None):
            self.calls.append(("random", size))
            return self.rng.random(size)

    def draws(model):
        rec = {}
        real = model.streams.rng

        def fake(phase, year, *item):
            rec[(phase, year, item)] = Recorder(real(phase, year, *item))
            return rec[(phase, year, item)]

        model.streams.rng = fake
        membership.membership_phase(model, 2000)
        return {k: v.calls for k, v in rec.items()}

    a = make_model(ABC, membership__review_rate=0.5)
    add_networks(a, 1)
    set_members(a, {0: [0, 1]})
    b = make_model(ABC, membership__review_rate=0.5)
    add_networks(b, 3)
    set_members(b, {0: [0, 1, 2, 3], 1: [4], 2: [5, 6]})
    da, db = draws(a), draws(b)
    assert da == db == {("membership", 2000, ()): [("random", 10), ("random", (10, 6))]}
