"""secretariat_exchange (C4): methods (efficiency toward the best) and staff (a weak secretariat paired with a
strong one closes `rate` of the gap to its capacity while the exchange runs), at a staff cost; hand-computed
expectations, and the mechanism off (rate 0: nothing but the cost)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ABC, scenario

from model import resources
from model.config import InterventionConfig
from model.interventions import pair_by_capacity, validate_intervention
from model.model import CityDiplomacyModel
from model.resources import secretariat_lift

Y = 2000


def _iv(model, **params):
    return validate_intervention(InterventionConfig(kind="secretariat_exchange", start=Y, params=params), model.cfg,
                                 "interventions.0")


def test_pairs_strongest_with_weakest():
    cap = np.array([0.5, 0.9, 0.1, 0.3, 0.7, 0.0])
    donors, recipients = pair_by_capacity(np.array([0, 1, 2, 3, 4]), cap)  # network 5 takes no part
    # order by capacity: 1 (0.9), 4 (0.7), 0 (0.5), 3 (0.3), 2 (0.1): 1 with 2, 4 with 3, 0 unpaired
    assert donors.tolist() == [1, 4]
    assert recipients.tolist() == [2, 3]


def test_pairs_ties_by_index():
    donors, recipients = pair_by_capacity(np.array([0, 1, 2, 3]), np.array([0.4, 0.4, 0.4, 0.4]))
    assert donors.tolist() == [0, 1] and recipients.tolist() == [3, 2]


def test_lift_closes_the_rate_of_the_gap_to_the_donor():
    S = np.array([0.2, 0.6, 0.4, 0.9, 0.8])
    partner = np.array([1, -1, 3, -1, 1])
    op = np.array([True, True, True, False, True])
    out = secretariat_lift(S, partner, op, 0.5)
    # 0 <- donor 1: 0.2 + 0.5 (0.6 - 0.2) = 0.4; 2's donor 3 does not operate: no lift;
    # 4 is above its donor: no loss (max(0, .)); donors keep their own capacity
    assert out == pytest.approx([0.4, 0.6, 0.4, 0.9, 0.8])
    assert S.tolist() == [0.2, 0.6, 0.4, 0.9, 0.8]  # a new array
    assert secretariat_lift(S, partner, op, 0.0) == pytest.approx(S)


def test_step_sets_methods_partners_and_cost(make_model, add_networks, set_members):
    m = make_model(ABC)
    add_networks(m, 5, efficiency=[0.4, 0.6, 0.8, 0.9, 0.5], secretariat=[0.1, 0.7, 0.3, 0.95, 0.5])
    set_members(m, {0: [0], 1: [1], 2: [2], 3: [3], 4: [4]})
    m.networks.active[3] = False  # inactive: neither the best nor paired nor charged
    m.levers.reset_costs(5)
    _iv(m, rate=0.5, staff_cost=0.02).update(m, Y)
    # methods: best operating efficiency 0.8, eff += 0.5 (0.8 - eff)
    assert m.networks.efficiency[:5] == pytest.approx([0.6, 0.7, 0.8, 0.9, 0.65])
    # staff: by last year's capacity 1 (0.7), 4 (0.5), 2 (0.3), 0 (0.1): 1 with 0, 4 with 2
    assert m.levers.partners(6).tolist() == [1, -1, 4, -1, -1, -1]
    assert m.levers.exchange_transfer == 0.5
    assert m.levers.coordination[:5] == pytest.approx([0.02, 0.02, 0.02, 0.0, 0.02])


def test_phase_4_lifts_recipients_by_hand(make_model, add_networks, set_members):
    """Phase 4 with the exchange: a recipient's capacity is what its money buys plus rate x the gap to its
    donor's; donors and unpaired networks keep what their money buys; the cost is the same with or without
    the transfer."""
    def phase4(transfer):
        m = make_model(ABC)
        add_networks(m, 3, efficiency=[0.5, 0.5, 0.5], fee=[2.0, 0.2, 1.0])  # income: the fees (one member each)
        set_members(m, {0: [0], 1: [1], 2: [2]})
        m.levers.reset_costs(3)
        iv = _iv(m, rate=0.4, staff_cost=0.02)
        iv.update(m, Y)
        m.levers.exchange_transfer = transfer  # 0: the cost alone
        resources.resources_phase(m)
        return m

    off, on = phase4(0.0), phase4(0.4)
    cfg = off.cfg.resources
    funds = off.networks.funds[:3]
    money = 1 - np.exp(-cfg.overhead * funds * (1 - 0.02) / cfg.secretariat_scale)
    assert off.networks.secretariat[:3] == pytest.approx(money)
    # initial capacity 0.2 for all: ties by index, 0 donates to 2; network 1 unpaired
    assert on.levers.partners(3).tolist() == [-1, -1, 0]
    want = money.copy()
    want[2] += 0.4 * (money[0] - money[2])
    assert on.networks.secretariat[:3] == pytest.approx(want)
    assert on.networks.funds[:3] == pytest.approx(funds)


def _run(interventions, steps=8, **ov):
    o = {"start_year": Y, "steps": steps, "interventions": interventions}
    o.update(ov)
    m = CityDiplomacyModel.from_scenario(scenario(o))
    m.run()
    return m


def test_mechanism_off_without_cost_is_no_intervention():
    """rate 0 and no staff cost: the run is the run without the exchange (nothing else moves)."""
    a = _run([]).timeseries()
    b = _run([{"kind": "secretariat_exchange", "start": Y, "params": {"rate": 0.0, "staff_cost": 0.0}}]).timeseries()
    assert a.equals(b)


def test_mechanism_off_keeps_only_the_cost():
    """rate 0: efficiency only rises by competition, capacity is what working money buys (no lift), and the
    exchange still pays its staff time."""
    m = _run([{"kind": "secretariat_exchange", "start": Y, "params": {"rate": 0.0, "staff_cost": 0.05}}])
    nets, cfg = m.networks, m.cfg.resources
    # the networks phase 4 saw (one founded later in the year has no coordination cost yet)
    n = len(m.levers.coordination)
    op = nets.operating()[:n]
    assert m.levers.exchange_transfer == 0.0
    assert m.levers.coordination[:n][op] == pytest.approx(0.05)
    money = 1 - np.exp(-cfg.overhead * nets.funds[:n] * (1 - 0.05) / cfg.secretariat_scale)
    assert nets.secretariat[:n][op] == pytest.approx(money[op])


def test_exchange_raises_weak_secretariats_in_a_run():
    """With the exchange, the weakest operating secretariats are stronger than their money alone buys."""
    m = _run([{"kind": "secretariat_exchange", "start": Y, "params": {"rate": 0.5, "staff_cost": 0.0}}])
    nets, cfg = m.networks, m.cfg.resources
    n = nets.n
    op = nets.operating()
    money = 1 - np.exp(-cfg.overhead * nets.funds[:n] / cfg.secretariat_scale)
    lifted = nets.secretariat[:n] - money
    assert (lifted[op] >= -1e-12).all()
    assert (lifted[op] > 1e-6).sum() >= 2
    assert (lifted[m.levers.partners(n) < 0] == pytest.approx(0.0))


def test_finish_clears_the_pairs(make_model, add_networks, set_members):
    m = make_model(ABC)
    add_networks(m, 2, secretariat=[0.1, 0.9])
    set_members(m, {0: [0], 1: [1]})
    m.levers.reset_costs(2)
    iv = validate_intervention(InterventionConfig(kind="secretariat_exchange", start=Y, end=Y), m.cfg, "interventions.0")
    iv.update(m, Y)
    assert m.levers.partners(2).tolist() == [1, -1]
    iv.update(m, Y + 1)
    assert m.levers.partners(2).tolist() == [-1, -1] and m.levers.exchange_transfer == 0.0
