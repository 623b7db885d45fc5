"""Phase 7, spillover from the middle (model/spillover.py): unit tests with hand-computed expectations.

Each test builds a tiny, fully controlled state (see conftest.py: `make_model`, `add_networks`,
`set_members`), overwrites the arrays it needs with small known numbers, calls one function and
compares with numbers computed by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import A_PEACE

from model import spillover


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
                     spillover__norm_decay=0.01, spillover__priority_feedback=1.0)
    assert [i.cobenefit for i in m.cfg.issues] == [0.5, 0.5]  # the default weight of each issue
    E = np.zeros((m.cities.n, 2))
    E[0] = [0.5, 0.0]
    spillover.down(m, E)
    c = m.cities
    # city 0, issue a: 0.2 + 0.05 x 0.5 x 0.8 = 0.22; decay: 0.22 + 0.01 (0.3 - 0.22) = 0.2208
    # city 0, peace: co-benefit 0.02 x min(1, 0.5 x 0.5 + 0.5 x 0) x 0.6 = 0.003 -> 0.403;
    #   decay -> 0.403 + 0.01 (0.3 - 0.403) = 0.40197
    assert c.norm[0] == pytest.approx([0.2208, 0.40197])
    # cities 1 and 2 (no engagement; memberships alone build nothing): only decay
    assert c.norm[1] == pytest.approx([0.201, 0.399])
    assert c.norm[2] == pytest.approx([0.201, 0.399])
    # priorities respond to the change of norms: P x (1 + 1.0 x change), renormalised
    f0 = np.array([0.6 * (1 + 0.0208), 0.4 * (1 + 0.00197)])
    assert c.priority[0] == pytest.approx(f0 / f0.sum())
    f1 = np.array([0.6 * (1 + 0.001), 0.4 * (1 - 0.001)])
    assert c.priority[1] == pytest.approx(f1 / f1.sum())
    assert c.priority.sum(axis=1) == pytest.approx(1.0)


def test_cobenefit_depends_on_the_kind_of_cooperation(make_model, add_networks, set_members):
    issues = [{"name": "culture", "cobenefit": 1.0}, {"name": "tech", "cobenefit": 0.0},
              {"name": "peace", "politics": "high", "cobenefit": 1.0}]
    m = make_model(issues, spillover__down_rate=0.0, spillover__cobenefit=0.1, spillover__norm_decay=0.0)
    m.cities.norm[:] = 0.5
    E = np.zeros((m.cities.n, 3))
    E[0] = [0.6, 0.0, 0.0]  # cultural cooperation
    E[1] = [0.0, 0.6, 0.0]  # technical cooperation
    spillover.down(m, E)
    # city 0: 0.5 + 0.1 x min(1, 1.0 x 0.6) x 0.5 = 0.53; city 1: nothing
    assert m.cities.norm[0, 2] == pytest.approx(0.53)
    assert m.cities.norm[1, 2] == pytest.approx(0.5)


def test_priorities_follow_changes_not_levels(make_model, add_networks, set_members):
    """Unequal norms that do not change leave priorities as they are (the old pull toward norm levels
    made priorities flatten toward uniform)."""
    m = _spill_state(make_model, add_networks, set_members, spillover__down_rate=0.0, spillover__cobenefit=0.0,
                     spillover__norm_decay=0.0, spillover__priority_feedback=1.0)
    before = m.cities.priority.copy()
    spillover.down(m, np.zeros((m.cities.n, 2)))
    assert m.cities.priority == pytest.approx(before)


def _up_state(make_model, add_networks, set_members):
    """Country 0 has cities 0 (pop 1e6) and 1 (pop 3e6); every other city is in country 1."""
    m = make_model(A_PEACE, spillover__up_rate=0.08, spillover__up_threshold_practice=0.35,
                   spillover__up_threshold_norm=0.35, spillover__high_politics_resistance=0.0, spillover__advocacy=0.2,
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


def test_spillover_up_sovereignty_backlash_on_high_politics(make_model, add_networks, set_members):
    """Cities' activism on high politics provokes the centre: stance_sh -= backlash x voice_sh x stance_sh,
    on high-politics issues only."""
    m = _up_state(make_model, add_networks, set_members)
    m.cfg.spillover.backlash = 0.05
    E = np.zeros((m.cities.n, 2))
    E[0] = [1.0, 1.0]                # voice a = voice peace = 1e6 / 4e6 = 0.25
    spillover.up(m, E)
    s = m.countries.stance[0]
    # a (low politics): signal 0.55 > 0.35, the rise as without backlash
    assert s[0] == pytest.approx(0.3 + 0.08 * 0.2 / 0.65 * 0.7)
    # peace: signal 0.175 + 0.2 x 0.25 = 0.225 < 0.35: fall 0.03 x 0.4 x 0.125/0.35, and backlash
    # 0.05 x 0.25 x 0.4 = 0.005
    assert s[1] == pytest.approx(0.4 - 0.03 * 0.4 * 0.125 / 0.35 - 0.005)
    m2 = _up_state(make_model, add_networks, set_members)
    m2.cfg.spillover.backlash = 0.0
    spillover.up(m2, E)
    assert m2.countries.stance[0, 1] == pytest.approx(0.4 - 0.03 * 0.4 * 0.125 / 0.35)


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
    m = _spill_state(make_model, add_networks, set_members, spillover__down=False, spillover__up=False,
                     spillover__norm_event_world=0.0, spillover__norm_event_national=0.0)  # norms' own events: test_norm_events.py
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


def test_norm_and_practice_thresholds_and_resistance(make_model, add_networks, set_members):
    m = _up_state(make_model, add_networks, set_members)
    m.cfg.spillover.up_threshold_norm = 0.1
    m.cfg.spillover.high_politics_resistance = 0.75
    E = np.zeros((m.cities.n, 2))
    spillover.up(m, E)
    s = m.countries.stance[0]
    # a (practice threshold 0.35): signal 0.5: rise 0.08 x 0.15/0.65 x 0.7
    assert s[0] == pytest.approx(0.3 + 0.08 * 0.15 / 0.65 * 0.7)
    # peace (norm threshold 0.1): signal 0.175 > 0.1, but governments resist: rise x (1 - 0.75)
    assert s[1] == pytest.approx(0.4 + 0.08 * 0.25 * 0.075 / 0.9 * 0.6)
