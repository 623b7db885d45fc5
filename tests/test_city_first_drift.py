"""C5 City first: how far agendas drift toward partners (networks.partner_pull, partner_focus), and
felt misalignment that responds to partners' weight in governance."""

from __future__ import annotations

import numpy as np
import pytest

from model.agenda import member_mean_priority
from model.loading import load_scenario
from model.model import CityDiplomacyModel

BASE = {"seed": 4, "steps": 25, "cities.n": 300}


def _run(**ov):
    cfg = load_scenario(None, overrides={**BASE, **{k.replace("__", "."): v for k, v in ov.items()}})
    m = CityDiplomacyModel.from_scenario(cfg)
    m.run()
    return m


def _felt_parts(m):
    """Members' felt misalignment (mean over memberships) and the part partners add to it: the felt
    distance to the agenda minus the distance to the agenda the members alone would set."""
    nets, cfg = m.networks, m.cfg.networks
    n = nets.n
    mem = m.memberships.by_city(m.cities.n)
    k, c, P = mem.net, mem.city, m.cities.priority
    onehot = np.eye(m.n_issues)[np.maximum(nets.theme[:n], 0)]
    city_agenda = cfg.mission_weight * onehot + (1 - cfg.mission_weight) * member_mean_priority(m)
    felt = 0.5 * np.abs(nets.agenda[:n][k] - P[c]).sum(1)
    alone = 0.5 * np.abs(city_agenda[k] - P[c]).sum(1)
    return felt.mean(), (felt - alone).mean()


def _member_drift(m):
    n = m.networks.n
    w = m.networks.members[:n] * m.networks.active[:n]
    return float((m.networks.drift[:n] * w).sum() / w.sum())


def test_partner_pull_scales_drift():
    d = {p: _member_drift(_run(networks__partner_pull=p)) for p in (0.0, 1.0, 2.0)}
    # without pull, what remains is the lag of agendas behind members who come and go (adaptation 0.2 a year)
    assert d[0.0] < 0.5 * d[1.0]
    assert d[0.0] < d[1.0] < d[2.0]


def test_focused_partners_pull_agendas_away_from_members():
    """With focused partners' preferences (the default) partners add to the misalignment members feel,
    and city-first takes most of that away; diffuse preferences (partner_focus 4, the old rule) pulled
    agendas toward the typical member instead, which is why felt misalignment did not move."""
    _, part = _felt_parts(_run())
    _, part_cf = _felt_parts(_run(interventions=[{"kind": "city_first", "start": 1980, "params": {"strength": 1.0}}]))
    assert part > 0.003
    assert abs(part_cf) < part / 3
    _, part_diffuse = _felt_parts(_run(networks__partner_focus=4.0))
    assert part_diffuse < part
