"""Phase 3, agenda setting (model/agenda.py): unit tests with hand-computed expectations.

Each test builds a tiny, fully controlled state (see conftest.py: `make_model`, `add_networks`,
`set_members`), overwrites the arrays it needs with small known numbers, calls one function and
compares with numbers computed by hand in the comments.
"""

from __future__ import annotations

import pytest
from conftest import ABC

from model import agenda


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
    m.networks.drift[2] = 0.77
    m.networks.misalignment[2] = 0.66
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
    # drift: TVD to the agenda members alone would set,
    # city_agenda = 0.5 (1,0,0) + 0.5 (0.4,0.4,0.2) = (0.7,0.2,0.1)
    # TVD = 0.5 (|0.6-0.7| + |0.1-0.2| + |0.3-0.1|) = 0.5 x 0.4 = 0.2
    assert m.networks.drift[0] == pytest.approx(0.2)
    # misalignment as members feel it: member 0 (0.6,0.4,0): 0.5 (0 + 0.3 + 0.3) = 0.3;
    # member 1 (0.2,0.4,0.4): 0.5 (0.4 + 0.3 + 0.1) = 0.4; mean 0.35
    assert agenda.felt_misalignment(m)[0] == pytest.approx(0.35)  # recorded in phase 8 (agenda.record_misalignment)


def test_agenda_city_first_halves_partner_weight(make_model, add_networks, set_members):
    m = _agenda_state(make_model, add_networks, set_members, networks__agenda_adaptation=1.0,
                      governance__city_first=0.5)
    assert m.levers.city_first == 0.5
    agenda.agenda_phase(m)
    # w = 0.5 x (1 - 0.5) = 0.25
    # blend  = 0.75 (0.4,0.4,0.2) + 0.25 (0,0,1) = (0.3,0.3,0.4)
    # target = 0.5 (1,0,0) + 0.5 (0.3,0.3,0.4) = (0.65,0.15,0.2)
    assert m.networks.agenda[0] == pytest.approx([0.65, 0.15, 0.2])
    # drift: TVD to (0.7,0.2,0.1) = 0.5 (0.05 + 0.05 + 0.1) = 0.1
    assert m.networks.drift[0] == pytest.approx(0.1)
    # felt: member 0: 0.5 (0.05 + 0.25 + 0.2) = 0.25; member 1: 0.5 (0.45 + 0.25 + 0.2) = 0.45; mean 0.35
    assert agenda.felt_misalignment(m)[0] == pytest.approx(0.35)  # recorded in phase 8 (agenda.record_misalignment)


def test_agenda_full_city_first_no_misalignment(make_model, add_networks, set_members):
    m = _agenda_state(make_model, add_networks, set_members, networks__agenda_adaptation=1.0,
                      governance__city_first=1.0)
    agenda.agenda_phase(m)
    # w = 0: target = city agenda = (0.7,0.2,0.1); no drift
    assert m.networks.agenda[0] == pytest.approx([0.7, 0.2, 0.1])
    assert m.networks.drift[0] == pytest.approx(0.0, abs=1e-12)
    # but members still feel the mission's pull away from their own priorities: removing the
    # partners' weight does not by itself remove misalignment
    # member 0: 0.5 (0.1 + 0.2 + 0.1) = 0.2; member 1: 0.5 (0.5 + 0.2 + 0.3) = 0.5; mean 0.35
    assert agenda.felt_misalignment(m)[0] == pytest.approx(0.35)  # recorded in phase 8 (agenda.record_misalignment)


def test_agenda_partial_adaptation_and_other_networks(make_model, add_networks, set_members):
    # defaults: mission_weight 0.5, agenda_adaptation 0.2
    m = _agenda_state(make_model, add_networks, set_members)
    agenda.agenda_phase(m)
    # network 0: target (0.6,0.1,0.3); agenda = 1/3 + 0.2 (target - 1/3)
    a0 = [1 / 3 + 0.2 * (0.6 - 1 / 3), 1 / 3 + 0.2 * (0.1 - 1 / 3), 1 / 3 + 0.2 * (0.3 - 1 / 3)]
    assert a0 == pytest.approx([0.386667, 0.286667, 0.326667], abs=1e-6)
    assert m.networks.agenda[0] == pytest.approx(a0)
    assert m.networks.agenda[0].sum() == pytest.approx(1.0)
    # drift: TVD to the city agenda (0.7,0.2,0.1): 0.5 (0.313333 + 0.086667 + 0.226667) = 0.313333
    assert m.networks.drift[0] == pytest.approx(0.5 * (abs(a0[0] - 0.7) + abs(a0[1] - 0.2) + abs(a0[2] - 0.1)))
    assert m.networks.drift[0] == pytest.approx(0.313333, abs=1e-6)
    # felt: member 0 (0.6,0.4,0): 0.5 (0.213333 + 0.113333 + 0.326667) = 0.326667;
    # member 1 (0.2,0.4,0.4): 0.5 (0.186667 + 0.113333 + 0.073333) = 0.186667; mean 0.256667
    assert agenda.felt_misalignment(m)[0] == pytest.approx(0.256667, abs=1e-6)
    # network 1 (theme b, no members, no partners): mean = own agenda (0.2,0.6,0.2)
    # target = 0.5 (0,1,0) + 0.5 (0.2,0.6,0.2) = (0.1,0.8,0.1); agenda = (0.2,0.6,0.2) + 0.2 (-0.1,0.2,-0.1)
    assert m.networks.agenda[1] == pytest.approx([0.18, 0.64, 0.18])
    # no members: nothing to drift from -> drift 0 (not the TVD 0.16 to its own old agenda), no one feels it
    assert m.networks.drift[1] == 0.0
    assert agenda.felt_misalignment(m)[1] == 0.0
    # network 2 is inactive: agenda and drift untouched (misalignment is recorded in phase 8, agenda.record_misalignment)
    assert m.networks.agenda[2] == pytest.approx([0.1, 0.1, 0.8])
    assert m.networks.drift[2] == pytest.approx(0.77)
    assert m.networks.misalignment[2] == pytest.approx(0.66)
