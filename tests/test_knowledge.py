"""Phase 6, knowledge production and practice sharing (model/knowledge.py): unit tests with hand-computed expectations.

Each test builds a tiny, fully controlled state (see conftest.py: `make_model`, `add_networks`,
`set_members`), overwrites the arrays it needs with small known numbers, calls one function and
compares with numbers computed by hand in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import A_PEACE, ABC

from model import knowledge


def test_best_other():
    K = np.array([[0.5], [0.3], [0.7], [0.2]])
    on = np.ones((4, 1), dtype=bool)
    # the best knowledge another network active on the issue holds, whatever its standard
    assert knowledge.best_other(K, on)[:, 0] == pytest.approx([0.7, 0.7, 0.5, 0.7])
    # network 2 not active on the issue: it no longer counts (its own value: the best of the others)
    on[2] = False
    assert knowledge.best_other(K, on)[:, 0] == pytest.approx([0.3, 0.5, 0.5, 0.5])
    # one active network: nobody else holds anything
    only = np.array([[True], [False], [False], [False]])
    assert knowledge.best_other(K, only)[:, 0] == pytest.approx([0.0, 0.5, 0.5, 0.5])


def _production_state(make_model, add_networks, same_standard=False, variety=0.0):
    m = make_model([{"name": "a"}, {"name": "b"}], knowledge__production=0.12, knowledge__programme_scale=2.0,
                   knowledge__variety_bonus=variety)
    std = [[0, 1], [0, 1]] if same_standard else [[0, 1], [2, 3]]
    add_networks(m, 2, themes=[0, 0], agenda=[[0.8, 0.2], [0.5, 0.5]], knowledge=[[0.2, 0.5], [0.23, 0.1]],
                 standard=std)
    m.networks.members[:2] = 1  # operating (members are not needed otherwise)
    m.networks.programme[:2] = 2 * math.log(2)  # strength 1 - exp(-ln 2) = 0.5
    return m


def test_production_duplication(make_model, add_networks):
    m = _production_state(make_model, add_networks)
    out = knowledge.production(m)
    # focus: net0 (1, 0.25), net1 (1, 1); D = 0.12 x 0.5 x focus x (1 - K)
    D0 = [0.06 * 1 * 0.8, 0.06 * 0.25 * 0.5]   # (0.048, 0.0075)
    D1 = [0.06 * 1 * 0.77, 0.06 * 1 * 0.9]     # (0.0462, 0.054)
    # best other: net0 (0.23, 0.1), net1 (0.2, 0.5); dup = min(D, max(0, other - K))
    # net0 on a: min(0.048, 0.03) = 0.03, a share 0.625 of its production; net1 on b: all of it (share 1)
    assert out["produced"] == pytest.approx(sum(D0) + sum(D1))
    assert out["produced"] == pytest.approx(0.1557)
    # spending: programme 2 ln 2 split by focus over the issues each is active on:
    # net0 (0.8, 0.2) x 2 ln 2, net1 (0.5, 0.5) x 2 ln 2; duplicated: 0.8 x 0.625 + 0.5 x 1 = 1 of 2 units
    assert out["spending"] == pytest.approx(4 * math.log(2))
    assert out["duplicated_spending"] == pytest.approx(2 * math.log(2))
    assert m.networks.knowledge[:2] == pytest.approx(np.array([[0.248, 0.5075], [0.2762, 0.154]]))


def test_production_duplication_counts_only_networks_active_on_issue(make_model, add_networks):
    m = _production_state(make_model, add_networks)
    m.networks.agenda[0] = [0.9, 0.1]   # network 0 no longer active on b (0.1 < 0.15, theme a)
    out = knowledge.production(m)
    # D0 = 0.06 x (1 x 0.8, 1/9 x 0.5) = (0.048, 0.003333); D1 = (0.0462, 0.054)
    # production is counted only on issues the producer is active on: not network 0's 0.003333 on b
    assert out["produced"] == pytest.approx(0.048 + 0.0462 + 0.054)
    assert m.networks.knowledge[0, 1] == pytest.approx(0.5 + 0.06 / 9 * 0.5)  # but it is still produced
    # network 1 on b: no other network active on b -> no duplication; network 0 spends all on a,
    # 0.625 of it duplicated: 0.625 x 2 ln 2 of 4 ln 2
    assert out["duplicated_spending"] / out["spending"] == pytest.approx(0.3125)


def test_production_partner_expertise(make_model, add_networks):
    m = _production_state(make_model, add_networks)
    m.cfg.knowledge.partner_expertise = 1.0
    m.networks.partner_share[:2] = [0.5, 0.0]
    produced = knowledge.production(m)["produced"]
    # network 0 produces 1 + 1 x 0.5 = 1.5 times as much: D0 = 1.5 x (0.048, 0.0075)
    assert produced == pytest.approx(1.5 * 0.0555 + 0.1002)
    assert m.networks.knowledge[0] == pytest.approx([0.2 + 0.072, 0.5 + 0.01125])
    # under city-first governance partners bring expertise in proportion to the weight they keep
    m = _production_state(make_model, add_networks)
    m.cfg.knowledge.partner_expertise = 1.0
    m.networks.partner_share[:2] = [0.5, 0.0]
    m.levers.city_first = 0.6
    assert knowledge.production(m)["produced"] == pytest.approx((1 + 0.5 * 0.4) * 0.0555 + 0.1002)


def test_duplication_does_not_depend_on_standards(make_model, add_networks):
    """Sharing a standard does not make re-created knowledge any less duplicated: only transfers do."""
    distinct = knowledge.production(_production_state(make_model, add_networks))
    same = knowledge.production(_production_state(make_model, add_networks, same_standard=True))
    assert same == pytest.approx(distinct)


def test_competing_lines_spur_production(make_model, add_networks):
    # two networks with distinct standards on each issue: L = 2, production x (1 + 0.3 x (1 - 1/2)) = 1.15
    distinct = knowledge.production(_production_state(make_model, add_networks, variety=0.3))
    assert distinct["produced"] == pytest.approx(1.15 * 0.1557)
    # one shared standard: L = 1, no bonus
    same = knowledge.production(_production_state(make_model, add_networks, same_standard=True, variety=0.3))
    assert same["produced"] == pytest.approx(0.1557)


def test_production_inactive_network_produces_nothing(make_model, add_networks):
    m = _production_state(make_model, add_networks)
    m.networks.active[1] = False
    out = knowledge.production(m)
    # only net0: D0 = (0.048, 0.0075); best other (net1 inactive): nothing -> no duplication
    assert out["produced"] == pytest.approx(0.0555)
    assert out["duplicated_spending"] == 0.0
    assert m.networks.knowledge[1] == pytest.approx([0.23, 0.1])
    # nor does a network without members (not operating)
    m = _production_state(make_model, add_networks)
    m.networks.members[1] = 0
    assert knowledge.production(m)["produced"] == pytest.approx(0.0555)


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
    """City 0 (capacity 1, interest 1) in networks 0 and 1 (secretariat 1, engagement 1, drift 0);
    issues a (low) and peace (high)."""
    base = {"knowledge__nonmember_learning": 0.0, "knowledge__innovation": 0.0, "knowledge__depreciation": 0.0,
                "knowledge__high_politics_competence": 0.1}
    base.update(ov)
    m = make_model(A_PEACE, **base)
    add_networks(m, 2, knowledge=[[0.8, 0.3], [0.7, 0.9]], secretariat=[1.0, 1.0], drift=[0.0, 0.0])
    c = m.cities
    c.practice[:] = 0.2
    c.priority[:] = [0.5, 0.5]  # interest = 0.5 + 0.5 min(1, 2 x 0.5) = 1
    c.capacity[:] = 1.0
    set_members(m, {0: [0], 1: [0]})
    return m


def test_learning_members_sum_of_gains(make_model, add_networks, set_members):
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15)
    gain, _ = knowledge.learning(m)
    # gaps: net0 (0.6, 0.1), net1 (0.5, 0.7); r = 0.15 x 1 x (1 - 0) x 1 each, sum r = 0.3 <= 1:
    # gains add up: 0.15 (0.6 + 0.5, 0.1 + 0.7) = (0.165, 0.12); peace x 0.1 -> (0.165, 0.012)
    assert gain[0] == pytest.approx([0.165, 0.012])
    assert m.cities.practice[0] == pytest.approx([0.365, 0.212])
    # non-members learn nothing (no open learning, no innovation)
    assert gain[1:] == pytest.approx(0.0)


def test_learning_across_standards_is_discounted(make_model, add_networks, set_members):
    """A network teaching another standard than the one the city practises on the issue teaches only
    `compatibility` of its gap; a city with no standard yet (-1) learns fully."""
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15,
                        knowledge__compatibility=0.6)
    m.cities.standard[0, 0] = m.networks.standard[0, 0]  # city 0 practises network 0's standard on a
    gain, _ = knowledge.learning(m)
    # a: 0.15 (0.6 + 0.6 x 0.5) = 0.135; peace: no standard yet, full: 0.15 (0.1 + 0.7) x 0.1 = 0.012
    assert gain[0] == pytest.approx([0.135, 0.012])
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15,
                        knowledge__compatibility=1.0)
    m.cities.standard[0, 0] = m.networks.standard[0, 0]
    assert knowledge.learning(m)[0][0] == pytest.approx([0.165, 0.012])  # standards of no consequence


def test_open_learning_across_standards_is_discounted(make_model, add_networks, set_members):
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.0,
                        knowledge__nonmember_learning=0.5, knowledge__compatibility=0.6)
    m.networks.openness[:2] = [1.0, 0.0]                  # only network 0 shares: open pool (0.8, 0.3)
    m.cities.standard[1, 0] = m.networks.standard[1, 0]   # city 1 practises another standard on a
    gain, _ = knowledge.learning(m)
    # city 2 (no standard): 0.5 x (0.8 - 0.2) = 0.3 on a; city 1: 0.6 x 0.3 = 0.18
    assert gain[2, 0] == pytest.approx(0.3)
    assert gain[1, 0] == pytest.approx(0.18)


def test_learning_bounded_by_largest_gap(make_model, add_networks, set_members):
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=1.0)
    m.networks.secretariat[:2] = [1.0, 0.5]
    gain, _ = knowledge.learning(m)
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
    g1 = knowledge.learning(lo)[0][0, 1]
    hi = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15,
                         knowledge__high_politics_competence=0.25)
    g2 = knowledge.learning(hi)[0][0, 1]
    assert g1 == pytest.approx(0.12)
    assert g2 == pytest.approx(0.25 * 0.12)


def test_learning_member_rate_scales_with_secretariat_and_capacity(make_model, add_networks, set_members):
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15)
    m.networks.secretariat[:2] = 0.5
    m.cities.capacity[0] = 0.4
    gain, _ = knowledge.learning(m)
    # r = 0.15 x 0.5 x 0.4 = 0.03; issue a: 0.03 x (0.6 + 0.5) = 0.033
    assert gain[0, 0] == pytest.approx(0.033)


def test_learning_drift_weakens_execution(make_model, add_networks, set_members):
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15)
    m.networks.drift[:2] = [0.5, 0.0]
    gain, _ = knowledge.learning(m)
    # r = (0.15 x (1 - 1.0 x 0.5), 0.15): a: 0.075 x 0.6 + 0.15 x 0.5 = 0.12
    assert gain[0, 0] == pytest.approx(0.12)
    # drift_execution 0: drift no longer weakens execution
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15,
                        knowledge__drift_execution=0.0)
    m.networks.drift[:2] = [0.5, 0.0]
    assert knowledge.learning(m)[0][0, 0] == pytest.approx(0.165)


def test_learning_scales_with_engagement(make_model, add_networks, set_members):
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15)
    m.networks.engagement[:2] = [0.1, 1.0]  # network 0 is a declaration
    gain, network = knowledge.learning(m)
    # r = (0.015, 0.15): a: 0.015 x 0.6 + 0.15 x 0.5 = 0.084
    assert gain[0, 0] == pytest.approx(0.084)
    # all of it came through networks (no innovation, no open learning here)
    assert network[0] == pytest.approx(gain[0])


def test_open_learning_and_innovation(make_model, add_networks, set_members):
    m = make_model(A_PEACE, knowledge__nonmember_learning=0.04, knowledge__innovation=0.01,
                   knowledge__depreciation=0.02, knowledge__high_politics_competence=0.1, knowledge__member_learning=0.0)
    add_networks(m, 1, knowledge=[[0.8, 0.8]], openness=[0.5])
    set_members(m, {0: [9]})  # operating: only networks with members share knowledge
    c = m.cities
    c.practice[:] = 0.2
    c.priority[:] = [0.5, 0.5]
    c.capacity[:] = 0.5
    gain, network = knowledge.learning(m)
    # open: 0.04 x max(0, 0.5 x 0.8 - 0.2) x 1 = 0.008
    # innovation: 0.01 x 0.5 x 1 x (1 - 0.2 - 0.008) = 0.00396
    g = 0.008 + 0.01 * 0.5 * (1 - 0.2 - 0.008)
    assert gain[:, 0] == pytest.approx(g)
    assert gain[:, 1] == pytest.approx(0.1 * g)
    # only the open part came through networks; innovation is the cities' own
    assert network[:, 0] == pytest.approx(0.008)
    assert network[:, 1] == pytest.approx(0.0008)
    # practice after depreciation: (0.2 + g) x 0.98
    assert c.practice[:, 0] == pytest.approx((0.2 + g) * 0.98)
    # every city now practises the network's standard (its only source of learning)
    assert (c.standard[:, 0] == m.networks.standard[0, 0]).all()
    # without members the network shares nothing: only innovation
    set_members(m, {})
    c.practice[:] = 0.2
    gain, network = knowledge.learning(m)
    assert gain[:, 0] == pytest.approx(0.01 * 0.5 * 0.8)
    assert network == pytest.approx(0.0)


def test_cities_practise_the_standard_of_their_largest_source(make_model, add_networks, set_members):
    m = _learning_state(make_model, add_networks, set_members, knowledge__member_learning=0.15)
    c, nets = m.cities, m.networks
    assert (c.standard == -1).all()  # nobody has learned from a network yet: local practice
    knowledge.learning(m)
    # city 0 learns 0.15 x 0.6 on a from network 0 and 0.15 x 0.5 from network 1: network 0's standard;
    # on peace 0.15 x 0.1 against 0.15 x 0.7: network 1's
    assert c.standard[0].tolist() == [nets.standard[0, 0], nets.standard[1, 1]]
    # inertia: network 1 now teaches more on a (0.15 x 0.7 against 0.15 x 0.5), but network 0, whose
    # standard city 0 practises, still gives at least switch_ratio (0.5) of the largest gain: no switch
    c.practice[0] = 0.2
    nets.knowledge[1, 0] = 0.9
    knowledge.learning(m)
    assert c.standard[0, 0] == nets.standard[0, 0]
    # a much larger gain elsewhere makes it switch: 0.15 x 0.05 < 0.5 x 0.15 x 0.7
    c.practice[0] = 0.2
    nets.knowledge[0, 0] = 0.25
    knowledge.learning(m)
    assert c.standard[0, 0] == nets.standard[1, 0]


def test_link_weights_bridges(make_model, add_networks, set_members):
    m = make_model(ABC, spillover__bridge_scale=4.0)
    add_networks(m, 3)
    set_members(m, {0: [0, 1, 2], 1: [1, 2], 2: [3]})
    W = knowledge.link_weights(m)
    # shared members: (0,1) 2 -> 2/4 = 0.5, times horizontal_rate 0.05; with network 2 none; diagonal 0
    assert W == pytest.approx(0.05 * np.array([[0, 0.5, 0], [0.5, 0, 0], [0, 0, 0]]))
    links = np.zeros((3, 3))
    links[0, 2] = links[2, 0] = 0.3  # a platform link with transfer rate 0.3
    m.levers.links = links
    assert knowledge.link_weights(m)[0, 2] == pytest.approx(0.3)


def test_horizontal_flow(make_model, add_networks, set_members):
    m = make_model([{"name": "a"}, {"name": "b"}], spillover__bridge_scale=2.0, spillover__horizontal_rate=0.1,
                   spillover__standard_adoption=0.0)
    add_networks(m, 2, knowledge=[[0.2, 0.6], [0.8, 0.4]])
    set_members(m, {0: [0], 1: [0]})  # one shared member: W = 1/2
    std_before = m.networks.standard[:2].copy()
    knowledge.horizontal(m, 2000)
    # net0 gains 0.1 x 0.5 x (0.8 - 0.2) = 0.03 on a; net1 gains 0.1 x 0.5 x 0.2 = 0.01 on b
    assert m.networks.knowledge[:2] == pytest.approx(np.array([[0.23, 0.6], [0.8, 0.41]]))
    assert (m.networks.standard[:2] == std_before).all()  # adoption probability 0
