"""International capacity (model/capacity.py, docs/ODD.md 7.0): hand-computed probabilities, capacity
growing with size, wealth and experience, capacity lost, and what a city without capacity may hold."""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model import CityDiplomacyModel, capacity, load_scenario, membership
from model.config import CapacityConfig

BASELINE = REPO / "scenarios" / "baseline.yaml"


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_capacity_probability_by_hand():
    cfg = CapacityConfig(pop_half=200_000, size_slope=1.0, wealth_ref=2500, wealth_slope=0.5, experience_weight=1.0)
    p = capacity.capacity_probability
    assert p(200_000, 2500, 0, cfg) == pytest.approx(0.5)
    # a city e times larger: log-odds +1 (size_slope 1)
    assert p(200_000 * math.e, 2500, 0, cfg) == pytest.approx(sig(1.0))  # 0.7311
    # a town of 20,000: log-odds ln(0.1) = -2.3026, probability 0.0909
    assert p(20_000, 2500, 0, cfg) == pytest.approx(1 / 11)
    # 2,500 / e^2 USD per resident: log-odds 0.5 x -2 = -1
    assert p(200_000, 2500 * math.exp(-2), 0, cfg) == pytest.approx(sig(-1.0))  # 0.2689
    # full experience: +1
    assert p(20_000, 2500, 1.0, cfg) == pytest.approx(sig(math.log(0.1) + 1))  # 0.2137
    sizes = np.array([15e3, 50e3, 1e5, 3e5, 1e6, 1e7])
    assert np.all(np.diff(p(sizes, 2500, 0, cfg)) > 0), "capacity grows with size"


def test_capacity_grows_with_size_in_a_world():
    """At construction, the share of cities with capacity in each size class is the class's mean
    probability (each city draws u ~ U(0,1) once), within three binomial standard errors; and it rises
    from class to class."""
    m = CityDiplomacyModel.from_scenario(load_scenario(BASELINE, overrides={"cities.n": 20_000, "steps": 1}))
    c, cfg = m.cities, m.cfg.capacity
    p = capacity.capacity_probability(c.population, capacity.wealth(c), 0.0, cfg)
    edges = [15e3, 50e3, 200e3, 1e6, 1e9]
    shares = []
    for lo, hi in itertools.pairwise(edges):
        s = (c.population >= lo) & (c.population < hi)
        assert s.sum() > 100
        want = p[s].mean()
        got = c.office[s].mean()
        se = math.sqrt(want * (1 - want) / s.sum())
        assert abs(got - want) <= 3 * se + 1e-9, (lo, got, want)
        shares.append(got)
    assert shares == sorted(shares) and shares[-1] > 3 * shares[0]


def test_a_town_without_capacity_joins_no_programme_network():
    """Over a run, after every step no city without capacity holds a membership whose engagement exceeds
    its own cheap slot cities.slot (a declaration); and a city that loses its capacity drops its programme
    networks in that year's review."""
    m = CityDiplomacyModel.from_scenario(load_scenario(BASELINE, overrides={"steps": 20}))
    slot = m.cities.slot
    seen_without = 0
    while m.running:
        m.step()
        mem = m.memberships
        no_cap = ~m.cities.office[mem.city]
        seen_without += int(no_cap.sum())
        assert (m.networks.engagement[mem.net[no_cap]] <= slot[mem.city[no_cap]] + 1e-9).all(), m.year
    assert seen_without > 0, "some cities without capacity hold a declaration: the test tests something"
    # take the capacity of the ten cities with the most engagement: they must shed all but a declaration
    held = membership.held_engagement(m)
    top = np.argsort(-held)[:10]
    assert (held[top] > 1).all()
    m.cities.office[top] = False
    membership.membership_phase(m, m.year + 1)
    after = membership.held_engagement(m)
    assert (after[top] <= slot[top] + 1e-9).all()


def test_capacity_is_lost_and_regained_by_hand():
    m = CityDiplomacyModel.from_scenario(load_scenario(BASELINE, overrides={"steps": 1}))
    c, cfg = m.cities, m.cfg.capacity
    i = int(np.argmin(np.abs(c.population - 200_000)))
    c.population[i] = 200_000.0
    c.city_budget[i] = 200_000.0 * 2500.0
    c.budget[i] = c.base_budget[i]
    m.memberships.keep(m.memberships.city != i)  # it holds nothing: experience decays toward 0
    c.experience[i] = 0.0
    # score 0 (sigmoid 0.5); with hysteresis 0.5 a city keeps capacity while u < sigmoid(0.5) = 0.6225
    c.office_u[i], c.office[i] = 0.6, True
    capacity.update_capacity(m)
    assert c.office[i], "kept: 0.6 < sigmoid(0 + 0.5)"
    c.office_u[i] = 0.63
    capacity.update_capacity(m)
    assert not c.office[i], "lost: 0.63 >= sigmoid(0.5)"
    capacity.update_capacity(m)
    assert not c.office[i], "not regained: 0.63 >= sigmoid(0) = 0.5"
    c.office_u[i] = 0.49
    capacity.update_capacity(m)
    assert c.office[i], "regained: 0.49 < 0.5"
    # a budget cut of 1 - e^-2 lowers the log-odds by wealth_slope x 2 = 1: 0.49 >= sigmoid(-1 + 0.5) = 0.3775
    c.budget[i] = c.base_budget[i] * math.exp(-2)
    capacity.update_capacity(m)
    assert not c.office[i], "lost after the cut"
    assert cfg.wealth_slope == 0.5 and cfg.hysteresis == 0.5 and cfg.size_slope == 1.0 and cfg.pop_half == 200_000


def test_experience_follows_engagement_by_hand():
    m = CityDiplomacyModel.from_scenario(load_scenario(BASELINE, overrides={"steps": 1}))
    c = m.cities
    held = membership.held_engagement(m)
    e0 = c.experience.copy()
    capacity.update_capacity(m)
    want = e0 + 0.2 * (np.minimum(1.0, held) - e0)
    assert np.allclose(c.experience, want)


def test_reach_by_hand():
    """Without capacity the review rate is multiplied by min(1, reach_base + reach_peers x the share of
    the country's cities holding a membership); with capacity by 1."""
    m = CityDiplomacyModel.from_scenario(load_scenario(BASELINE, overrides={"steps": 1, "capacity.reach_base": 0.1,
                                                               "capacity.reach_peers": 2.0}))
    c = m.cities
    r = capacity.reach(m)
    per = np.bincount(m.memberships.city, minlength=c.n) > 0
    for country in np.unique(c.country)[:10]:
        s = c.country == country
        share = per[s].mean()
        want = min(1.0, 0.1 + 2.0 * share)
        assert np.allclose(r[s & ~c.office], want)
        assert np.allclose(r[s & c.office], 1.0)


def test_switched_off_every_city_has_capacity():
    m = CityDiplomacyModel.from_scenario(load_scenario(BASELINE, overrides={"steps": 2, "capacity.enabled": False}))
    assert m.cities.office.all()
    m.run()
    assert m.cities.office.all()
    assert np.array_equal(capacity.effective_attention(m), m.cities.attention)


def test_capacity_switch_does_not_move_other_streams():
    """The capacity threshold has its own stream: switching the mechanism off leaves the world drawn at
    construction (cities, funders) the same."""
    a = CityDiplomacyModel.from_scenario(load_scenario(BASELINE, overrides={"steps": 1}))
    b = CityDiplomacyModel.from_scenario(load_scenario(BASELINE, overrides={"steps": 1, "capacity.enabled": False}))
    assert np.array_equal(a.cities.priority, b.cities.priority)
    assert np.array_equal(a.funders.weight, b.funders.weight)
    assert np.array_equal(a.cities.attention, b.cities.attention)
